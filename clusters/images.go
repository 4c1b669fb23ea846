package clusters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/chaosgate/chaosgate/clusters/nodeimage"
)

// LoadImages copies local Docker images into every node of the cluster
// (what `kind load docker-image` does), skipping nodes that already hold
// the same image ID, and returns the image IDs by name. Nodes are checked
// and loaded concurrently: each check is a `docker exec`, about a second
// here, and a run makes one per node.
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
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loaded := loadedImageIDs(ctx, n)
			var missing []string
			for _, img := range images {
				if loaded[img] != ids[img] {
					missing = append(missing, img)
				}
			}
			if len(missing) == 0 {
				return
			}
			if err := loadInto(ctx, n, missing); err != nil {
				errs[i] = fmt.Errorf("load images into %s: %w", n, err)
				return
			}
			for _, img := range missing {
				if err := n.CommandContext(ctx, "ctr", "--namespace=k8s.io", "images", "label", img, imageIDLabel+"="+ids[img]).Run(); err != nil {
					errs[i] = fmt.Errorf("label image %s in %s: %w", img, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// imageIDLabel on an image in a node's containerd holds the Docker image ID
// it was loaded from. The node images here have no crictl, which kind's
// own check (nodeutils.ImageID) needs, and containerd lists manifest
// digests, not Docker's image IDs: without the label every run would load
// every image again (about 6s).
const imageIDLabel = "chaosgate.dev/image-id"

// loadedImageIDs returns the Docker image IDs of the images loaded into the
// node, by reference, as their labels record them; nothing when the node
// cannot tell (the images are loaded again).
func loadedImageIDs(ctx context.Context, n nodes.Node) map[string]string {
	var out strings.Builder
	cmd := n.CommandContext(ctx, "ctr", "--namespace=k8s.io", "images", "ls")
	cmd.SetStdout(&out)
	if err := cmd.Run(); err != nil {
		return nil
	}
	return parseImageIDLabels(out.String())
}

// parseImageIDLabels reads `ctr images ls`: the reference comes first and
// the labels last (k=v,k=v), and the size in between holds a space.
func parseImageIDLabels(listing string) map[string]string {
	ids := map[string]string{}
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] == "REF" {
			continue
		}
		for _, kv := range strings.Split(f[len(f)-1], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == imageIDLabel {
				ids[f[0]] = v
			}
		}
	}
	return ids
}

func loadInto(ctx context.Context, n nodes.Node, images []string) error {
	f, err := os.CreateTemp("", "chaosgate-images-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	save := exec.CommandContext(ctx, "docker", append([]string{"save"}, images...)...)
	save.Stdout = f
	var stderr strings.Builder
	save.Stderr = &stderr
	if err := save.Run(); err != nil {
		return fmt.Errorf("docker save: %w: %s", err, stderr.String())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return nodeutils.LoadImageArchive(n, f)
}
