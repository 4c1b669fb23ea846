package suites

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/faults"
)

// Faults of a cluster that is not a kind cluster are known by the context
// that reached it: recovering another cluster leaves them alone, a context
// that cannot be reached keeps them journaled, and they are never
// discarded as a deleted kind cluster's would be.
func TestRecoverScopesNonKindFaultsByContext(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: prod
  context: {cluster: prod, user: u}
users:
- name: u
  user: {token: x}
current-context: prod
`), 0o600); err != nil {
		t.Fatal(err)
	}
	j := faults.Journal{Dir: t.TempDir()}
	add := func(id, kind, cluster, kctx string) {
		t.Helper()
		if err := j.Add(faults.Entry{ID: id, Kind: kind, Description: kind, Cluster: cluster, Context: kctx, Created: time.Now(), State: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	add("r1-aaaa-drain-1", "drain", "", "prod")
	add("r0-bbbb-pod-kill-1", "pod-kill", "", "")
	ids := func() []string {
		es, err := j.Entries()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	var out strings.Builder
	// recovering the kind cluster "chaosgate" touches neither
	if n, err := Recover(context.Background(), RecoverOptions{Journal: j, Cluster: "chaosgate", Kubeconfig: kubeconfig, Out: &out}); n != 0 || err != nil {
		t.Fatalf("recover --name chaosgate: %d, %v", n, err)
	}
	// a context no entry names: nothing to do
	if _, err := Recover(context.Background(), RecoverOptions{Journal: j, Context: "staging", Kubeconfig: kubeconfig, Out: &out}); err != nil {
		t.Fatalf("no entry of context staging, nothing to do: %v", err)
	}
	// entries of a context the kubeconfig does not have: kept, with an error
	add("r2-cccc-drain-1", "drain", "", "staging")
	if _, err := Recover(context.Background(), RecoverOptions{Journal: j, Context: "staging", Kubeconfig: kubeconfig, Out: &out}); err == nil || !strings.Contains(err.Error(), "stay journaled") {
		t.Fatalf("missing context: %v", err)
	}
	// a context that now points at another API server: nothing reverted
	if err := j.Add(faults.Entry{ID: "r3-dddd-drain-1", Kind: "drain", Context: "prod", Server: "https://10.0.0.1:6443", Created: time.Now(), State: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(context.Background(), RecoverOptions{Journal: j, Context: "prod", Kubeconfig: kubeconfig, Out: &out}); err == nil || !strings.Contains(err.Error(), "now reaches https://127.0.0.1:1") {
		t.Fatalf("moved context: %v", err)
	}
	if err := j.Remove("r3-dddd-drain-1"); err != nil {
		t.Fatal(err)
	}
	// prod is unreachable: its drain stays journaled
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := Recover(ctx, RecoverOptions{Journal: j, Context: "prod", Kubeconfig: kubeconfig, Out: &out}); err == nil || !strings.Contains(err.Error(), "context prod") {
		t.Fatalf("unreachable context: %v", err)
	}
	// an entry that names no cluster and no context cannot be placed
	if _, err := Recover(ctx, RecoverOptions{Journal: j, All: true, Kubeconfig: kubeconfig, Out: &out}); err == nil || !strings.Contains(err.Error(), "neither a cluster nor a context") {
		t.Fatalf("unplaceable entry: %v", err)
	}
	if got := ids(); len(got) != 3 {
		t.Fatalf("entries of other clusters were dropped: %v (output %s)", got, out.String())
	}
}
