package suites

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/chaosgate/chaosgate/suites/workload"
)

// maxUnavailable must agree with the Deployment controller, or min-serving
// judges a promise the strategy never made.
func TestMaxUnavailableMatchesTheDeploymentController(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	n := func(i int) *intstr.IntOrString { v := intstr.FromInt32(int32(i)); return &v }
	for _, c := range []struct {
		name            string
		replicas        int32
		strategy        appsv1.DeploymentStrategy
		wantUnavailable int
	}{
		{"defaults 25%/25% of 3: 0 down, surge 1", 3, appsv1.DeploymentStrategy{}, 0},
		{"defaults of 4", 4, appsv1.DeploymentStrategy{}, 1},
		{"maxUnavailable 0", 3, appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: n(0), MaxSurge: n(1)}}, 0},
		{"both 0 lets one go", 3, appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: n(0), MaxSurge: n(0)}}, 1},
		{"both round to 0 lets one go", 3, appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: pct("10%"), MaxSurge: n(0)}}, 1},
		{"percent rounds down", 3, appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: pct("50%")}}, 1},
		{"more than the replicas", 3, appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: n(5)}}, 3},
		{"Recreate takes all", 3, appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, 3},
	} {
		w := &workload.Workload{Deployment: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(c.replicas), Strategy: c.strategy}}}
		if got := maxUnavailable(w); got != c.wantUnavailable {
			t.Errorf("%s: maxUnavailable = %d, want %d", c.name, got, c.wantUnavailable)
		}
	}
}
