package workload

import (
	"strings"
	"testing"
)

// FuzzParseManifests: any file content yields objects or a positioned
// error, never a panic.
func FuzzParseManifests(f *testing.F) {
	f.Add([]byte(dep + "---\n" + svc))
	f.Add([]byte("---\n---\n# only comments\n"))
	f.Add([]byte("kind: [\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nmetadata: {name: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := parseManifests("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		for _, o := range objs {
			if o.GetKind() == "" || o.GetName() == "" || o.GetAPIVersion() == "" {
				t.Fatalf("incomplete object accepted: %v", o.Object)
			}
		}
	})
}
