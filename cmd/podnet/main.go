// Command podnet keeps a kind node's pod network in sync; see package
// github.com/chaosgate/chaosgate/clusters/podnet. It runs as a DaemonSet
// shipped in chaosgate's offline node image.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosgate/chaosgate/clusters/podnet"
)

const readyFile = "/run/podnet/synced"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: podnet run | podnet check [--max-age=30s]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "run":
		if err := run(); err != nil {
			slog.Error("podnet failed", "err", err)
			os.Exit(1)
		}
	case "check":
		fs := flag.NewFlagSet("check", flag.ExitOnError)
		maxAge := fs.Duration("max-age", 30*time.Second, "oldest acceptable successful sync")
		_ = fs.Parse(os.Args[2:])
		if err := podnet.CheckReady(readyFile, *maxAge); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "podnet: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func run() error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	subnet, err := netip.ParsePrefix(os.Getenv("POD_SUBNET"))
	if err != nil {
		return fmt.Errorf("POD_SUBNET: %w", err)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	// kind passes the API server's node address: Service routing may not
	// exist yet when the pod network starts.
	if ep := os.Getenv("CONTROL_PLANE_ENDPOINT"); ep != "" {
		cfg.Host = "https://" + ep
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll("/run/podnet", 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Info("podnet starting", "node", os.Getenv("NODE_NAME"), "podSubnet", subnet)
	return podnet.Run(ctx, podnet.Config{
		NodeName:   os.Getenv("NODE_NAME"),
		PodSubnet:  subnet,
		CNIConfDir: "/etc/cni/net.d",
		ReadyFile:  readyFile,
		Client:     client,
		Net:        podnet.Exec{},
		Logger:     logger,
	})
}
