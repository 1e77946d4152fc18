package plan

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func execProbe() *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
}

// withProbes gives the container name of pod the probes listed in kinds
// ("startup", "liveness", "readiness").
func withProbes(pod *corev1.Pod, name string, kinds ...string) {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name != name {
				continue
			}
			for _, k := range kinds {
				switch k {
				case "startup":
					list[i].StartupProbe = execProbe()
				case "liveness":
					list[i].LivenessProbe = execProbe()
				case "readiness":
					list[i].ReadinessProbe = execProbe()
				}
			}
		}
	}
}

// TestCompute_Probes: liveness and startup failures kill and restart a
// running container (as computePodActions); readiness never does; a
// sidecar's startup probe gates the containers after it.
func TestCompute_Probes(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	withSidecar := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "side", Image: "busybox", RestartPolicy: &always}, {Name: "init-b", Image: "busybox"}}
	}
	grace := int64(7)
	backoff := Backoff{Period: 20 * time.Second, LastRestart: t0.Add(-time.Hour)}
	cases := []struct {
		name   string
		pod    func(*corev1.Pod)
		policy corev1.RestartPolicy
		obs    map[string]*Container
		// terminating marks the pod as asked to stop.
		terminating bool
		want        Plan
	}{
		{
			name: "liveness failure: kill and restart at once, backoff untouched",
			pod:  func(p *corev1.Pod) { withProbes(p, "web", "liveness") },
			obs: map[string]*Container{
				"web": {Current: running("w1", t0), Probes: Probes{Liveness: ProbeFailure}, Backoff: backoff},
				"app": {Current: running("a1", t0)},
			},
			want: Plan{
				Kill:  []Kill{{Name: "web", ID: "w1", Reason: "Container web failed liveness probe, will be restarted"}},
				Start: []Start{{Name: "web", Reason: "Container web failed liveness probe, will be restarted", Backoff: backoff}},
			},
		},
		{
			name: "liveness failure with the probe's terminationGracePeriodSeconds",
			pod: func(p *corev1.Pod) {
				withProbes(p, "web", "liveness")
				p.Spec.Containers[0].LivenessProbe.TerminationGracePeriodSeconds = &grace
			},
			obs: map[string]*Container{"web": {Current: running("w1", t0), Probes: Probes{Liveness: ProbeFailure}}, "app": {Current: running("a1", t0)}},
			want: Plan{
				Kill:  []Kill{{Name: "web", ID: "w1", Reason: "Container web failed liveness probe, will be restarted", Grace: 7 * time.Second}},
				Start: []Start{{Name: "web", Reason: "Container web failed liveness probe, will be restarted"}},
			},
		},
		{
			name:   "liveness failure under Never: killed, not restarted",
			pod:    func(p *corev1.Pod) { withProbes(p, "web", "liveness") },
			policy: corev1.RestartPolicyNever,
			obs:    map[string]*Container{"web": {Current: running("w1", t0), Probes: Probes{Liveness: ProbeFailure}}, "app": {Current: running("a1", t0)}},
			want:   Plan{Kill: []Kill{{Name: "web", ID: "w1", Reason: "Container web failed liveness probe"}}},
		},
		{
			name:   "liveness failure under Never of the last running container ends the pod",
			pod:    func(p *corev1.Pod) { withProbes(p, "web", "liveness") },
			policy: corev1.RestartPolicyNever,
			obs: map[string]*Container{
				"web": {Current: running("w1", t0), Probes: Probes{Liveness: ProbeFailure}},
				"app": {Current: exited("a1", 0, t0.Add(-time.Minute), t0)},
			},
			want: Plan{KillPod: true},
		},
		{
			name: "startup failure: kill and restart",
			pod:  func(p *corev1.Pod) { withProbes(p, "app", "startup") },
			obs:  map[string]*Container{"web": {Current: running("w1", t0)}, "app": {Current: running("a1", t0), Probes: Probes{Startup: ProbeFailure}}},
			want: Plan{
				Kill:  []Kill{{Name: "app", ID: "a1", Reason: "Container app failed startup probe, will be restarted"}},
				Start: []Start{{Name: "app", Reason: "Container app failed startup probe, will be restarted"}},
			},
		},
		{
			name: "a failure of a probe the container does not have is ignored",
			obs:  map[string]*Container{"web": {Current: running("w1", t0), Probes: Probes{Liveness: ProbeFailure}}, "app": {Current: running("a1", t0)}},
			want: Plan{},
		},
		{
			name: "readiness failure never kills",
			pod:  func(p *corev1.Pod) { withProbes(p, "web", "readiness") },
			obs:  map[string]*Container{"web": {Current: running("w1", t0), Probes: Probes{Readiness: ProbeFailure}}, "app": {Current: running("a1", t0)}},
			want: Plan{},
		},
		{
			name:        "terminating: probe failures do not kill one by one, the pod is killed",
			pod:         func(p *corev1.Pod) { withProbes(p, "web", "liveness") },
			terminating: true,
			obs:         map[string]*Container{"web": {Current: running("w1", t0), Probes: Probes{Liveness: ProbeFailure}}, "app": {Current: running("a1", t0)}},
			want:        Plan{KillPod: true},
		},
		{
			name: "sidecar with a startup probe and no result yet: the next init container waits",
			pod:  func(p *corev1.Pod) { withSidecar(p); withProbes(p, "side", "startup") },
			obs:  map[string]*Container{"side": {Current: running("s1", t0)}},
			want: Plan{},
		},
		{
			name: "sidecar whose startup probe succeeded: the next init container starts",
			pod:  func(p *corev1.Pod) { withSidecar(p); withProbes(p, "side", "startup") },
			obs:  map[string]*Container{"side": {Current: running("s1", t0), Probes: Probes{Startup: ProbeSuccess}}},
			want: Plan{Start: []Start{{Name: "init-b", Reason: "init container init-b has not run yet"}}},
		},
		{
			name:   "sidecar startup failure: killed and restarted even under Never",
			pod:    func(p *corev1.Pod) { withSidecar(p); withProbes(p, "side", "startup") },
			policy: corev1.RestartPolicyNever,
			obs:    map[string]*Container{"side": {Current: running("s1", t0), Probes: Probes{Startup: ProbeFailure}}},
			want: Plan{
				Kill:  []Kill{{Name: "side", ID: "s1", Reason: "Container side failed startup probe, will be restarted"}},
				Start: []Start{{Name: "side", Reason: "Container side failed startup probe, will be restarted"}},
			},
		},
		{
			name: "sidecar liveness is not waited for: the next init container starts",
			pod:  func(p *corev1.Pod) { withSidecar(p); withProbes(p, "side", "liveness") },
			obs:  map[string]*Container{"side": {Current: running("s1", t0)}},
			want: Plan{Start: []Start{{Name: "init-b", Reason: "init container init-b has not run yet"}}},
		},
		{
			name: "initialized: sidecar liveness failure kills and restarts it",
			pod:  func(p *corev1.Pod) { withSidecar(p); withProbes(p, "side", "liveness") },
			obs: map[string]*Container{
				"side":   {Current: running("s1", t0), Probes: Probes{Liveness: ProbeFailure}},
				"init-b": {Current: exited("i2", 0, t0.Add(-time.Minute), t0)},
				"web":    {Current: running("w1", t0)}, "app": {Current: running("a1", t0)},
			},
			want: Plan{
				Kill:  []Kill{{Name: "side", ID: "s1", Reason: "Container side failed liveness probe, will be restarted"}},
				Start: []Start{{Name: "side", Reason: "Container side failed liveness probe, will be restarted"}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			if tc.pod != nil {
				tc.pod(pod)
			}
			if tc.policy != "" {
				pod.Spec.RestartPolicy = tc.policy
			}
			obs := &Observed{Containers: tc.obs, Terminating: tc.terminating}
			got := Compute(pod, obs, t0)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Compute:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestStatus_Probes: started follows the startup probe, ready the
// readiness probe (not ready before its first result), and the conditions
// follow them; a sidecar not yet started keeps the pod uninitialized.
func TestStatus_Probes(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	type want struct {
		started, ready bool
		initialized    bool
		podReady       bool
	}
	cases := []struct {
		name    string
		sidecar bool
		kinds   []string
		probes  Probes
		want    want
	}{
		{name: "no probes: started and ready once running", want: want{started: true, ready: true, initialized: true, podReady: true}},
		{name: "readiness without a result: started, not ready", kinds: []string{"readiness"}, want: want{started: true, initialized: true}},
		{name: "readiness success: ready", kinds: []string{"readiness"}, probes: Probes{Readiness: ProbeSuccess}, want: want{started: true, ready: true, initialized: true, podReady: true}},
		{name: "readiness failure: not ready", kinds: []string{"readiness"}, probes: Probes{Readiness: ProbeFailure}, want: want{started: true, initialized: true}},
		{name: "startup without a result: neither started nor ready", kinds: []string{"startup"}, want: want{initialized: true}},
		{name: "startup success: started and ready", kinds: []string{"startup"}, probes: Probes{Startup: ProbeSuccess}, want: want{started: true, ready: true, initialized: true, podReady: true}},
		{name: "startup pending gates readiness success", kinds: []string{"startup", "readiness"}, probes: Probes{Readiness: ProbeSuccess}, want: want{initialized: true}},
		{name: "liveness failure alone changes neither", kinds: []string{"liveness"}, probes: Probes{Liveness: ProbeFailure}, want: want{started: true, ready: true, initialized: true, podReady: true}},
		{name: "sidecar without startup success: not initialized", sidecar: true, kinds: []string{"startup"}, want: want{}},
		{name: "sidecar with startup success: initialized", sidecar: true, kinds: []string{"startup"}, probes: Probes{Startup: ProbeSuccess}, want: want{started: true, ready: true, initialized: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			obs := &Observed{Containers: map[string]*Container{}}
			name := "web"
			if tc.sidecar {
				name = "side"
				pod.Spec.InitContainers = []corev1.Container{{Name: "side", Image: "busybox", RestartPolicy: &always}}
			} else {
				obs.Containers["app"] = &Container{Current: running("a1", t0)}
			}
			withProbes(pod, name, tc.kinds...)
			obs.Containers[name] = &Container{Current: running("x1", t0), Probes: tc.probes}
			st := Status(pod, obs, true)
			var cs *corev1.ContainerStatus
			for _, s := range append(st.InitContainerStatuses, st.ContainerStatuses...) {
				if s.Name == name {
					cs = &s
				}
			}
			cond := map[corev1.PodConditionType]bool{}
			for _, c := range st.Conditions {
				cond[c.Type] = c.Status == corev1.ConditionTrue
			}
			got := want{started: *cs.Started, ready: cs.Ready, initialized: cond[corev1.PodInitialized], podReady: cond[corev1.PodReady]}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if cond[corev1.ContainersReady] != cond[corev1.PodReady] {
				t.Errorf("ContainersReady %v != Ready %v", cond[corev1.ContainersReady], cond[corev1.PodReady])
			}
		})
	}
}
