package workload

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/chaosgate/chaosgate/suites/workloads"
)

// SampleWorkload is the name of the bundled sample workload.
const SampleWorkload = "sample"

// SampleImage is the image the bundled workloads run; the gate builds it.
const SampleImage = "chaosgate.local/sampleapp:v1"

// Object is one Kubernetes object of a workload with where it came from.
type Object struct {
	*unstructured.Unstructured
	// Pos is "file:line" of the document's first line.
	Pos string
}

// Workload is a validated set of manifests plus the target the gate
// exercises.
type Workload struct {
	// Source is the folder (or "sample" for the bundled one).
	Source  string
	Objects []Object
	// Target is the Service the load goes through and the Deployment
	// behind it.
	Service    *corev1.Service
	Deployment *appsv1.Deployment
	// Port is the Service port the load targets.
	Port corev1.ServicePort
	// Live is a workload read from the cluster (FromCluster), not
	// manifests the gate deploys.
	Live bool
}

// Selector returns the label selector of the target's pods.
func (w *Workload) Selector() string {
	return labels.SelectorFromSet(w.Service.Spec.Selector).String()
}

// ValidationError names the file position and field at fault.
type ValidationError struct {
	Pos, Field, Msg string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Field, e.Msg)
}

// LoadWorkload reads every .yaml/.yml/.json file in dir (not recursive), or
// the bundled workload of that name when dir is "sample" or
// "bundled:NAME", and validates it for the target Service and port. An
// empty targetService picks the only Service; targetPort 0 picks the
// Service's only port.
func LoadWorkload(dir, targetService string, targetPort int) (*Workload, error) {
	var fsys fs.FS
	source := dir
	switch {
	case dir == SampleWorkload || strings.HasPrefix(dir, "bundled:"):
		name := strings.TrimPrefix(dir, "bundled:")
		if _, err := fs.Stat(workloads.FS, name); err != nil {
			return nil, &ValidationError{Pos: dir, Msg: "no bundled workload " + name}
		}
		sub, err := fs.Sub(workloads.FS, name)
		if err != nil {
			return nil, err
		}
		fsys = sub
	default:
		st, err := os.Stat(dir)
		if err != nil {
			return nil, &ValidationError{Pos: dir, Msg: "workload folder: " + err.Error()}
		}
		if !st.IsDir() {
			return nil, &ValidationError{Pos: dir, Msg: "workload must be a folder of Kubernetes YAML files"}
		}
		fsys = os.DirFS(dir)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, &ValidationError{Pos: source, Msg: err.Error()}
	}
	w := &Workload{Source: source}
	var names []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, &ValidationError{Pos: source, Msg: "no .yaml, .yml or .json files"}
	}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		objs, err := parseManifests(filepath.Join(source, n), data)
		if err != nil {
			return nil, err
		}
		w.Objects = append(w.Objects, objs...)
	}
	if err := w.pickTarget(targetService, targetPort); err != nil {
		return nil, err
	}
	return w, nil
}

// parseManifests splits a multi-document YAML file and decodes each
// document, remembering the line each starts on.
func parseManifests(file string, data []byte) ([]Object, error) {
	var out []Object
	for _, d := range splitDocs(data) {
		pos := fmt.Sprintf("%s:%d", file, d.line)
		if len(bytes.TrimSpace(stripComments(d.body))) == 0 {
			continue
		}
		jsonData, err := yaml.YAMLToJSON(d.body)
		if err != nil {
			// point at the offending line, not the document's first one
			if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
				if n, aerr := strconv.Atoi(m[1]); aerr == nil {
					pos = fmt.Sprintf("%s:%d", file, d.line+n-1)
				}
			}
			return nil, &ValidationError{Pos: pos, Msg: "invalid YAML: " + err.Error()}
		}
		var m map[string]any
		if err := yaml.Unmarshal(jsonData, &m); err != nil || m == nil {
			return nil, &ValidationError{Pos: pos, Msg: "document is not a Kubernetes object"}
		}
		u := &unstructured.Unstructured{Object: m}
		switch {
		case u.GetAPIVersion() == "":
			return nil, &ValidationError{Pos: pos, Field: "apiVersion", Msg: "missing"}
		case u.GetKind() == "":
			return nil, &ValidationError{Pos: pos, Field: "kind", Msg: "missing"}
		case u.GetKind() == "List":
			return nil, &ValidationError{Pos: pos, Field: "kind", Msg: "List objects are not supported; write one document per object"}
		case u.GetName() == "":
			return nil, &ValidationError{Pos: pos, Field: "metadata.name", Msg: "missing"}
		}
		out = append(out, Object{Unstructured: u, Pos: pos})
	}
	return out, nil
}

var yamlLineRE = regexp.MustCompile(`yaml: line (\d+):`)

type doc struct {
	line int
	body []byte
}

func splitDocs(data []byte) []doc {
	var docs []doc
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	cur := doc{line: 1}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimPrefix(line, "---")) == "" {
			docs = append(docs, cur)
			cur = doc{line: n + 1}
			continue
		}
		if len(bytes.TrimSpace(cur.body)) == 0 && (strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#")) {
			// the document starts at its first meaningful line
			cur.line = n + 1
		}
		cur.body = append(cur.body, line...)
		cur.body = append(cur.body, '\n')
	}
	return append(docs, cur)
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l...)
		}
	}
	return out
}

// pickTarget finds the target Service, its port and the Deployment whose
// pods it selects.
func (w *Workload) pickTarget(service string, port int) error {
	var services, deployments []Object
	for _, o := range w.Objects {
		switch o.GetKind() {
		case "Service":
			services = append(services, o)
		case "Deployment":
			deployments = append(deployments, o)
		}
		if ns := o.GetNamespace(); ns == "kube-system" {
			return &ValidationError{Pos: o.Pos, Field: "metadata.namespace", Msg: "workloads must not go into kube-system"}
		}
	}
	if len(deployments) == 0 {
		return &ValidationError{Pos: w.Source, Msg: "workload has no Deployment"}
	}
	if len(services) == 0 {
		return &ValidationError{Pos: w.Source, Msg: "workload has no Service"}
	}
	var svcObj *Object
	switch {
	case service != "":
		for i := range services {
			if services[i].GetName() == service {
				svcObj = &services[i]
			}
		}
		if svcObj == nil {
			var names []string
			for _, s := range services {
				names = append(names, s.GetName())
			}
			return &ValidationError{Pos: w.Source, Field: "--target-service", Msg: fmt.Sprintf("no Service %q in the workload (it has: %s)", service, strings.Join(names, ", "))}
		}
	case len(services) == 1:
		svcObj = &services[0]
	default:
		return &ValidationError{Pos: w.Source, Field: "--target-service", Msg: fmt.Sprintf("the workload has %d Services; name the target", len(services))}
	}
	svc := &corev1.Service{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(svcObj.Object, svc); err != nil {
		return &ValidationError{Pos: svcObj.Pos, Msg: "Service: " + err.Error()}
	}
	if len(svc.Spec.Selector) == 0 {
		return &ValidationError{Pos: svcObj.Pos, Field: "spec.selector", Msg: "the target Service must select pods"}
	}
	if len(svc.Spec.Ports) == 0 {
		return &ValidationError{Pos: svcObj.Pos, Field: "spec.ports", Msg: "the target Service has no ports"}
	}
	switch {
	case port != 0:
		found := false
		for _, p := range svc.Spec.Ports {
			if int(p.Port) == port {
				w.Port, found = p, true
			}
		}
		if !found {
			return &ValidationError{Pos: svcObj.Pos, Field: "--target-port", Msg: fmt.Sprintf("Service %s has no port %d", svc.Name, port)}
		}
	case len(svc.Spec.Ports) == 1:
		w.Port = svc.Spec.Ports[0]
	default:
		return &ValidationError{Pos: svcObj.Pos, Field: "--target-port", Msg: fmt.Sprintf("Service %s has %d ports; name the target port", svc.Name, len(svc.Spec.Ports))}
	}
	if w.Port.Protocol != "" && w.Port.Protocol != corev1.ProtocolTCP {
		return &ValidationError{Pos: svcObj.Pos, Field: "spec.ports", Msg: "the target port must be TCP (HTTP load)"}
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	for _, d := range deployments {
		dep := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object, dep); err != nil {
			return &ValidationError{Pos: d.Pos, Msg: "Deployment: " + err.Error()}
		}
		if sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
			if w.Deployment != nil {
				return &ValidationError{Pos: d.Pos, Msg: fmt.Sprintf("Service %s selects the pods of two Deployments (%s and %s)", svc.Name, w.Deployment.Name, dep.Name)}
			}
			if dep.Spec.Selector == nil {
				return &ValidationError{Pos: d.Pos, Field: "spec.selector", Msg: "missing"}
			}
			if dep.Spec.Replicas != nil && *dep.Spec.Replicas < 1 {
				// nothing would serve the load, and no fault could hit anything
				return &ValidationError{Pos: d.Pos, Field: "spec.replicas", Msg: fmt.Sprintf("%d: the target needs at least one replica", *dep.Spec.Replicas)}
			}
			w.Deployment = dep
		}
	}
	if w.Deployment == nil {
		return &ValidationError{Pos: svcObj.Pos, Field: "spec.selector", Msg: fmt.Sprintf("Service %s selects no Deployment's pods (%s)", svc.Name, sel)}
	}
	if w.Port.TargetPort.Type == intstr.String && !containerHasPort(w.Deployment, w.Port.TargetPort.StrVal) {
		return &ValidationError{Pos: svcObj.Pos, Field: "spec.ports.targetPort", Msg: fmt.Sprintf("named port %q is not declared by Deployment %s", w.Port.TargetPort.StrVal, w.Deployment.Name)}
	}
	w.Service = svc
	return nil
}

func containerHasPort(d *appsv1.Deployment, name string) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// TargetContainerPort is the container port the target Service sends to:
// its targetPort, resolved by name among the Deployment's ports (the
// Service port itself when targetPort is unset).
func (w *Workload) TargetContainerPort() int {
	tp := w.Port.TargetPort
	switch {
	case tp.Type == intstr.String:
		for _, c := range w.Deployment.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == tp.StrVal {
					return int(p.ContainerPort)
				}
			}
		}
		return 0
	case tp.IntVal != 0:
		return int(tp.IntVal)
	}
	return int(w.Port.Port)
}

// Replicas returns the Deployment's desired replicas (1 when unset).
func (w *Workload) Replicas() int32 {
	if w.Deployment.Spec.Replicas == nil {
		return 1
	}
	return *w.Deployment.Spec.Replicas
}

// DefaultToleration is what the DefaultTolerationSeconds admission plugin
// gives pods that declare no toleration of a not-ready or unreachable node.
const DefaultToleration = 300 * time.Second

// UnreachableToleration is how long the target's pods stay bound to a node
// that became unreachable before they are evicted: their own NoExecute
// toleration of node.kubernetes.io/unreachable, or the admission default.
func (w *Workload) UnreachableToleration() time.Duration {
	return toleration(w.Deployment.Spec.Template.Spec.Tolerations, "node.kubernetes.io/unreachable")
}

// NotReadyToleration is the same for node.kubernetes.io/not-ready.
func (w *Workload) NotReadyToleration() time.Duration {
	return toleration(w.Deployment.Spec.Template.Spec.Tolerations, "node.kubernetes.io/not-ready")
}

// NeverEvicted is the toleration of pods that tolerate a taint for ever.
const NeverEvicted = time.Duration(math.MaxInt64)

// toleration is how long pods tolerate the NoExecute taint key, as the
// taint eviction controller reads their tolerations: the shortest
// tolerationSeconds among those that match, for ever when none of them sets
// one, and the admission default when none matches.
func toleration(ts []corev1.Toleration, key string) time.Duration {
	matched, shortest := false, NeverEvicted
	for _, t := range ts {
		if t.Effect != "" && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if t.Key != key && (t.Key != "" || t.Operator != corev1.TolerationOpExists) {
			continue
		}
		matched = true
		if t.TolerationSeconds != nil {
			shortest = min(shortest, time.Duration(max(*t.TolerationSeconds, 0))*time.Second)
		}
	}
	if !matched {
		return DefaultToleration
	}
	return shortest
}

// Budget is a PodDisruptionBudget of the workload.
type Budget struct {
	Name string
	// MinServing is the fewest pods it keeps serving at the Deployment's
	// replica count.
	MinServing int
	// SelectsTarget is false for a budget that selects none of the target's
	// pods (a label typo): it protects nothing, though the workload meant
	// it to.
	SelectsTarget bool
}

// DisruptionBudget returns the workload's PodDisruptionBudget for the
// target's pods: the one that selects them, or else the workload's only
// budget, which then protects nothing. ok is false without any budget.
func (w *Workload) DisruptionBudget() (b Budget, ok bool) {
	var all []Budget
	for _, o := range w.Objects {
		if o.GetKind() != "PodDisruptionBudget" {
			continue
		}
		pdb := &policyv1.PodDisruptionBudget{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, pdb); err != nil || pdb.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue
		}
		n := int(w.Replicas())
		b := Budget{Name: pdb.Name, SelectsTarget: sel.Matches(labels.Set(w.Deployment.Spec.Template.Labels))}
		switch {
		case pdb.Spec.MinAvailable != nil:
			v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, n, true)
			if err != nil {
				continue
			}
			b.MinServing = v
		case pdb.Spec.MaxUnavailable != nil:
			// the disruption controller rounds a percentage up here too
			v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, n, true)
			if err != nil {
				continue
			}
			b.MinServing = max(n-v, 0)
		default:
			continue
		}
		if b.SelectsTarget {
			return b, true
		}
		all = append(all, b)
	}
	if len(all) == 1 {
		return all[0], true
	}
	return Budget{}, false
}

// Digest is a hash of the workload's objects (their JSON, in file order):
// two runs with the same digest judged the same manifests.
func (w *Workload) Digest() string {
	h := sha256.New()
	for _, o := range w.Objects {
		data, _ := json.Marshal(o.Object)
		h.Write(data)
		h.Write([]byte{'\n'})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// ConfigMaps returns the names of the ConfigMaps the target's pods read
// (volumes, projected volumes, envFrom, env valueFrom), sorted, and which
// of them the workload itself declares.
func (w *Workload) ConfigMaps() (read []string, declared map[string]bool) {
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			read = append(read, n)
		}
	}
	spec := w.Deployment.Spec.Template.Spec
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			add(v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(s.ConfigMap.Name)
				}
			}
		}
	}
	for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				add(e.ConfigMapRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				add(e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	}
	sort.Strings(read)
	declared = map[string]bool{}
	for _, o := range w.Objects {
		if o.GetKind() == "ConfigMap" && o.GroupVersionKind().Group == "" {
			declared[o.GetName()] = true
		}
	}
	return read, declared
}

// DeploymentPos is the file position of the target Deployment's manifest.
func (w *Workload) DeploymentPos() string {
	for _, o := range w.Objects {
		if o.GetKind() == "Deployment" && o.GetName() == w.Deployment.Name {
			return o.Pos
		}
	}
	return w.Source
}
