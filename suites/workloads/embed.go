// Package workloads holds the bundled workloads: the sample app, healthy,
// and its deliberately broken variants the negative controls deploy. Each
// folder is a workload as users write theirs: Kubernetes YAML.
package workloads

import "embed"

// FS holds one folder per bundled workload.
//
//go:embed */*.yaml
var FS embed.FS
