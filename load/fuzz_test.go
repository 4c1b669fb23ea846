package load

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzAppendLine: every recorded line is one valid JSON object that keeps
// the error message, whatever bytes it holds, and ParseResult reads it back.
func FuzzAppendLine(f *testing.F) {
	f.Add(uint64(1), int64(1500), uint16(200), "")
	f.Add(uint64(2), int64(-5), uint16(0), "dial tcp 127.0.0.1:30080: connect: connection refused")
	f.Add(uint64(3), int64(2e9), uint16(503), "\"quoted\"\n\x00\xff")
	f.Fuzz(func(t *testing.T, seq uint64, latUS int64, code uint16, msg string) {
		line := appendLine(nil, Result{Seq: seq, Start: t0, Latency: time.Duration(latUS) * time.Microsecond, Code: code, Error: msg})
		if line[len(line)-1] != '\n' {
			t.Fatal("line not terminated")
		}
		var got struct {
			Seq   uint64 `json:"seq"`
			Code  uint16 `json:"code"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", line, err)
		}
		if got.Seq != seq || got.Code != code {
			t.Fatalf("round trip %+v", got)
		}
		if msg != "" && got.Error == "" {
			t.Fatal("error message lost")
		}
		// what a load agent streams is read back exactly (latency in whole
		// microseconds, never negative)
		back, err := ParseResult(line)
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		wantLat := max(time.Duration(latUS)*time.Microsecond, 0).Truncate(time.Microsecond)
		if back.Seq != seq || back.Code != code || !back.Start.Equal(t0) || back.Latency != wantLat || (msg != "") != (back.Error != "") {
			t.Fatalf("round trip %+v from %q", back, line)
		}
	})
}
