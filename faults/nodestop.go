package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Docker is the part of the Docker CLI node faults use.
type Docker interface {
	Stop(ctx context.Context, container string, kill bool) error
	Start(ctx context.Context, container string) error
	Running(ctx context.Context, container string) (bool, error)
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

// NodeStop stops kind worker node containers, like a machine shutting
// down (or, with Kill, losing power), and starts them again on revert.
type NodeStop struct {
	Docker Docker
	// Candidates are the worker node containers to choose from.
	Candidates []string
	// Count nodes are stopped, chosen at random from Candidates.
	Count int
	Kill  bool
	Rand  *rand.Rand
}

// Kind implements Fault.
func (n *NodeStop) Kind() string { return "node-stop" }

// Describe implements Fault.
func (n *NodeStop) Describe() string {
	how := "stop (clean shutdown)"
	if n.Kill {
		how = "kill (power loss)"
	}
	return fmt.Sprintf("%s %d worker node(s) of %d", how, n.Count, len(n.Candidates))
}

// Validate checks parameters before anything is injected.
func (n *NodeStop) Validate() error {
	if len(n.Candidates) == 0 {
		return fmt.Errorf("node-stop: no worker nodes to choose from")
	}
	if n.Count < 1 || n.Count > len(n.Candidates) {
		return fmt.Errorf("node-stop: count %d must be 1-%d", n.Count, len(n.Candidates))
	}
	for _, c := range n.Candidates {
		if strings.HasSuffix(c, "control-plane") {
			return fmt.Errorf("node-stop: %s is a control-plane node; only workers may be stopped", c)
		}
	}
	return nil
}

// Plan implements Fault.
func (n *NodeStop) Plan(context.Context) (Injection, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	c := append([]string(nil), n.Candidates...)
	sort.Strings(c)
	r := n.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	}
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return &nodeStopInjection{docker: n.Docker, Nodes: c[:n.Count], Kill: n.Kill}, nil
}

type nodeStopInjection struct {
	docker Docker
	Nodes  []string `json:"nodes"`
	Kill   bool     `json:"kill"`
}

func (i *nodeStopInjection) Targets() []Target {
	out := make([]Target, len(i.Nodes))
	for k, n := range i.Nodes {
		out[k] = Target{Kind: "node", Name: n}
	}
	return out
}

func (i *nodeStopInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

func (i *nodeStopInjection) Apply(ctx context.Context) error {
	for _, n := range i.Nodes {
		if err := i.docker.Stop(ctx, n, i.Kill); err != nil {
			return err
		}
	}
	return nil
}

// Verify waits until every node container has stopped.
func (i *nodeStopInjection) Verify(ctx context.Context) error {
	for {
		running := 0
		for _, n := range i.Nodes {
			if ok, err := i.docker.Running(ctx, n); err != nil || ok {
				running++
			}
		}
		if running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d node(s) still running: %w", running, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Revert starts every stopped node again.
func (i *nodeStopInjection) Revert(ctx context.Context) error {
	var errs []string
	for _, n := range i.Nodes {
		if err := i.docker.Start(ctx, n); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("start nodes: %s", strings.Join(errs, "; "))
	}
	return nil
}

// RevertNodeStop returns the journal reverter for node stops.
func RevertNodeStop(d Docker) Reverter {
	return func(ctx context.Context, e Entry) error {
		var inj nodeStopInjection
		if err := json.Unmarshal(e.State, &inj); err != nil {
			return fmt.Errorf("decode state: %w", err)
		}
		inj.docker = d
		return inj.Revert(ctx)
	}
}

// Reverters returns the reverter of every fault kind, for recovery.
func Reverters(d Docker) map[string]Reverter {
	return map[string]Reverter{
		"pod-kill":  RevertPodKill,
		"node-stop": RevertNodeStop(d),
	}
}
