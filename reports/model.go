// Package reports holds the model of a chaosgate run (scenarios, fault
// events, recovery times, SLO checks with measured values) and renders it
// as JSON, JUnit XML and Markdown. Renderers only render: every number is
// computed before it reaches this package.
package reports

import (
	"fmt"
	"time"
)

// SchemaVersion of report.json; bumped on incompatible changes. Version 2:
// a check's measured value is null when nothing could be measured (with
// measuredText saying why), a recovery's seconds are null when it never
// recovered, faults carry their stage, targets and effect latency.
const SchemaVersion = 2

// Status of a run or scenario.
type Status string

// Statuses. A run is "error" when the infrastructure failed before the
// SLOs could be judged; "failed" when an SLO was breached; "interrupted"
// when a signal stopped it (active faults were reverted first).
const (
	StatusRunning     Status = "running"
	StatusPassed      Status = "passed"
	StatusFailed      Status = "failed"
	StatusError       Status = "error"
	StatusInterrupted Status = "interrupted"
	StatusSkipped     Status = "skipped"
)

// Report is one run of the gate.
type Report struct {
	SchemaVersion int        `json:"schemaVersion"`
	Run           Run        `json:"run"`
	Scenarios     []Scenario `json:"scenarios"`
}

// Run describes the run as a whole.
type Run struct {
	ID       string    `json:"id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Status   Status    `json:"status"`
	// Error is the infrastructure failure, when Status is "error".
	Error    string   `json:"error,omitempty"`
	Cluster  string   `json:"cluster"`
	Context  string   `json:"context"`
	Workload string   `json:"workload"`
	Target   string   `json:"target"`
	Command  []string `json:"command,omitempty"`
	// Version is chaosgate's; KubernetesVersion the cluster's (its API
	// server's); WorkloadDigest a hash of the workload's manifests, so two
	// runs can be told to have judged the same thing.
	Version           string `json:"version,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	WorkloadDigest    string `json:"workloadDigest,omitempty"`
	// Skipped are the suites the workload gave nothing to test.
	Skipped []SkippedSuite `json:"skipped,omitempty"`
}

// SkippedSuite is a suite left out of a run, and why.
type SkippedSuite struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Scenario is one suite's run: load, faults, recovery, checks.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Notes say what the scenario measured or decided before its load
	// (a load derived from a calibration, say).
	Notes      []string   `json:"notes,omitempty"`
	Labels     []string   `json:"labels,omitempty"`
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished,omitzero"`
	Status     Status     `json:"status"`
	Error      string     `json:"error,omitempty"`
	Load       Load       `json:"load"`
	Timeline   Timeline   `json:"timeline"`
	Faults     []Fault    `json:"faults"`
	Recoveries []Recovery `json:"recoveries"`
	// Replicas is the target's serving/desired replicas at every change.
	Replicas []ReplicaPoint `json:"replicas,omitempty"`
	// Revisions is how many pods of each revision (ReplicaSet, by pod
	// template hash) serve, at every change: old and new side by side
	// during a rollout.
	Revisions []RevisionPoint `json:"revisions,omitempty"`
	// Nodes is every node's state at every change.
	Nodes []NodePoint `json:"nodes,omitempty"`
	// Usage is CPU and memory of the target's pods and of each node over
	// time, from the metrics API.
	Usage []UsagePoint `json:"usage,omitempty"`
	// PodTraffic is how the requests the pods themselves counted (their
	// own metrics endpoint) spread over them; PodRates each pod's rate
	// over time.
	PodTraffic []PodTraffic   `json:"podTraffic,omitempty"`
	PodRates   []PodRatePoint `json:"podRates,omitempty"`
	// HPA is every state of the target's HorizontalPodAutoscalers, at each
	// change; HPAEvents their events during the run.
	HPA       []HPAPoint `json:"hpa,omitempty"`
	HPAEvents []HPAEvent `json:"hpaEvents,omitempty"`
	// MetricsProblems names metric sources that did not answer, and why.
	MetricsProblems map[string]string `json:"metricsProblems,omitempty"`
	Checks          []Check           `json:"checks"`
	// ResultsFile is the raw per-request results (JSON lines), relative to
	// the report folder.
	ResultsFile string `json:"resultsFile,omitempty"`
}

// UsagePoint is one sample of the metrics API; T is seconds from load
// start.
type UsagePoint struct {
	T float64 `json:"t"`
	// Pods is how many target pods reported; their CPU (millicores) and
	// memory (MiB), summed.
	Pods          int     `json:"pods"`
	PodsCPUMilli  float64 `json:"podsCpuMilli"`
	PodsMemoryMiB float64 `json:"podsMemoryMiB"`
	// NodesCPUMilli is each node's CPU.
	NodesCPUMilli map[string]float64 `json:"nodesCpuMilli,omitempty"`
}

// HPAPoint is an autoscaler's state from T (seconds from load start) on.
type HPAPoint struct {
	T          float64           `json:"t"`
	Name       string            `json:"name"`
	Min        int32             `json:"min"`
	Max        int32             `json:"max"`
	Current    int32             `json:"current"`
	Desired    int32             `json:"desired"`
	Metrics    []string          `json:"metrics,omitempty"`
	Conditions map[string]string `json:"conditions,omitempty"`
}

// HPAEvent is an event an autoscaler recorded.
type HPAEvent struct {
	T       float64 `json:"t"`
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Reason  string  `json:"reason"`
	Message string  `json:"message"`
}

// PodTraffic is one pod's own count of the requests it served during the
// run, and its share of all the pods counted.
type PodTraffic struct {
	Pod      string  `json:"pod"`
	Requests float64 `json:"requests"`
	Errors   float64 `json:"errors"`
	Share    float64 `json:"share"`
	// P99MS is the p99 latency by the pod's own histogram (estimated
	// within its buckets); absent without one.
	P99MS *float64 `json:"p99Ms,omitempty"`
}

// PodRatePoint is one pod's request rate between two scrapes ending at T.
type PodRatePoint struct {
	T            float64 `json:"t"`
	Pod          string  `json:"pod"`
	RPS          float64 `json:"rps"`
	ErrorsPerSec float64 `json:"errorsPerSec"`
}

// Load is the load that was asked for.
type Load struct {
	Target          string  `json:"target"`
	Rate            int     `json:"rate"`
	RampTo          int     `json:"rampTo,omitempty"`
	DurationSeconds float64 `json:"durationSeconds"`
	TimeoutSeconds  float64 `json:"timeoutSeconds"`
	KeepAlive       bool    `json:"keepAlive"`
	Method          string  `json:"method,omitempty"`
	// Agents is how many pods in the cluster sent the load (0: this
	// machine did).
	Agents int `json:"agents,omitempty"`
	// Phases is the load's profile, when it had one (then Rate is its
	// peak).
	Phases []LoadPhase `json:"phases,omitempty"`
	// None: no load was generated; real traffic, as the target's pods
	// counted it, was the signal.
	None bool `json:"none,omitempty"`
	// EndedSeconds is when the load ended, from its start, when that was
	// before its duration (the target was back: see the notes).
	EndedSeconds float64 `json:"endedSeconds,omitempty"`
}

// Seconds is how long the load ran: its duration, or less when it ended
// early.
func (l Load) Seconds() float64 {
	if l.EndedSeconds > 0 && l.EndedSeconds < l.DurationSeconds {
		return l.EndedSeconds
	}
	return l.DurationSeconds
}

// LoadPhase is one stretch of a load profile.
type LoadPhase struct {
	StartSeconds    float64 `json:"startSeconds"`
	DurationSeconds float64 `json:"durationSeconds"`
	Rate            int     `json:"rate"`
	RampTo          int     `json:"rampTo,omitempty"`
}

// Timeline summarizes what the load saw.
type Timeline struct {
	Total           int          `json:"total"`
	OK              int          `json:"ok"`
	Failed          int          `json:"failed"`
	Availability    float64      `json:"availability"`
	TargetRate      float64      `json:"targetRate"`
	AchievedRate    float64      `json:"achievedRate"`
	LatencyMS       Latency      `json:"latencyMs"`
	FailedIntervals []Interval   `json:"failedIntervals"`
	LongestFailure  Interval     `json:"longestFailure"`
	TopErrors       []ErrorCount `json:"topErrors,omitempty"`
	// WindowSeconds is the width of each entry of Windows.
	WindowSeconds float64  `json:"windowSeconds"`
	Windows       []Window `json:"windows"`
}

// Latency percentiles in milliseconds, exact (nearest rank).
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Interval is a stretch of failed requests, in seconds from load start.
type Interval struct {
	Start           float64 `json:"start"`
	End             float64 `json:"end"`
	DurationSeconds float64 `json:"durationSeconds"`
	Failed          int     `json:"failed"`
}

// ErrorCount is a failure message and its count.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int    `json:"count"`
}

// Window is one slice of the timeline; T is seconds from load start.
type Window struct {
	T            float64 `json:"t"`
	Total        int     `json:"total"`
	OK           int     `json:"ok"`
	Availability float64 `json:"availability"`
	P50MS        float64 `json:"p50Ms"`
	P95MS        float64 `json:"p95Ms"`
	P99MS        float64 `json:"p99Ms"`
}

// Fault is one injection on the timeline.
type Fault struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Description  string    `json:"description"`
	Targets      []string  `json:"targets"`
	Issued       time.Time `json:"issued"`
	InEffect     time.Time `json:"inEffect,omitzero"`
	RevertIssued time.Time `json:"revertIssued,omitzero"`
	Reverted     time.Time `json:"reverted,omitzero"`
	// Offset is Issued in seconds from load start, for charts.
	Offset     float64 `json:"offset"`
	TookEffect bool    `json:"tookEffect"`
	// EffectSeconds is the time from issue to the observed effect.
	EffectSeconds float64 `json:"effectSeconds,omitempty"`
	// Stage and Error say where the injection went wrong: "plan" (nothing
	// to hit), "apply", or "verify" (not observed in effect in time).
	Stage       string `json:"stage,omitempty"`
	Error       string `json:"error,omitempty"`
	RevertError string `json:"revertError,omitempty"`
}

// Recovery outcomes.
const (
	Recovered      = "recovered"
	NeverRecovered = "never"
	// NotApplicable: the fault was never applied, so there was nothing to
	// recover from.
	NotApplicable = "not-applicable"
)

// Recovery is how long the workload took to be whole again after a fault.
type Recovery struct {
	FaultID   string    `json:"faultId"`
	Issued    time.Time `json:"issued"`
	Recovered time.Time `json:"recovered,omitzero"`
	// Outcome is "recovered", "never" or "not-applicable".
	Outcome string `json:"outcome"`
	// Seconds from Issued to Recovered; null unless it recovered.
	Seconds *float64 `json:"seconds"`
}

// ReplicaPoint is the target's readiness at T seconds from load start:
// Ready counts pods that serve (Ready and not terminating).
type ReplicaPoint struct {
	T       float64 `json:"t"`
	Ready   int     `json:"ready"`
	Desired int     `json:"desired"`
}

// RevisionPoint is how many pods of one revision serve from T on.
type RevisionPoint struct {
	T        float64 `json:"t"`
	Revision string  `json:"revision"`
	Serving  int     `json:"serving"`
}

// NodePoint is one node's state at T seconds from load start.
type NodePoint struct {
	T    float64 `json:"t"`
	Node string  `json:"node"`
	// Ready is the node's Ready condition: "True", "False" or "Unknown".
	Ready       string `json:"ready"`
	Schedulable bool   `json:"schedulable"`
}

// Check is one SLO check: a measured value against a threshold.
type Check struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Comparator string  `json:"comparator"`
	Threshold  float64 `json:"threshold"`
	// Measured is null when nothing could be measured (a workload that
	// never recovered has no recovery time); MeasuredText then says what
	// was seen instead ("never").
	Measured     *float64 `json:"measured"`
	MeasuredText string   `json:"measuredText,omitempty"`
	Unit         string   `json:"unit"`
	Passed       bool     `json:"passed"`
	Detail       string   `json:"detail,omitempty"`
	// Scope says who can fix a breach: "workload" (the default) or
	// "cluster" (the control plane's settings decide it).
	Scope string `json:"scope,omitempty"`
	// Skipped is true when the run could not judge the check (its budget
	// did not cover what the check needs); Detail says why.
	Skipped bool `json:"skipped,omitempty"`
}

// Scopes of a check.
const (
	ScopeWorkload = "workload"
	ScopeCluster  = "cluster"
)

// NotJudged is a check the run could not judge, with the reason.
func NotJudged(id, name, reason string) Check {
	return Check{ID: id, Name: name, Skipped: true, Passed: true, Detail: reason}
}

// AtLeast is a check that passes when measured >= threshold.
func AtLeast(id, name string, measured, threshold float64, unit string) Check {
	return Check{ID: id, Name: name, Comparator: ">=", Threshold: threshold, Measured: &measured, Unit: unit, Passed: measured >= threshold}
}

// AtMost is a check that passes when measured <= threshold.
func AtMost(id, name string, measured, threshold float64, unit string) Check {
	return Check{ID: id, Name: name, Comparator: "<=", Threshold: threshold, Measured: &measured, Unit: unit, Passed: measured <= threshold}
}

// Unmeasured is a failed check with nothing to measure; text says what was
// seen instead ("never").
func Unmeasured(id, name, comparator string, threshold float64, unit, text string) Check {
	return Check{ID: id, Name: name, Comparator: comparator, Threshold: threshold, Unit: unit, MeasuredText: text}
}

// MeasuredValue renders the measured value for humans ("99.500%",
// "never").
func (c Check) MeasuredValue() string {
	if c.Measured == nil {
		if c.MeasuredText == "" {
			return "not measured"
		}
		return c.MeasuredText
	}
	return FormatValue(*c.Measured, c.Unit)
}

// Message says in one line how the check came out.
func (c Check) Message() string {
	if c.Skipped {
		return fmt.Sprintf("SKIP: %s not judged: %s", c.Name, c.Detail)
	}
	verdict := "PASS"
	if !c.Passed {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("%s: %s measured %s, threshold %s %s", verdict, c.Name, c.MeasuredValue(), c.Comparator, FormatValue(c.Threshold, c.Unit))
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// FormatValue renders a value with its unit for humans.
func FormatValue(v float64, unit string) string {
	switch unit {
	case "%":
		return fmt.Sprintf("%.3f%%", v)
	case "s":
		return fmt.Sprintf("%.2fs", v)
	case "ms":
		return fmt.Sprintf("%.1fms", v)
	case "":
		return fmt.Sprintf("%g", v)
	default:
		return fmt.Sprintf("%g %s", v, unit)
	}
}

// Finish sets the scenario status from its checks and error.
func (s *Scenario) Finish(now time.Time) {
	s.Finished = now
	switch {
	case s.Error != "":
		s.Status = StatusError
	case s.FailedChecks() > 0:
		s.Status = StatusFailed
	case len(s.Checks) == 0:
		// a scenario that judged nothing cannot pass
		s.Status = StatusError
		s.Error = "no check was evaluated"
	default:
		s.Status = StatusPassed
	}
}

// FailedChecks counts checks that did not pass.
func (s Scenario) FailedChecks() int {
	n := 0
	for _, c := range s.Checks {
		if !c.Passed {
			n++
		}
	}
	return n
}

// Finish closes the run with its verdict (from the suite's own report).
func (r *Report) Finish(now time.Time, status Status) {
	r.Run.Finished = now
	r.Run.Status = status
}

// BreachedChecks lists the failed checks as "scenario: check".
func (r Report) BreachedChecks() []string {
	var out []string
	for _, s := range r.Scenarios {
		for _, c := range s.Checks {
			if !c.Passed {
				out = append(out, s.Name+": "+c.Name)
			}
		}
	}
	return out
}
