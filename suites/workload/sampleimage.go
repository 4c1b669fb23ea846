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
	return BuildCommandImage(ctx, sourceDir, "sampleapp", tag, version, progress)
}

// BuildCommandImage builds an image FROM scratch that runs one of the
// repository's commands (./cmd/NAME), as an unprivileged user; the docker
// build is skipped when the image already holds the same binary.
func BuildCommandImage(ctx context.Context, sourceDir, command, tag, version string, progress io.Writer) error {
	if sourceDir == "" {
		d, err := nodeimage.FindSourceDir()
		if err != nil {
			return err
		}
		sourceDir = d
	}
	dir, err := os.MkdirTemp("", "chaosgate-"+command+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", filepath.Join(dir, command), "./cmd/"+command)
	build.Dir = sourceDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", command, err, out)
	}
	sum, err := nodeimage.HashFiles(filepath.Join(dir, command))
	if err != nil {
		return err
	}
	key := sum + "-" + version
	if nodeimage.HasKey(ctx, tag, key) {
		return nil
	}
	fmt.Fprintf(progress, " • building %s\n", tag)
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY %[1]s /%[1]s\nUSER 65532:65532\nEXPOSE 8080\nENTRYPOINT [\"/%[1]s\"]\n", command)
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
