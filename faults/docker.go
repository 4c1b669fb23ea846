package faults

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Docker is the part of the Docker CLI node faults use: kind nodes are
// containers.
type Docker interface {
	Stop(ctx context.Context, container string, kill bool) error
	Start(ctx context.Context, container string) error
	Running(ctx context.Context, container string) (bool, error)
	// Exec runs a command in the container and returns its output.
	Exec(ctx context.Context, container string, args ...string) (string, error)
}

// DockerCLI runs the docker command.
type DockerCLI struct{}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// Stop stops a container: a clean shutdown (kind nodes stop systemd with
// SIGRTMIN+3), or with kill, an abrupt power-off.
func (DockerCLI) Stop(ctx context.Context, c string, kill bool) error {
	if kill {
		_, err := docker(ctx, "kill", c)
		if err != nil && strings.Contains(err.Error(), "is not running") {
			return nil
		}
		return err
	}
	_, err := docker(ctx, "stop", "--time", "10", c)
	return err
}

// Start starts a container; starting a running one is a no-op.
func (DockerCLI) Start(ctx context.Context, c string) error {
	_, err := docker(ctx, "start", c)
	return err
}

// Running reports whether the container runs.
func (DockerCLI) Running(ctx context.Context, c string) (bool, error) {
	out, err := docker(ctx, "inspect", "--format", "{{.State.Running}}", c)
	return out == "true", err
}

// Exec runs args in the container.
func (DockerCLI) Exec(ctx context.Context, c string, args ...string) (string, error) {
	return docker(ctx, append([]string{"exec", c}, args...)...)
}
