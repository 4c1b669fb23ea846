package nodeimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Image names of the offline build. Control-plane images carry the names
// kubeadm pulls, so the kubelet finds them preloaded.
const (
	rootfsRepo  = "chaosgate.local/node-rootfs"
	netbaseRepo = "chaosgate.local/netbase"
	baseRepo    = "chaosgate.local/node-base"
	coreRepo    = "chaosgate.local/node-core"
	// NodeRepo is the repository of the offline node images.
	NodeRepo          = "chaosgate.local/node"
	metricsServerRepo = "chaosgate.local/metrics-server"
	podnetRepo        = "chaosgate.local/podnet"
)

// nodePackages are the Debian packages of the node's root filesystem: what
// kind's base image installs, with Debian's containerd, runc and CNI plugins
// in place of the ones kind downloads.
var nodePackages = []string{
	"systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool",
	"util-linux", "mount", "kmod", "libseccomp2", "pigz", "fuse-overlayfs", "bash",
	"ca-certificates", "curl", "jq", "procps", "containerd", "runc",
	"containernetworking-plugins", "socat", "ebtables",
}

// netbasePackages make the small root filesystem of the images that program
// the node's network (kube-proxy, podnet).
var netbasePackages = []string{"iptables", "iproute2", "conntrack", "nftables"}

// netbasePrune is what the network images never use: perl, time zones,
// charset converters, dpkg's database. Every node unpacks these images
// while it joins, and unpacking costs per file: pruned, the root
// filesystem has a third of its 4,500 files and unpacks about 3x faster.
var netbasePrune = []string{
	"usr/share/zoneinfo", "usr/lib/x86_64-linux-gnu/perl-base", "usr/share/perl5", "usr/bin/perl", "usr/bin/perl5.36.0",
	"usr/lib/x86_64-linux-gnu/gconv", "var/lib/dpkg", "usr/share/bash-completion", "usr/share/lintian",
	"usr/share/info", "usr/share/common-licenses",
}

type binaries struct {
	k8s, etcd, coredns, metricsServer, pause string // cache folders
}

// build runs the stages in three branches, joined where a stage needs
// another's output: the Go builds take both cores, while the debootstraps
// mostly wait on the Debian mirror and the disk, so they overlap with the
// compiles instead of queueing behind them.
func (b *builder) build(ctx context.Context) (string, error) {
	var (
		bins          binaries
		base, netbase string
		pn            string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		bins, err = b.buildBinaries(gctx)
		return err
	})
	g.Go(func() error {
		rootfs, err := b.rootfsImage(gctx, "node-rootfs", rootfsRepo, nodePackages, nil)
		if err != nil {
			return err
		}
		base, err = b.baseImage(gctx, rootfs)
		return err
	})
	g.Go(func() (err error) {
		netbase, err = b.rootfsImage(gctx, "netbase", netbaseRepo, netbasePackages, netbasePrune)
		if err != nil {
			return err
		}
		pn, err = b.podnetImage(gctx, netbase)
		return err
	})
	if err := g.Wait(); err != nil {
		return "", err
	}
	components, err := b.componentImages(ctx, bins, netbase)
	if err != nil {
		return "", err
	}
	core, err := b.coreImage(ctx, base, bins, components)
	if err != nil {
		return "", err
	}
	return b.nodeImage(ctx, core, pn)
}

func (b *builder) buildBinaries(ctx context.Context) (binaries, error) {
	var bins binaries
	ld, err := kubeVersionLDFlags(KubernetesVersion)
	if err != nil {
		return bins, err
	}
	work := filepath.Join(b.opts.CacheDir, "work")
	kubePkgs := []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}
	var pkgs []string
	for _, p := range kubePkgs {
		pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+p)
	}
	stagingVersion := "v0." + strings.TrimPrefix(KubernetesVersion, "v1.")
	// Kubernetes on one branch, the other binaries one after the other on
	// a second: a single go build leaves a core idle in its serial parts
	// (the last packages of a chain, the links), which the other fills.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		bins.k8s, err = b.runFileStage(gctx, fileStage{
			name: "kubernetes binaries " + KubernetesVersion,
			key:  KeyOf("k8s", map[string]string{"version": KubernetesVersion, "go": b.goVer, "ldflags": ld, "pkgs": strings.Join(pkgs, ","), "recipe": recipe}),
			build: func(ctx context.Context, out string) error {
				return buildWrapped(ctx, filepath.Join(work, "k8s"), "k8s.io/kubernetes", KubernetesVersion, stagingVersion, ld, pkgs, out)
			},
		})
		return err
	})
	g.Go(func() error { return b.buildAddonBinaries(gctx, work, &bins) })
	return bins, g.Wait()
}

// buildAddonBinaries builds etcd, CoreDNS, metrics-server and pause into
// bins, one after the other.
func (b *builder) buildAddonBinaries(ctx context.Context, work string, bins *binaries) error {
	var err error
	bins.etcd, err = b.runFileStage(ctx, fileStage{
		name: "etcd " + EtcdVersion,
		key:  KeyOf("etcd", map[string]string{"version": EtcdVersion, "go": b.goVer, "recipe": recipe}),
		build: func(ctx context.Context, out string) error {
			// server/v3 holds etcd's main package and replaces its sibling
			// modules with relative paths.
			if err := buildWrapped(ctx, filepath.Join(work, "etcd"), "go.etcd.io/etcd/server/v3", EtcdVersion, EtcdVersion, "-s -w", []string{"go.etcd.io/etcd/server/v3"}, out); err != nil {
				return err
			}
			// go build names the binary after the module path without its
			// major version suffix: "server"
			return os.Rename(filepath.Join(out, "server"), filepath.Join(out, "etcd"))
		},
	})
	if err != nil {
		return err
	}
	bins.coredns, err = b.runFileStage(ctx, fileStage{
		name: "coredns " + CoreDNSVersion,
		key:  KeyOf("coredns", map[string]string{"version": CoreDNSVersion, "go": b.goVer, "recipe": recipe}),
		build: func(ctx context.Context, out string) error {
			return goInstall(ctx, "github.com/coredns/coredns@"+CoreDNSVersion, "-s -w", out)
		},
	})
	if err != nil {
		return err
	}
	msLD := "-s -w -X sigs.k8s.io/metrics-server/pkg/version.gitVersion=" + MetricsServerVersion
	bins.metricsServer, err = b.runFileStage(ctx, fileStage{
		name: "metrics-server " + MetricsServerVersion,
		key:  KeyOf("metrics-server", map[string]string{"version": MetricsServerVersion, "go": b.goVer, "ldflags": msLD, "recipe": recipe}),
		build: func(ctx context.Context, out string) error {
			return goInstall(ctx, "sigs.k8s.io/metrics-server/cmd/metrics-server@"+MetricsServerVersion, msLD, out)
		},
	})
	if err != nil {
		return err
	}
	gccVer, _ := cmd("gcc", "-dumpfullversion").run(ctx)
	bins.pause, err = b.runFileStage(ctx, fileStage{
		name: "pause " + PauseVersion,
		key:  KeyOf("pause", map[string]string{"version": PauseVersion, "k8s": KubernetesVersion, "gcc": strings.TrimSpace(gccVer), "recipe": recipe}),
		build: func(ctx context.Context, out string) error {
			info, err := downloadModule(ctx, "k8s.io/kubernetes@"+KubernetesVersion)
			if err != nil {
				return err
			}
			src := filepath.Join(info.Dir, "build", "pause", "linux", "pause.c")
			_, err = cmd("gcc", "-static", "-Os", "-Wall", "-Werror", "-DVERSION=v"+PauseVersion, "-o", filepath.Join(out, "pause"), src).run(ctx)
			if err != nil {
				return fmt.Errorf("%w (the offline image needs gcc and libc6-dev: clusters/scripts/ensure-docker.sh --image-tools installs them)", err)
			}
			_, err = cmd("strip", filepath.Join(out, "pause")).run(ctx)
			return err
		},
	})
	return err
}

// rootfsImage debootstraps a Debian root filesystem into a cached tarball
// and imports it as a Docker image.
func (b *builder) rootfsImage(ctx context.Context, name, repo string, packages, prune []string) (string, error) {
	pk := append([]string(nil), packages...)
	sort.Strings(pk)
	inputs := map[string]string{"suite": DebianSuite, "packages": strings.Join(pk, ","), "mirror": b.opts.DebianMirror, "recipe": recipe}
	if len(prune) > 0 {
		inputs["prune"] = strings.Join(prune, ",")
	}
	key := KeyOf(name, inputs)
	tag := repo + ":" + key.Short()
	if HasKey(ctx, tag, string(key)) {
		b.progress.printf(" ✓ %s image (cached %s)", name, tag)
		return tag, nil
	}
	dir, err := b.runFileStage(ctx, fileStage{
		name: name + " (debootstrap " + DebianSuite + ")",
		key:  key,
		build: func(ctx context.Context, out string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("debootstrap needs root")
			}
			root := filepath.Join(b.opts.CacheDir, "work", name)
			_ = os.RemoveAll(root)
			defer os.RemoveAll(root)
			_, err := cmd("debootstrap", "--variant=minbase", "--include="+strings.Join(packages, ","), DebianSuite, root, b.opts.DebianMirror).run(ctx)
			if err != nil {
				return fmt.Errorf("%w (is debootstrap installed? clusters/scripts/ensure-docker.sh --image-tools installs it)", err)
			}
			// apt lists and caches are not needed in the image
			for _, p := range append([]string{"var/lib/apt/lists", "var/cache/apt/archives", "usr/share/doc", "usr/share/man", "usr/share/locale"}, prune...) {
				_ = os.RemoveAll(filepath.Join(root, p))
			}
			f, err := os.Create(filepath.Join(out, "rootfs.tar"))
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = cmd("tar", "--numeric-owner", "-C", root, "-c", ".").withStdout(f).run(ctx)
			return err
		},
	})
	if err != nil {
		return "", err
	}
	err = b.progress.step(ctx, "import "+name+" image", func(ctx context.Context) error {
		f, err := os.Open(filepath.Join(dir, "rootfs.tar"))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = cmd("docker", "import", "--change", "LABEL "+KeyLabel+"="+string(key), "-", tag).withStdin(f).run(ctx)
		return err
	})
	return tag, err
}

// component is one image kubeadm or the cluster expects preloaded.
type component struct {
	tag    string
	binary string // path of the binary in a cache folder
	// from is the parent image; "" for scratch.
	from       string
	entrypoint []string
}

func (b *builder) componentImages(ctx context.Context, bins binaries, netbase string) ([]string, error) {
	reg := "registry.k8s.io/"
	var comps []component
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		comps = append(comps, component{tag: reg + c + ":" + KubernetesVersion, binary: filepath.Join(bins.k8s, c)})
	}
	// kube-proxy programs iptables, so its image needs the iptables tools.
	comps = append(comps,
		component{tag: reg + "kube-proxy:" + KubernetesVersion, binary: filepath.Join(bins.k8s, "kube-proxy"), from: netbase},
		component{tag: reg + "etcd:" + EtcdImageTag, binary: filepath.Join(bins.etcd, "etcd")},
		component{tag: reg + "coredns/coredns:" + CoreDNSVersion, binary: filepath.Join(bins.coredns, "coredns"), entrypoint: []string{"/usr/local/bin/coredns"}},
		component{tag: reg + "pause:" + PauseVersion, binary: filepath.Join(bins.pause, "pause"), entrypoint: []string{"/usr/local/bin/pause"}},
		component{tag: metricsServerRepo + ":" + MetricsServerVersion, binary: filepath.Join(bins.metricsServer, "metrics-server"), entrypoint: []string{"/usr/local/bin/metrics-server"}},
	)
	var tags []string
	for _, c := range comps {
		if err := b.componentImage(ctx, c); err != nil {
			return nil, err
		}
		tags = append(tags, c.tag)
	}
	// kind's containerd config names pause:3.10 as the sandbox image.
	legacyPause := reg + "pause:3.10"
	if _, err := cmd("docker", "tag", reg+"pause:"+PauseVersion, legacyPause).run(ctx); err != nil {
		return nil, err
	}
	return append(tags, legacyPause), nil
}

func (b *builder) componentImage(ctx context.Context, c component) error {
	sum, err := HashFiles(c.binary)
	if err != nil {
		return err
	}
	from := "scratch"
	if c.from != "" {
		from = c.from
	}
	dockerfile := dockerfileFor(from, filepath.Base(c.binary), c.entrypoint)
	key := KeyOf("component", map[string]string{"tag": c.tag, "binary": sum, "dockerfile": dockerfile})
	return b.runImageStage(ctx, imageStage{
		name: "image " + c.tag,
		tag:  c.tag,
		key:  key,
		build: func(ctx context.Context) error {
			dir, err := os.MkdirTemp(filepath.Join(b.opts.CacheDir, "work"), "image-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if err := copyFile(c.binary, filepath.Join(dir, filepath.Base(c.binary)), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
				return err
			}
			return BuildImage(ctx, dir, c.tag, string(key))
		},
	})
}

// dockerfileFor is a single-binary image: the binary in /usr/local/bin and
// PATH set, since kubeadm's static pods call binaries by name.
func dockerfileFor(from, binary string, entrypoint []string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "FROM %s\n", from)
	fmt.Fprintf(&sb, "COPY %s /usr/local/bin/%s\n", binary, binary)
	sb.WriteString("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
	if len(entrypoint) > 0 {
		fmt.Fprintf(&sb, "ENTRYPOINT [%s]\n", quoteJoin(entrypoint))
	}
	return sb.String()
}

func quoteJoin(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}

// podnetImage builds chaosgate's pod network daemon from source, keyed by
// its sources (podnetSource).
func (b *builder) podnetImage(ctx context.Context, netbase string) (string, error) {
	src, err := b.podnetSource(ctx)
	if err != nil {
		return "", err
	}
	const ldflags = "-s -w"
	dockerfile := dockerfileFor(netbase, "podnet", []string{"/usr/local/bin/podnet"})
	key := KeyOf("podnet", map[string]string{"source": src, "go": b.goVer, "ldflags": ldflags, "dockerfile": dockerfile})
	tag := podnetRepo + ":" + key.Short()
	err = b.runImageStage(ctx, imageStage{
		name: "image " + tag,
		tag:  tag,
		key:  key,
		build: func(ctx context.Context) error {
			dir, err := os.MkdirTemp(filepath.Join(b.opts.CacheDir, "work"), "podnet-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			_, err = cmd("go", "build", "-trimpath", "-ldflags", ldflags, "-o", filepath.Join(dir, "podnet"), "./cmd/podnet").
				inDir(b.opts.SourceDir).withEnv(podnetEnv...).run(ctx)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
				return err
			}
			return BuildImage(ctx, dir, tag, string(key))
		},
	})
	return tag, err
}

// podnetEnv is podnet's build environment; podnetSource lists the packages
// under the same one, so that build constraints pick the same files.
var podnetEnv = []string{"CGO_ENABLED=0", "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly"}

// podnetSource hashes what the podnet binary is built from: the module's
// go.mod and go.sum (which pin every dependency) and every file of the
// packages it imports from chaosgate's module or from a local replace
// (whatever build constraints say, ignored files included). Keyed by its
// sources rather than by its binary, a cached podnet image is found
// without a Go build: that build (linking, mostly) cost 2-3s of every
// cluster up.
func (b *builder) podnetSource(ctx context.Context) (string, error) {
	// local: the main module, or a module replaced by a directory (no
	// version, no go.sum line)
	const format = `{{if not .Standard}}{{.ImportPath}}	{{.Dir}}	` +
		`{{with .Module}}{{if .Main}}local{{else}}{{with .Replace}}{{if not .Version}}local{{end}}{{end}}{{end}}{{end}}` +
		`{{range .GoFiles}}	{{.}}{{end}}{{range .CgoFiles}}	{{.}}{{end}}{{range .IgnoredGoFiles}}	{{.}}{{end}}` +
		`{{range .SFiles}}	{{.}}{{end}}{{range .SysoFiles}}	{{.}}{{end}}{{range .EmbedFiles}}	{{.}}{{end}}{{end}}`
	out, err := cmd("go", "list", "-deps", "-f", format, "./cmd/podnet").inDir(b.opts.SourceDir).withEnv(podnetEnv...).run(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(b.opts.SourceDir, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 || f[2] != "local" {
			continue
		}
		for _, name := range f[3:] {
			if name == "" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(f[1], name))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s/%s %d\n", f[0], name, len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
