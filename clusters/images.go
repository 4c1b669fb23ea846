package clusters

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/chaosgate/chaosgate/clusters/nodeimage"
)

// LoadImages copies local Docker images into every node of the cluster
// (what `kind load docker-image` does), skipping nodes that already hold
// the same image ID.
func LoadImages(ctx context.Context, name string, images ...string) error {
	if len(images) == 0 {
		return nil
	}
	ns, err := provider(io.Discard).ListNodes(name)
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, img := range images {
		id, err := nodeimage.ImageID(ctx, img)
		if err != nil {
			return fmt.Errorf("image %q is not in the local Docker image store (build or pull it first): %w", img, err)
		}
		ids[img] = id
	}
	for _, n := range ns {
		var missing []string
		for _, img := range images {
			if id, err := nodeutils.ImageID(n, img); err != nil || id != ids[img] {
				missing = append(missing, img)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if err := loadInto(ctx, n, missing); err != nil {
			return fmt.Errorf("load images into %s: %w", n, err)
		}
	}
	return nil
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
