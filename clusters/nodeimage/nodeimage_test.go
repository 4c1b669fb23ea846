package nodeimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestKeyOf(t *testing.T) {
	a := KeyOf("k8s", map[string]string{"version": "v1.34.4", "go": "go1.26.8"})
	b := KeyOf("k8s", map[string]string{"go": "go1.26.8", "version": "v1.34.4"})
	if a != b {
		t.Fatal("key depends on map order")
	}
	for name, other := range map[string]Key{
		"stage":   KeyOf("etcd", map[string]string{"version": "v1.34.4", "go": "go1.26.8"}),
		"version": KeyOf("k8s", map[string]string{"version": "v1.34.5", "go": "go1.26.8"}),
		"go":      KeyOf("k8s", map[string]string{"version": "v1.34.4", "go": "go1.26.9"}),
		// values are length-prefixed: moving a boundary changes the key
		"boundary": KeyOf("k8s", map[string]string{"version": "v1.34.4\ngo=go1.26.8"}),
	} {
		if other == a {
			t.Errorf("changing %s did not change the key", name)
		}
	}
	if len(a) != 64 || len(a.Short()) != 12 {
		t.Fatalf("key %q", a)
	}
}

func TestHashFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("one"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b"), []byte("two"), 0o755)
	h1, err := HashFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "sub", "b"), 0o644) // mode is an input: scripts must stay executable
	h2, _ := HashFiles(dir)
	os.WriteFile(filepath.Join(dir, "a"), []byte("uno"), 0o644)
	h3, _ := HashFiles(dir)
	if h1 == h2 || h2 == h3 {
		t.Fatalf("hash did not follow changes: %s %s %s", h1, h2, h3)
	}
	if _, err := HashFiles(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing path must fail")
	}
}

func TestLocalReplacesAndWrapper(t *testing.T) {
	gomod := []byte(`module go.etcd.io/etcd/server/v3

go 1.24

require go.etcd.io/etcd/api/v3 v3.6.5

replace (
	go.etcd.io/etcd/api/v3 => ../api
	go.etcd.io/etcd/client/v3 => ../client/v3
	k8s.io/api => ./staging/src/k8s.io/api
	github.com/x/y => github.com/x/y v1.2.3
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
replace go.etcd.io/tests/v3 => ./FORBIDDEN_DEPENDENCY
`)
	got, err := localReplaces(gomod, "v3.6.5")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "go.etcd.io/etcd/api/v3,go.etcd.io/etcd/client/v3" {
		t.Fatalf("replaces = %v", got)
	}
	// k8s staging modules are v0: they pair with a v0 version
	got, _ = localReplaces(gomod, "v0.34.4")
	if strings.Join(got, ",") != "k8s.io/api" {
		t.Fatalf("v0 replaces = %v", got)
	}
	w, err := wrapperGoMod("k8s.io/kubernetes", "v1.34.4", []string{"k8s.io/api", "k8s.io/client-go"}, "v0.34.4")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"module chaosgate.local/build/kubernetes", "require k8s.io/kubernetes v1.34.4", "replace k8s.io/api => k8s.io/api v0.34.4", "replace k8s.io/client-go => k8s.io/client-go v0.34.4"} {
		if !strings.Contains(string(w), want) {
			t.Errorf("wrapper go.mod lacks %q:\n%s", want, w)
		}
	}
}

func TestKubeVersionLDFlags(t *testing.T) {
	ld, err := kubeVersionLDFlags("v1.34.4")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"k8s.io/component-base/version.gitVersion=v1.34.4", "k8s.io/component-base/version.gitMinor=34", "k8s.io/client-go/pkg/version.gitMajor=1", "gitTreeState=clean"} {
		if !strings.Contains(ld, want) {
			t.Errorf("ldflags lack %q", want)
		}
	}
	for _, bad := range []string{"1.34.4", "v1.34", "v1.x.4", "v1.34.4-rc.1"} {
		if _, err := kubeVersionLDFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMirrorFromSources(t *testing.T) {
	deb822 := `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
`
	if got := mirrorFromSources(deb822); got != "http://deb.debian.org/debian" {
		t.Fatalf("deb822: %q", got)
	}
	oneLine := "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\ndeb http://mirror.example/debian bookworm main\n"
	if got := mirrorFromSources(oneLine); got != "http://mirror.example/debian" {
		t.Fatalf("one-line: %q", got)
	}
	if got := mirrorFromSources("deb https://deb.nodesource.com/node_20.x nodistro main\n"); got != "" {
		t.Fatalf("foreign repo picked: %q", got)
	}
}

func TestRenderMetricsServer(t *testing.T) {
	docs := [][]byte{
		[]byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: metrics-server\n  namespace: kube-system\nspec:\n  ports: [{port: 443}]\n"),
		[]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: metrics-server\nspec:\n  template:\n    spec:\n      containers:\n      - name: metrics-server\n        image: gcr.io/x:master\n        args: [--cert-dir=/tmp, --metric-resolution=60s]\n        readinessProbe: {httpGet: {path: /readyz, port: https}, periodSeconds: 10}\n"),
		[]byte("\n"),
	}
	out, err := RenderMetricsServer(docs, "chaosgate.local/metrics-server:v0.9.0")
	if err != nil {
		t.Fatal(err)
	}
	var dep map[string]any
	parts := splitYAML(out)
	if len(parts) != 3 { // leading empty doc, service, deployment
		t.Fatalf("%d docs:\n%s", len(parts), out)
	}
	if err := yaml.Unmarshal(parts[2], &dep); err != nil {
		t.Fatal(err)
	}
	c := getPath(dep, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	args := c["args"].([]any)
	if c["image"] != "chaosgate.local/metrics-server:v0.9.0" || c["imagePullPolicy"] != "IfNotPresent" {
		t.Fatalf("container %v", c)
	}
	joined := ""
	for _, a := range args {
		joined += a.(string) + " "
	}
	if !strings.Contains(joined, "--kubelet-insecure-tls") || !strings.Contains(joined, "--metric-resolution=15s") || strings.Contains(joined, "60s") {
		t.Fatalf("args %v", args)
	}
	if fmt.Sprint(getPath(c, "readinessProbe", "timeoutSeconds")) != "5" {
		t.Fatalf("readiness probe %v: want a 5s timeout", c["readinessProbe"])
	}
	if fmt.Sprint(getPath(c, "readinessProbe", "periodSeconds")) != "2" || getPath(c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Fatalf("readiness probe %v: want a 2s period", c["readinessProbe"])
	}
	pod := getPath(dep, "spec", "template", "spec").(map[string]any)
	if sel, _ := pod["nodeSelector"].(map[string]any); len(sel) != 1 || sel["node-role.kubernetes.io/control-plane"] != "" {
		t.Fatalf("nodeSelector %v: want the control plane", pod["nodeSelector"])
	}
	tols, _ := pod["tolerations"].([]any)
	if len(tols) != 1 || tols[0].(map[string]any)["key"] != "node-role.kubernetes.io/control-plane" {
		t.Fatalf("tolerations %v: want the control plane's taint tolerated", tols)
	}
	if getPath(dep, "spec", "selector", "matchLabels", "k8s-app") != "metrics-server" || getPath(dep, "spec", "template", "metadata", "labels", "k8s-app") != "metrics-server" {
		t.Fatal("commonLabels not applied to the Deployment selector and template")
	}
	var svc map[string]any
	yaml.Unmarshal(parts[1], &svc)
	if getPath(svc, "spec", "selector", "k8s-app") != "metrics-server" {
		t.Fatal("Service selector not set")
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"kubernetes binaries v1.34.4":        "kubernetes-binaries-v1.34.4",
		"node-rootfs (debootstrap bookworm)": "node-rootfs-debootstrap-bookworm",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q", in, got)
		}
	}
}

func TestFileStageCachesByKey(t *testing.T) {
	b := &builder{opts: Options{CacheDir: t.TempDir()}, progress: &progress{w: &bytes.Buffer{}, interval: time.Hour}}
	builds := 0
	stage := func(key Key, fail bool) fileStage {
		return fileStage{name: "thing", key: key, build: func(_ context.Context, out string) error {
			builds++
			if fail {
				return errors.New("boom")
			}
			return os.WriteFile(filepath.Join(out, "thing"), []byte(key), 0o644)
		}}
	}
	k1, k2 := KeyOf("t", map[string]string{"v": "1"}), KeyOf("t", map[string]string{"v": "2"})
	d1, err := b.runFileStage(context.Background(), stage(k1, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.runFileStage(context.Background(), stage(k1, false)); err != nil || builds != 1 {
		t.Fatalf("second run rebuilt (builds=%d, err=%v)", builds, err)
	}
	d2, _ := b.runFileStage(context.Background(), stage(k2, false))
	if builds != 2 || d1 == d2 {
		t.Fatalf("changed key did not rebuild (builds=%d)", builds)
	}
	// a failed build leaves nothing that looks complete
	k3 := KeyOf("t", map[string]string{"v": "3"})
	if _, err := b.runFileStage(context.Background(), stage(k3, true)); err == nil {
		t.Fatal("failure not reported")
	}
	if _, err := b.runFileStage(context.Background(), stage(k3, false)); err != nil || builds != 4 {
		t.Fatalf("retry after failure: builds=%d err=%v", builds, err)
	}
}

func TestDockerfileFor(t *testing.T) {
	got := dockerfileFor("scratch", "coredns", []string{"/usr/local/bin/coredns"})
	want := "FROM scratch\nCOPY coredns /usr/local/bin/coredns\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nENTRYPOINT [\"/usr/local/bin/coredns\"]\n"
	if got != want {
		t.Fatalf("got\n%s", got)
	}
}

// The podnet image is found in the cache by its sources: an edit to a
// package it imports changes the key, an edit elsewhere in the module
// does not.
func TestPodnetSourceKey(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":             "module example.com/m\n\ngo 1.22\n",
		"go.sum":             "",
		"cmd/podnet/main.go": "package main\n\nimport \"example.com/m/net\"\n\nfunc main() { net.Up() }\n",
		"net/net.go":         "package net\n\nfunc Up() {}\n",
		"other/other.go":     "package other\n",
	}
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range files {
		write(name, text)
	}
	b := &builder{opts: Options{SourceDir: dir}}
	key := func() string {
		t.Helper()
		k, err := b.podnetSource(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k1 := key()
	write("other/other.go", "package other\n\nvar X = 1\n")
	if k2 := key(); k2 != k1 {
		t.Error("a package podnet does not import changed the key")
	}
	write("net/net.go", "package net\n\nfunc Up() { println() }\n")
	k3 := key()
	if k3 == k1 {
		t.Error("a package podnet imports changed and the key did not")
	}
	write("net/net_cgo.go", "//go:build cgo\n\npackage net\n")
	k4 := key()
	if k4 == k3 {
		t.Error("a file a build constraint leaves out of podnet's build changed and the key did not")
	}
	write("go.sum", "example.org/dep v1.0.0 h1:abc=\n")
	if key() == k4 {
		t.Error("go.sum changed and the key did not")
	}
}
