// Command loadagent is chaosgate's in-cluster load agent: one pod of the
// Job the gate creates when load must come from inside the cluster. It
// waits for the gate's start, sends its share of the load to a Service's
// DNS name and writes every result as a JSON line on its output, which
// the gate reads through the pod's logs (see packages load/agent and load/agents).
package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/chaosgate/chaosgate/load/agent"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := agent.ParseArgs(os.Args[1:], os.Getenv)
	if err != nil {
		log.Error("bad arguments", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("control address", "err", err)
		os.Exit(1)
	}
	if err := agent.Serve(ctx, ln, cfg, os.Stdout, log); err != nil {
		log.Error("load agent failed", "err", err)
		os.Exit(1)
	}
}
