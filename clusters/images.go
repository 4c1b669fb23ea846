package clusters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/chaosgate/chaosgate/clusters/nodeimage"
)

// LoadImages copies local Docker images into every node of the cluster
// (what `kind load docker-image` does), skipping nodes that already hold
// the same image, and returns the image IDs by name. Nodes are checked
// and loaded concurrently (each check is a `docker exec`, and a run makes
// one per node); the images are saved once for all of them.
func LoadImages(ctx context.Context, name string, images ...string) (map[string]string, error) {
	ids := map[string]string{}
	if len(images) == 0 {
		return ids, nil
	}
	ns, err := provider(io.Discard).ListNodes(name)
	if err != nil {
		return nil, err
	}
	for _, img := range images {
		id, err := nodeimage.ImageID(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("image %q is not in the local Docker image store (build or pull it first): %w", img, err)
		}
		ids[img] = id
	}
	missing := make([][]string, len(ns))
	each(ns, func(i int, n nodes.Node) error {
		loaded := loadedImages(ctx, n)
		for _, img := range images {
			if l, ok := loaded[normalizeRef(img)]; !ok || l.label != l.stamp(ids[img]) {
				missing[i] = append(missing[i], img)
			}
		}
		return nil
	})
	var all []string
	for _, m := range missing {
		all = append(all, m...)
	}
	if len(all) == 0 {
		return ids, nil
	}
	archive, err := save(ctx, slices.Compact(slices.Sorted(slices.Values(all))))
	if err != nil {
		return nil, err
	}
	defer os.Remove(archive)
	err = each(ns, func(i int, n nodes.Node) error {
		if len(missing[i]) == 0 {
			return nil
		}
		f, err := os.Open(archive)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := nodeutils.LoadImageArchive(n, f); err != nil {
			return fmt.Errorf("load images into %s: %w", n, err)
		}
		stampLoaded(ctx, n, missing[i], ids)
		return nil
	})
	return ids, err
}

// each runs fn for every node at once and joins the errors.
func each(ns []nodes.Node, fn func(int, nodes.Node) error) error {
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// save writes the images to a temporary archive and returns its path.
func save(ctx context.Context, images []string) (string, error) {
	f, err := os.CreateTemp("", "chaosgate-images-*.tar")
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"save"}, images...)...)
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("docker save: %w: %s", err, stderr.String())
	}
	return f.Name(), nil
}

// imageIDLabel on an image in a node's containerd holds the Docker image ID
// it was loaded from and the manifest it became there. The node images here
// have no crictl, which kind's own check (nodeutils.ImageID) needs, and
// containerd lists manifest digests, not Docker's image IDs: without the
// label every run would load every image again (about 6s). The manifest
// ties the label to the content: an import under the same name (a manual
// `kind load`) keeps the labels but changes the manifest.
const imageIDLabel = "chaosgate.dev/image-id"

// loadedImage is one image of `ctr images ls`.
type loadedImage struct {
	digest, label string
}

// stamp is the label value for the Docker image id, at this manifest.
func (l loadedImage) stamp(id string) string { return id + "@" + l.digest }

// loadedImages lists the images of the node's containerd by (normalized)
// reference; nothing when the node cannot tell (the images are loaded
// again).
func loadedImages(ctx context.Context, n nodes.Node) map[string]loadedImage {
	var out strings.Builder
	cmd := n.CommandContext(ctx, "ctr", "--namespace=k8s.io", "images", "ls")
	cmd.SetStdout(&out)
	if err := cmd.Run(); err != nil {
		return nil
	}
	return parseImages(out.String())
}

// stampLoaded labels freshly loaded images with their Docker ID and
// manifest. A label that cannot be set only costs a load next time.
func stampLoaded(ctx context.Context, n nodes.Node, images []string, ids map[string]string) {
	loaded := loadedImages(ctx, n)
	for _, img := range images {
		ref := normalizeRef(img)
		l, ok := loaded[ref]
		if !ok {
			continue
		}
		_ = n.CommandContext(ctx, "ctr", "--namespace=k8s.io", "images", "label", ref, imageIDLabel+"="+l.stamp(ids[img])).Run()
	}
}

// parseImages reads `ctr images ls`: reference, type and manifest digest
// come first, the labels last (k=v,k=v); the size in between holds a
// space.
func parseImages(listing string) map[string]loadedImage {
	out := map[string]loadedImage{}
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] == "REF" {
			continue
		}
		l := loadedImage{digest: f[2]}
		for _, kv := range strings.Split(f[len(f)-1], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == imageIDLabel {
				l.label = v
			}
		}
		out[f[0]] = l
	}
	return out
}

// normalizeRef spells an image reference the way containerd stores a
// Docker image it imports: a name without a registry is on docker.io, a
// single-component one under library/, and no tag means latest
// (myapp:dev is docker.io/library/myapp:dev there).
func normalizeRef(ref string) string {
	name, rest := ref, ""
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		name, rest = ref[:i], ref[i:]
	}
	if j := strings.LastIndexByte(name, ':'); j > strings.LastIndexByte(name, '/') {
		name, rest = name[:j], name[j:]+rest
	}
	first, _, hasSlash := strings.Cut(name, "/")
	switch {
	case !hasSlash:
		name = "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	if rest == "" {
		rest = ":latest"
	}
	return name + rest
}
