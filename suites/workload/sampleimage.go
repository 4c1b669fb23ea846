package workload

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/chaosgate/chaosgate/clusters/nodeimage"
)

// BuildSampleImage builds the sample app image FROM scratch from source,
// skipping the docker build when the image already holds the same binary.
func BuildSampleImage(ctx context.Context, sourceDir, tag, version string, progress io.Writer) error {
	if sourceDir == "" {
		d, err := nodeimage.FindSourceDir()
		if err != nil {
			return err
		}
		sourceDir = d
	}
	dir, err := os.MkdirTemp("", "chaosgate-sampleapp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", filepath.Join(dir, "sampleapp"), "./cmd/sampleapp")
	build.Dir = sourceDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build sampleapp: %w: %s", err, out)
	}
	sum, err := nodeimage.HashFiles(filepath.Join(dir, "sampleapp"))
	if err != nil {
		return err
	}
	key := sum + "-" + version
	if nodeimage.HasKey(ctx, tag, key) {
		return nil
	}
	fmt.Fprintf(progress, " • building %s\n", tag)
	dockerfile := "FROM scratch\nCOPY sampleapp /sampleapp\nUSER 65532:65532\nEXPOSE 8080\nENTRYPOINT [\"/sampleapp\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	return nodeimage.BuildImage(ctx, dir, tag, key)
}

// UsesImage reports whether any container of the workload runs image.
func (w *Workload) UsesImage(image string) bool {
	for _, o := range w.Objects {
		if o.GetKind() != "Deployment" {
			continue
		}
		for _, path := range [][]string{{"spec", "template", "spec", "containers"}, {"spec", "template", "spec", "initContainers"}} {
			cs, _, _ := unstructured.NestedSlice(o.Object, path...)
			for _, c := range cs {
				if m, ok := c.(map[string]any); ok && m["image"] == image {
					return true
				}
			}
		}
	}
	return false
}
