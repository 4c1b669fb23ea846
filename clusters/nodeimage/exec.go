package nodeimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// command runs one external program. Output is kept and, on failure, the
// tail of it goes into the error so the user sees why without a log hunt.
type command struct {
	name  string
	args  []string
	dir   string
	env   []string
	stdin io.Reader
	// stdout, when set, receives standard output instead of the buffer.
	stdout io.Writer
}

func cmd(name string, args ...string) *command { return &command{name: name, args: args} }

func (c *command) inDir(d string) *command         { c.dir = d; return c }
func (c *command) withEnv(e ...string) *command    { c.env = append(c.env, e...); return c }
func (c *command) withStdin(r io.Reader) *command  { c.stdin = r; return c }
func (c *command) withStdout(w io.Writer) *command { c.stdout = w; return c }

// run executes the command and returns its combined output.
func (c *command) run(ctx context.Context) (string, error) {
	x := exec.CommandContext(ctx, c.name, c.args...)
	x.Dir = c.dir
	x.Env = append(os.Environ(), c.env...)
	x.Stdin = c.stdin
	var out bytes.Buffer
	if c.stdout != nil {
		x.Stdout = c.stdout
	} else {
		x.Stdout = &out
	}
	x.Stderr = &out
	err := x.Run()
	if err != nil {
		if ctx.Err() != nil {
			return out.String(), fmt.Errorf("%s: %w", c.name, ctx.Err())
		}
		return out.String(), fmt.Errorf("%s %s: %w\n%s", c.name, strings.Join(shorten(c.args), " "), err, tail(out.String(), 25))
	}
	return out.String(), nil
}

// shorten keeps error messages readable when a command has huge arguments
// (ldflags).
func shorten(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 120 {
			a = a[:117] + "..."
		}
		out[i] = a
	}
	return out
}

// KeyLabel is the image label holding the content key an image was built
// from: the local image store is the cache of every image chaosgate builds.
const KeyLabel = "dev.chaosgate.key"

// HasKey reports whether the local image exists and was built from key.
func HasKey(ctx context.Context, image, key string) bool {
	out, err := cmd("docker", "image", "inspect", "--format", fmt.Sprintf("{{index .Config.Labels %q}}", KeyLabel), image).run(ctx)
	return err == nil && strings.TrimSpace(out) == key
}

// ImageID returns the ID of a local image; it fails when there is none.
func ImageID(ctx context.Context, image string) (string, error) {
	out, err := cmd("docker", "image", "inspect", "--format", "{{.Id}}", image).run(ctx)
	return strings.TrimSpace(out), err
}

// BuildImage builds contextDir into tag, labelled with key.
func BuildImage(ctx context.Context, contextDir, tag, key string) error {
	// BuildKit needs images from a registry for its frontend; the classic
	// builder works offline.
	_, err := cmd("docker", "build", "--tag", tag, "--label", KeyLabel+"="+key, contextDir).withEnv("DOCKER_BUILDKIT=0").run(ctx)
	return err
}
