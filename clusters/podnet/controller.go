package podnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Config of the podnet daemon on one node.
type Config struct {
	NodeName string
	// PodSubnet is the cluster's whole pod range (kind's networking.podSubnet).
	PodSubnet netip.Prefix
	// CNIConfDir receives the CNI configuration (/etc/cni/net.d on the node).
	CNIConfDir string
	// ReadyFile is touched after every successful sync; the readiness probe
	// checks its age.
	ReadyFile string
	// Resync is how often routes are re-checked even without node events:
	// a restarted node container loses its routes without any event.
	Resync time.Duration
	MTU    int
	Client kubernetes.Interface
	Net    NetOps
	Logger *slog.Logger
}

// CNIFile is the name of the configuration file podnet writes.
const CNIFile = "10-podnet.conflist"

// Run keeps the node's pod network in sync until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.NodeName == "" {
		return errors.New("podnet: node name is empty (set NODE_NAME from the downward API)")
	}
	if !cfg.PodSubnet.IsValid() {
		return errors.New("podnet: pod subnet is not set")
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	factory := informers.NewSharedInformerFactory(cfg.Client, 0)
	nodeInformer := factory.Core().V1().Nodes()
	trigger := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    poke,
		UpdateFunc: func(_, n any) { poke(n) },
		DeleteFunc: poke,
	}); err != nil {
		return err
	}
	lister := nodeInformer.Lister()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nodeInformer.Informer().HasSynced) {
		return ctx.Err()
	}
	s := &syncer{cfg: cfg}
	ticker := time.NewTicker(cfg.Resync)
	defer ticker.Stop()
	for {
		ptrs, err := lister.List(labels.Everything())
		if err == nil {
			nodes := make([]corev1.Node, len(ptrs))
			for i, n := range ptrs {
				nodes[i] = *n
			}
			if err := s.Sync(ctx, nodes); err != nil {
				cfg.Logger.Error("sync failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-trigger:
		case <-ticker.C:
		}
	}
}

type syncer struct {
	cfg Config
}

// Sync brings the node in line with the nodes given: CNI config for its own
// podCIDR, masquerade, and routes to the others' podCIDRs.
func (s *syncer) Sync(ctx context.Context, nodes []corev1.Node) error {
	cfg := s.cfg
	own, err := OwnPodCIDR(nodes, cfg.NodeName)
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(cfg.CNIConfDir, CNIFile), []byte(CNIConfig(own, cfg.MTU))); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	if err := cfg.Net.EnsureMasquerade(ctx, cfg.PodSubnet); err != nil {
		return fmt.Errorf("masquerade: %w", err)
	}
	current, err := cfg.Net.Routes(ctx)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	replace, remove := DiffRoutes(current, DesiredRoutes(nodes, cfg.NodeName))
	var errs []error
	for _, r := range replace {
		if err := cfg.Net.ReplaceRoute(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Logger.Info("route set", "route", r.String())
	}
	for _, r := range remove {
		if err := cfg.Net.DeleteRoute(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Logger.Info("route removed", "route", r.String())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if cfg.ReadyFile != "" {
		return os.WriteFile(cfg.ReadyFile, []byte(time.Now().UTC().Format(time.RFC3339)), 0o644)
	}
	return nil
}

// writeIfChanged replaces path atomically when its content differs, so the
// container runtime never reads a half-written CNI config.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CheckReady reports whether the ready file was written within maxAge.
func CheckReady(path string, maxAge time.Duration) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("not synced yet: %w", err)
	}
	if age := time.Since(st.ModTime()); age > maxAge {
		return fmt.Errorf("last successful sync %s ago", age.Round(time.Second))
	}
	return nil
}
