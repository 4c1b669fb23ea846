package capfilter

import (
	"encoding/json"
	"testing"
)

// FuzzFilterProcess: whatever the spec, filtering never panics, its output
// is JSON without any capability the host lacks, and a second pass changes
// nothing.
func FuzzFilterProcess(f *testing.F) {
	f.Add([]byte(`{"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"],"ambient":[]}}`))
	f.Add([]byte(`{"capabilities":null}`))
	f.Add([]byte(`{"args":["sh"]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, changed, err := FilterProcess(in, sandboxCapBnd)
		if err != nil {
			return
		}
		if !changed {
			return
		}
		var p struct {
			Capabilities map[string][]string `json:"capabilities"`
		}
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatalf("output is not JSON: %v: %s", err, out)
		}
		for kind, l := range p.Capabilities {
			for _, c := range l {
				if c == "CAP_SYS_RESOURCE" {
					t.Fatalf("%s still holds CAP_SYS_RESOURCE", kind)
				}
			}
		}
		if _, again, err := FilterProcess(out, sandboxCapBnd); err != nil || again {
			t.Fatalf("second pass changed=%v err=%v", again, err)
		}
	})
}
