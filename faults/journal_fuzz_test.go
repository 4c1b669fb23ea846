package faults

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzJournalEntries: whatever a journal file holds (corrupt, truncated,
// from another version), Entries returns it as an entry or names it in an
// error; no file is ever silently dropped, since a fault we cannot read is
// one we cannot undo.
func FuzzJournalEntries(f *testing.F) {
	good, _ := json.Marshal(Entry{ID: "r-node-shutdown-1", Kind: "node-shutdown", Cluster: "c", Created: time.Unix(0, 0).UTC(), State: json.RawMessage(`{"node":"w1"}`)})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(""))
	f.Add([]byte("null"))
	f.Add([]byte(`{"id": 5}`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		j := Journal{Dir: t.TempDir()}
		if err := os.WriteFile(filepath.Join(j.Dir, "x.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		entries, err := j.Entries()
		if len(entries)+errCount(err) != 1 {
			t.Fatalf("one file gave %d entries and error %v", len(entries), err)
		}
		for _, e := range entries {
			if e.ID == "" || e.Kind == "" {
				t.Fatalf("an entry without id or kind was accepted: %+v", e)
			}
		}
	})
}

func errCount(err error) int {
	if err == nil {
		return 0
	}
	return 1
}
