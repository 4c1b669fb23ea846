package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
)

// ConfigChange sets keys of a ConfigMap the target's pods read, the first
// half of a configuration rollout (a Rollout of the Deployment, so the pods
// pick it up, is the second: Applied says when it may start). It is in
// effect when the target serves the new configuration: Served must say so
// servedStreak times in a row, over at least servedSpan, since each round
// reaches the pods behind the Service at random. A change is the intended
// state, like a good release: nothing is reverted, and the next run's apply
// (with ReleaseConfig) restores the workload's own data.
type ConfigChange struct {
	Client    kubernetes.Interface
	Namespace string
	ConfigMap string
	Data      map[string]string
	// Served asks the target once whether it serves the new configuration
	// (nil when it does). Asked before the change, it must not: a value
	// the target already shows proves nothing.
	Served func(ctx context.Context) error
	// Applied, if set, is called once the ConfigMap holds the new values.
	Applied func()
}

// servedStreak and servedSpan: how many rounds of Served in a row, and over
// how long at least, make the change in effect.
const (
	servedStreak = 3
	servedSpan   = time.Second
)

// Kind implements Fault.
func (c *ConfigChange) Kind() string { return "config-change" }

// SelfHealing implements SelfHealing: there is nothing to undo.
func (c *ConfigChange) SelfHealing() bool { return true }

// Describe implements Fault.
func (c *ConfigChange) Describe() string {
	return fmt.Sprintf("set %s in ConfigMap %s/%s", strings.Join(c.pairs(), ", "), c.Namespace, c.ConfigMap)
}

func (c *ConfigChange) pairs() []string {
	out := make([]string, 0, len(c.Data))
	for k, v := range c.Data {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Validate checks the parameters before anything is injected.
func (c *ConfigChange) Validate() error {
	if c.Client == nil || c.Namespace == "" || c.ConfigMap == "" || c.Served == nil {
		return errors.New("config change: a client, a namespace, a ConfigMap and a way to see it served are required")
	}
	if c.Namespace == "kube-system" {
		return errors.New("config change: refusing to touch kube-system")
	}
	if len(c.Data) == 0 {
		return errors.New("config change: no key to set")
	}
	for k := range c.Data {
		if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
			return fmt.Errorf("config change: key %q: %s", k, strings.Join(errs, "; "))
		}
	}
	return nil
}

// Plan implements Fault: the ConfigMap must exist; its current values of
// the keys are kept for the report.
func (c *ConfigChange) Plan(ctx context.Context) (Injection, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cm, err := c.Client.CoreV1().ConfigMaps(c.Namespace).Get(ctx, c.ConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &NoTargetError{Reason: fmt.Sprintf("ConfigMap %s/%s does not exist", c.Namespace, c.ConfigMap)}
	}
	if err != nil {
		return nil, fmt.Errorf("get ConfigMap %s/%s: %w", c.Namespace, c.ConfigMap, err)
	}
	if err := c.Served(ctx); err == nil {
		return nil, fmt.Errorf("the target already serves %s before the change, so seeing it served would prove nothing: choose values it does not show yet", strings.Join(c.pairs(), ", "))
	}
	previous := map[string]string{}
	for k := range c.Data {
		if v, ok := cm.Data[k]; ok {
			previous[k] = v
		}
	}
	return &configInjection{change: c, Namespace: c.Namespace, ConfigMap: c.ConfigMap, Data: c.Data, Previous: previous}, nil
}

type configInjection struct {
	change    *ConfigChange
	Namespace string            `json:"namespace"`
	ConfigMap string            `json:"configMap"`
	Data      map[string]string `json:"data"`
	Previous  map[string]string `json:"previous,omitempty"`
}

func (i *configInjection) Targets() []Target {
	return []Target{{Kind: "configmap", Namespace: i.Namespace, Name: i.ConfigMap}}
}

func (i *configInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

// Apply sets the keys with a server-side apply owned by RolloutFieldManager,
// which ReleaseConfig gives back.
func (i *configInjection) Apply(ctx context.Context) error {
	cm := corev1ac.ConfigMap(i.ConfigMap, i.Namespace).WithData(i.Data)
	_, err := i.change.Client.CoreV1().ConfigMaps(i.Namespace).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: RolloutFieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("set %s in ConfigMap %s/%s: %w", strings.Join(i.change.pairs(), ", "), i.Namespace, i.ConfigMap, err)
	}
	if i.change.Applied != nil {
		i.change.Applied()
	}
	return nil
}

// Verify waits until the target serves the new configuration, round after
// round.
func (i *configInjection) Verify(ctx context.Context) error {
	var last error
	streak := 0
	var since time.Time
	for {
		if last = i.change.Served(ctx); last != nil {
			streak = 0
		} else {
			if streak == 0 {
				since = time.Now()
			}
			if streak++; streak >= servedStreak && time.Since(since) >= servedSpan {
				return nil
			}
		}
		if last == nil {
			last = errors.New("served, but not yet in enough rounds in a row")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the new configuration was not served: %w", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Revert implements Injection: a configuration change is the intended
// state.
func (i *configInjection) Revert(context.Context) error { return nil }

// ReleaseConfig gives up every key an earlier config change set in the
// ConfigMap, so it goes unless the workload's own manifests set it too.
// Apply the workload first: it takes back the keys both set.
func ReleaseConfig(ctx context.Context, cs kubernetes.Interface, namespace, name string) error {
	// an apply creates what does not exist: only release what does
	_, err := cs.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get ConfigMap %s/%s: %w", namespace, name, err)
	}
	_, err = cs.CoreV1().ConfigMaps(namespace).Apply(ctx, corev1ac.ConfigMap(name, namespace),
		metav1.ApplyOptions{FieldManager: RolloutFieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("release the keys of earlier config changes in %s/%s: %w", namespace, name, err)
	}
	return nil
}
