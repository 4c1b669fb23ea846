package nodeimage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"sigs.k8s.io/yaml"

	"github.com/chaosgate/chaosgate/clusters/podnet"
)

// baseDockerfile turns the Debian root filesystem into kind's base image:
// kind's files (copied into the build context from the kind module), the
// clean-up kind's own Dockerfile does, Debian's containerd/runc/CNI plugins
// where kind's files expect its own builds, and kind's entrypoint.
const baseDockerfile = `FROM %s
COPY files/ /
RUN chmod 0755 /usr/local/bin/* /kind/bin/* \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* \
 && rm -f /etc/systemd/system/*.wants/* \
 && rm -f /lib/systemd/system/local-fs.target.wants/* \
 && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
 && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
 && rm -f /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/bin/containerd /usr/local/bin/containerd \
 && ln -sf /usr/bin/ctr /usr/local/bin/ctr \
 && ln -sf /usr/bin/containerd-shim-runc-v2 /usr/local/bin/containerd-shim-runc-v2 \
 && mkdir -p /usr/local/sbin /opt/cni/bin /etc/kubernetes/manifests /kind/manifests \
 && ln -sf /usr/sbin/runc /usr/local/sbin/runc \
 && for p in host-local loopback ptp portmap bridge; do ln -sf /usr/lib/cni/$p /opt/cni/bin/$p; done \
 && ctr oci spec \
    | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
`

func (b *builder) baseImage(ctx context.Context, rootfs string) (string, error) {
	kind, err := downloadModule(ctx, "sigs.k8s.io/kind@"+KindVersion)
	if err != nil {
		return "", err
	}
	files := filepath.Join(kind.Dir, "images", "base", "files")
	filesHash, err := HashFiles(files)
	if err != nil {
		return "", err
	}
	dockerfile := fmt.Sprintf(baseDockerfile, rootfs)
	key := KeyOf("node-base", map[string]string{"rootfs": rootfs, "kind": KindVersion, "files": filesHash, "dockerfile": dockerfile})
	tag := baseRepo + ":" + key.Short()
	err = b.runImageStage(ctx, imageStage{
		name: "node base image (kind " + KindVersion + " files)",
		tag:  tag,
		key:  key,
		build: func(ctx context.Context) error {
			dir, err := os.MkdirTemp(filepath.Join(b.opts.CacheDir, "work"), "base-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			// module files are read-only; cp -r keeps them readable and the
			// Dockerfile sets modes
			if _, err := cmd("cp", "-r", files, filepath.Join(dir, "files")).run(ctx); err != nil {
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

// imageIDs returns the image IDs of tags, sorted by tag, for keys.
func (b *builder) imageIDs(ctx context.Context, tags []string) (string, error) {
	sorted := append([]string(nil), tags...)
	sort.Strings(sorted)
	var sb strings.Builder
	for _, t := range sorted {
		id, err := ImageID(ctx, t)
		if err != nil {
			return "", fmt.Errorf("inspect %s: %w", t, err)
		}
		fmt.Fprintf(&sb, "%s=%s\n", t, id)
	}
	return sb.String(), nil
}

// buildContainer is a privileged container of a node image in which the
// build installs binaries and preloads images, then commits the result.
type buildContainer struct {
	id string
}

func startBuildContainer(ctx context.Context, image string) (*buildContainer, error) {
	// sleep instead of systemd: only containerd is needed, started by hand
	out, err := cmd("docker", "run", "-d", "--privileged", "--entrypoint", "sleep", image, "infinity").run(ctx)
	if err != nil {
		return nil, err
	}
	return &buildContainer{id: strings.TrimSpace(out)}, nil
}

func (c *buildContainer) exec(ctx context.Context, args ...string) (string, error) {
	return cmd("docker", append([]string{"exec", c.id}, args...)...).run(ctx)
}

func (c *buildContainer) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = cmd("docker", "rm", "-f", "-v", c.id).run(ctx)
}

func (c *buildContainer) writeFile(ctx context.Context, path string, data []byte) error {
	_, err := cmd("docker", "exec", "-i", c.id, "sh", "-c", "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"", "sh", path).
		withStdin(bytes.NewReader(data)).run(ctx)
	return err
}

// preload imports images into the node's containerd, pinned so the kubelet
// never garbage-collects them (they cannot be pulled again here).
func (c *buildContainer) preload(ctx context.Context, images []string) error {
	if _, err := c.exec(ctx, "sh", "-c", "nohup containerd >/var/log/containerd-build.log 2>&1 &"); err != nil {
		return err
	}
	ready := false
	for i := 0; i < 60 && !ready; i++ {
		if _, err := c.exec(ctx, "ctr", "version"); err == nil {
			ready = true
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if !ready {
		log, _ := c.exec(ctx, "cat", "/var/log/containerd-build.log")
		return fmt.Errorf("containerd in the build container did not start:\n%s", tail(log, 20))
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := cmd("docker", append([]string{"save"}, images...)...).withStdout(pw).run(ctx)
		pw.CloseWithError(err)
	}()
	_, err := cmd("docker", "exec", "-i", c.id, "ctr", "--namespace=k8s.io", "images", "import",
		"--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests", "-").
		withStdin(pr).run(ctx)
	pr.Close()
	if err != nil {
		return err
	}
	// sleep is PID 1 and reaps nothing, so the exited containerd stays a
	// zombie: wait for that state rather than for the process to vanish.
	stop := `pid=$(pgrep -xo containerd) && kill "$pid" && ` +
		`while [ -e /proc/$pid ] && ! grep -q '^State:[[:space:]]*Z' /proc/$pid/status; do sleep 0.2; done; ` +
		`rm -f /var/log/containerd-build.log`
	if _, err := c.exec(ctx, "sh", "-c", stop); err != nil {
		return err
	}
	return nil
}

func (c *buildContainer) commit(ctx context.Context, tag string, key Key) error {
	_, err := cmd("docker", "commit",
		"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`,
		"--change", `CMD []`,
		"--change", "LABEL "+KeyLabel+"="+string(key),
		c.id, tag).run(ctx)
	return err
}

// coreImage is the base image plus Kubernetes and the control-plane images.
// It does not depend on chaosgate's own code, so changing podnet does not
// rebuild it.
func (b *builder) coreImage(ctx context.Context, base string, bins binaries, components []string) (string, error) {
	binHash, err := HashFiles(bins.k8s)
	if err != nil {
		return "", err
	}
	ids, err := b.imageIDs(ctx, append([]string{base}, components...))
	if err != nil {
		return "", err
	}
	key := KeyOf("node-core", map[string]string{"images": ids, "bins": binHash, "recipe": recipe})
	tag := coreRepo + ":" + key.Short()
	err = b.runImageStage(ctx, imageStage{
		name: "node core image (Kubernetes " + KubernetesVersion + ", images preloaded)",
		tag:  tag,
		key:  key,
		build: func(ctx context.Context) error {
			c, err := startBuildContainer(ctx, base)
			if err != nil {
				return err
			}
			defer c.remove()
			for _, bin := range []string{"kubeadm", "kubelet", "kubectl"} {
				if _, err := cmd("docker", "cp", filepath.Join(bins.k8s, bin), c.id+":/usr/bin/"+bin).run(ctx); err != nil {
					return err
				}
			}
			if _, err := c.exec(ctx, "chown", "root:root", "/usr/bin/kubeadm", "/usr/bin/kubelet", "/usr/bin/kubectl"); err != nil {
				return err
			}
			if err := c.writeFile(ctx, "/kind/version", []byte(KubernetesVersion)); err != nil {
				return err
			}
			if err := c.preload(ctx, components); err != nil {
				return err
			}
			return c.commit(ctx, tag, key)
		},
	})
	return tag, err
}

// nodeImage adds podnet (image and the default CNI manifest kind installs)
// and metrics-server's manifest to the core image. metrics-server rides in
// the CNI manifest: kind applies that right after kubeadm init, so
// metrics-server starts on the control plane while the workers are still
// joining, instead of after kind is done.
func (b *builder) nodeImage(ctx context.Context, core, podnetImage string) (string, error) {
	ids, err := b.imageIDs(ctx, []string{core, podnetImage})
	if err != nil {
		return "", err
	}
	ms, err := b.metricsServerManifestCached(ctx, metricsServerRepo+":"+MetricsServerVersion)
	if err != nil {
		return "", err
	}
	// kind renders the CNI manifest as a Go template (podnet's asks it to)
	if bytes.Contains(ms, []byte("{{")) {
		return "", fmt.Errorf("metrics-server's manifest contains {{, which kind would read as a template action in the CNI manifest")
	}
	cni := podnet.Manifest(podnetImage) + "\n" + string(ms)
	key := KeyOf("node", map[string]string{"images": ids, "cni": cni, "metrics-server": string(ms), "recipe": recipe})
	tag := NodeRepo + ":" + KubernetesVersion + "-" + key.Short()
	err = b.runImageStage(ctx, imageStage{
		name: "node image " + tag,
		tag:  tag,
		key:  key,
		build: func(ctx context.Context) error {
			c, err := startBuildContainer(ctx, core)
			if err != nil {
				return err
			}
			defer c.remove()
			if err := c.writeFile(ctx, "/kind/manifests/default-cni.yaml", []byte(cni)); err != nil {
				return err
			}
			if err := c.preload(ctx, []string{podnetImage}); err != nil {
				return err
			}
			return c.commit(ctx, tag, key)
		},
	})
	if err != nil {
		return "", err
	}
	// a stable name for the newest build, for humans and `docker images`
	if _, err := cmd("docker", "tag", tag, NodeRepo+":"+KubernetesVersion).run(ctx); err != nil {
		return "", err
	}
	return tag, nil
}

// MetricsServerForRegistry renders the metrics-server manifest for its
// published image, for node images (kindest/node) that do not carry one.
func MetricsServerForRegistry(ctx context.Context) ([]byte, error) {
	return metricsServerManifest(ctx, "registry.k8s.io/metrics-server/metrics-server:"+MetricsServerVersion)
}

// metricsServerBase lists metrics-server's base manifests, in apply order.
var metricsServerBase = []string{"rbac.yaml", "apiservice.yaml", "service.yaml", "deployment.yaml"}

func metricsServerManifest(ctx context.Context, image string) ([]byte, error) {
	info, err := downloadModule(ctx, "sigs.k8s.io/metrics-server@"+MetricsServerVersion)
	if err != nil {
		return nil, err
	}
	return renderMetricsServerDir(filepath.Join(info.Dir, "manifests", "base"), image)
}

// metricsServerManifestCached renders the base manifests kept in a cache
// stage: a cached node image is then found without the Go module cache
// (or the network) that holds them.
func (b *builder) metricsServerManifestCached(ctx context.Context, image string) ([]byte, error) {
	dir, err := b.runFileStage(ctx, fileStage{
		name: "metrics-server manifests " + MetricsServerVersion,
		key:  KeyOf("metrics-server-manifests", map[string]string{"version": MetricsServerVersion, "files": strings.Join(metricsServerBase, ","), "recipe": recipe}),
		build: func(ctx context.Context, out string) error {
			info, err := downloadModule(ctx, "sigs.k8s.io/metrics-server@"+MetricsServerVersion)
			if err != nil {
				return err
			}
			for _, f := range metricsServerBase {
				if err := copyFile(filepath.Join(info.Dir, "manifests", "base", f), filepath.Join(out, f), 0o644); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return renderMetricsServerDir(dir, image)
}

func renderMetricsServerDir(dir, image string) ([]byte, error) {
	var docs [][]byte
	for _, f := range metricsServerBase {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		docs = append(docs, splitYAML(data)...)
	}
	return RenderMetricsServer(docs, image)
}

// RenderMetricsServer applies what metrics-server's kustomization does
// (commonLabels k8s-app: metrics-server) plus chaosgate's settings to the
// base manifests, and returns one multi-document YAML.
func RenderMetricsServer(docs [][]byte, image string) ([]byte, error) {
	var out bytes.Buffer
	for _, d := range docs {
		var obj map[string]any
		if err := yaml.Unmarshal(d, &obj); err != nil {
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		const lk, lv = "k8s-app", "metrics-server"
		setPath(obj, lv, "metadata", "labels", lk)
		switch obj["kind"] {
		case "Deployment":
			setPath(obj, lv, "spec", "selector", "matchLabels", lk)
			setPath(obj, lv, "spec", "template", "metadata", "labels", lk)
			containers, _ := getPath(obj, "spec", "template", "spec", "containers").([]any)
			if len(containers) == 0 {
				return nil, fmt.Errorf("metrics-server deployment has no containers")
			}
			c, ok := containers[0].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("metrics-server deployment: container is not an object")
			}
			c["image"] = image
			c["imagePullPolicy"] = "IfNotPresent"
			var args []any
			old, _ := c["args"].([]any)
			for _, a := range old {
				if s, _ := a.(string); strings.HasPrefix(s, "--metric-resolution=") {
					continue
				}
				args = append(args, a)
			}
			c["args"] = append(args, "--metric-resolution=15s", "--kubelet-insecure-tls")
			// ready (two scrapes stored) is noticed within 2s, not 10s:
			// the metrics API serves that much sooner after cluster up
			if probe, ok := c["readinessProbe"].(map[string]any); ok {
				probe["periodSeconds"] = 2
			}
			// it starts while four nodes boot on the machine's cores: its
			// TLS answer to the kubelet's probe took over the default 1s,
			// and the liveness probe restarted it
			for _, name := range []string{"readinessProbe", "livenessProbe"} {
				if probe, ok := c[name].(map[string]any); ok {
					probe["timeoutSeconds"] = 5
				}
			}
			// on the control plane: node faults hit workers and must not
			// take the HPA's metrics with them, and it starts there before
			// the workers have joined
			setPath(obj, "", "spec", "template", "spec", "nodeSelector", "node-role.kubernetes.io/control-plane")
			tol, _ := getPath(obj, "spec", "template", "spec", "tolerations").([]any)
			setPath(obj, append(tol, map[string]any{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}),
				"spec", "template", "spec", "tolerations")
		case "Service":
			setPath(obj, lv, "spec", "selector", lk)
		}
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(y)
	}
	return out.Bytes(), nil
}

func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1024*1024), 1024*1024)
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " ") == "---" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

func setPath(obj map[string]any, value any, path ...string) {
	m := obj
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = value
}

func getPath(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// debianMirror reads the first Debian mirror from apt's sources (both the
// one-line and the deb822 formats); deb.debian.org otherwise.
func debianMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if m := mirrorFromSources(string(data)); m != "" {
			return m
		}
	}
	return "http://deb.debian.org/debian"
}

// mirrorFromSources finds a URI serving the Debian suite in an apt sources
// file.
func mirrorFromSources(src string) string {
	var uri string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "deb" && !strings.HasPrefix(f[1], "["):
			if f[2] == DebianSuite && strings.Contains(f[1], "debian") && !strings.Contains(f[1], "security") {
				return f[1]
			}
		case len(f) >= 2 && f[0] == "URIs:":
			uri = f[1]
		case len(f) >= 2 && f[0] == "Suites:":
			for _, s := range f[1:] {
				if s == DebianSuite && strings.Contains(uri, "debian") && !strings.Contains(uri, "security") {
					return uri
				}
			}
		case line == "":
			uri = ""
		}
	}
	return ""
}

func modulePath(gomod []byte) string {
	return modfile.ModulePath(gomod)
}
