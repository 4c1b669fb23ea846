// Package nodeimage provides kind node images on machines that cannot reach
// an image registry.
//
// Ensure uses kindest/node when it is present or can be pulled. Otherwise it
// builds an equivalent image from Go modules and Debian packages only: a
// Debian root filesystem, kind's own base-image files (read from the kind
// module), Kubernetes, etcd, CoreDNS, pause and metrics-server built from
// source, every control-plane image preloaded, and chaosgate's small pod
// network (podnet) as the default CNI. Every stage is cached under a content
// key, so a second build is a cache hit and a changed input rebuilds only
// the stages that depend on it.
package nodeimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Pinned versions. kind v0.30.0 is what chaosgate drives; the rest is what
// kubeadm v1.34.4 asks for (`kubeadm config images list`).
const (
	KindVersion          = "v0.30.0"
	KubernetesVersion    = "v1.34.4"
	EtcdVersion          = "v3.6.5"
	EtcdImageTag         = "3.6.5-0"
	CoreDNSVersion       = "v1.12.1"
	PauseVersion         = "3.10.1"
	MetricsServerVersion = "v0.9.0"
	DebianSuite          = "bookworm"
)

// KindestImage is the upstream node image for the pinned versions.
const KindestImage = "kindest/node:" + KubernetesVersion

// recipe changes whenever the build steps change in a way the inputs below
// do not capture; bumping it invalidates every cached stage.
const recipe = "3"

// Options configure a node image build.
type Options struct {
	// CacheDir holds stage outputs; default $CHAOSGATE_CACHE or
	// $XDG_CACHE_HOME/chaosgate.
	CacheDir string
	// SourceDir is the chaosgate module root, from which podnet is built;
	// default: found upward from the working directory.
	SourceDir string
	// DebianMirror for debootstrap; default: the first bookworm mirror in
	// this machine's apt sources, else deb.debian.org.
	DebianMirror string
	// Offline skips trying kindest/node and always builds.
	Offline bool
	// Progress receives stage lines; default os.Stderr.
	Progress io.Writer
	Logger   *slog.Logger
}

// Result describes the image Ensure settled on.
type Result struct {
	Image string
	// Built is true for chaosgate's offline image, false for kindest/node.
	Built bool
}

// MetricsServerManifest is where offline images built before metrics-server
// moved into the CNI manifest keep its manifest.
const MetricsServerManifest = "/kind/manifests/chaosgate-metrics-server.yaml"

// DefaultCacheDir returns the cache folder used when Options.CacheDir is
// empty.
func DefaultCacheDir() string {
	if d := os.Getenv("CHAOSGATE_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "chaosgate")
	}
	return filepath.Join(os.TempDir(), "chaosgate-cache")
}

type builder struct {
	opts     Options
	progress *progress
	log      *slog.Logger
	goVer    string
}

func (o *Options) setDefaults() error {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.DebianMirror == "" {
		o.DebianMirror = debianMirror()
	}
	if o.SourceDir == "" {
		d, err := FindSourceDir()
		if err != nil {
			return err
		}
		o.SourceDir = d
	}
	return nil
}

// Ensure returns a node image for the pinned Kubernetes version: kindest/node
// when available (unless Offline), otherwise chaosgate's offline build.
func Ensure(ctx context.Context, opts Options) (Result, error) {
	if err := opts.setDefaults(); err != nil {
		return Result{}, err
	}
	if runtime.GOARCH != "amd64" {
		return Result{}, fmt.Errorf("the offline node image is built for amd64 only, this is %s", runtime.GOARCH)
	}
	if !opts.Offline {
		if _, err := ImageID(ctx, KindestImage); err == nil {
			return Result{Image: KindestImage}, nil
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_, err := cmd("docker", "pull", KindestImage).run(pctx)
		cancel()
		if err == nil {
			return Result{Image: KindestImage}, nil
		}
		fmt.Fprintf(opts.Progress, "kindest/node cannot be pulled here; building the node image offline\n")
		opts.Logger.Info("kindest/node pull failed", "err", err)
	}
	return Build(ctx, opts)
}

// Build builds (or finds in the cache) the offline node image.
func Build(ctx context.Context, opts Options) (Result, error) {
	if err := opts.setDefaults(); err != nil {
		return Result{}, err
	}
	gv, err := goVersion(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("the offline node image needs a Go toolchain: %w", err)
	}
	b := &builder{
		opts:     opts,
		progress: &progress{w: opts.Progress, interval: 30 * time.Second},
		log:      opts.Logger,
		goVer:    gv,
	}
	// the stages' scratch folders live in work/, made once here: the
	// branches of the build start in any order
	if err := os.MkdirAll(filepath.Join(opts.CacheDir, "work"), 0o755); err != nil {
		return Result{}, err
	}
	start := time.Now()
	b.progress.printf("Building kind node image %s offline (cache %s)", KubernetesVersion, opts.CacheDir)
	img, err := b.build(ctx)
	if err != nil {
		return Result{}, err
	}
	b.progress.printf("Node image %s ready in %s", img, time.Since(start).Round(time.Second))
	return Result{Image: img, Built: true}, nil
}

// FindSourceDir walks up from the working directory to the chaosgate module
// root.
func FindSourceDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && modulePath(data) == "github.com/chaosgate/chaosgate" {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("the offline node image builds podnet from chaosgate's source: run from the chaosgate repository (no go.mod of github.com/chaosgate/chaosgate found above " + wd + ")")
		}
	}
}
