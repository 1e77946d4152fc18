package plan

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// initPod is basePod with a regular init container "init" and a native
// sidecar "side" before the regular containers "web" and "app".
func initPod(policy corev1.RestartPolicy) *corev1.Pod {
	pod := basePod()
	pod.Spec.RestartPolicy = policy
	always := corev1.ContainerRestartPolicyAlways
	pod.Spec.InitContainers = []corev1.Container{
		{Name: "init", Image: "busybox"},
		{Name: "side", Image: "busybox", RestartPolicy: &always},
	}
	return pod
}

func TestStatus_InitAndSidecars(t *testing.T) {
	started := t0.Add(-time.Minute)
	run := func(id string) *Container { return &Container{Current: running(id, started)} }
	exit := func(id string, code int32) *Container { return &Container{Current: exited(id, code, started, t0)} }
	crash := func(id string) *Container {
		return &Container{Current: exited(id, 1, started, t0), RestartCount: 2, Waiting: &Waiting{Reason: "CrashLoopBackOff"}}
	}
	type want struct {
		phase       corev1.PodPhase
		initialized corev1.ConditionStatus
		initMsg     string
		ready       corev1.ConditionStatus
		readyMsg    string
		initState   string // "running", "waiting:<reason>", "terminated:<reason>"
		sideReady   bool
		webState    string
		sideStarted bool
	}
	cases := []struct {
		name   string
		policy corev1.RestartPolicy
		obs    map[string]*Container
		want   want
	}{
		{
			name: "init running: Pending, not initialized, everything after waits in PodInitializing", policy: corev1.RestartPolicyAlways,
			obs: map[string]*Container{"init": run("i")},
			want: want{phase: corev1.PodPending, initialized: corev1.ConditionFalse, initMsg: "containers with incomplete status: [init side]",
				ready: corev1.ConditionFalse, readyMsg: "containers with unready status: [side web app]",
				initState: "running", webState: "waiting:PodInitializing"},
		},
		{
			name: "init done, sidecar started, mains not created yet: initialized, sidecar ready", policy: corev1.RestartPolicyAlways,
			obs: map[string]*Container{"init": exit("i", 0), "side": run("s")},
			want: want{phase: corev1.PodPending, initialized: corev1.ConditionTrue,
				ready: corev1.ConditionFalse, readyMsg: "containers with unready status: [web app]",
				initState: "terminated:Completed", sideReady: true, sideStarted: true, webState: "waiting:PodInitializing"},
		},
		{
			name: "init failed under Never: Failed", policy: corev1.RestartPolicyNever,
			obs: map[string]*Container{"init": exit("i", 3)},
			want: want{phase: corev1.PodFailed, initialized: corev1.ConditionFalse, initMsg: "containers with incomplete status: [init side]",
				ready: corev1.ConditionFalse, initState: "terminated:Error", webState: "waiting:PodInitializing"},
		},
		{
			name: "init crash-looping under OnFailure: still Pending", policy: corev1.RestartPolicyOnFailure,
			obs: map[string]*Container{"init": crash("i")},
			want: want{phase: corev1.PodPending, initialized: corev1.ConditionFalse, initMsg: "containers with incomplete status: [init side]",
				ready: corev1.ConditionFalse, readyMsg: "containers with unready status: [side web app]",
				initState: "waiting:CrashLoopBackOff", webState: "waiting:PodInitializing"},
		},
		{
			name: "all running: Running and ready, the sidecar counted", policy: corev1.RestartPolicyAlways,
			obs: map[string]*Container{"init": exit("i", 0), "side": run("s"), "web": run("w"), "app": run("a")},
			want: want{phase: corev1.PodRunning, initialized: corev1.ConditionTrue, ready: corev1.ConditionTrue,
				initState: "terminated:Completed", sideReady: true, sideStarted: true, webState: "running"},
		},
		{
			name: "Job done, sidecar killed with 143: Succeeded on the mains' exit codes alone", policy: corev1.RestartPolicyNever,
			obs: map[string]*Container{"init": exit("i", 0), "side": exit("s", 143), "web": exit("w", 0), "app": exit("a", 0)},
			want: want{phase: corev1.PodSucceeded, initialized: corev1.ConditionTrue, ready: corev1.ConditionFalse,
				initState: "terminated:Completed", webState: "terminated:Completed"},
		},
		{
			name: "Job with a failed main: Failed whatever the sidecar did", policy: corev1.RestartPolicyNever,
			obs: map[string]*Container{"init": exit("i", 0), "side": exit("s", 0), "web": exit("w", 0), "app": exit("a", 1)},
			want: want{phase: corev1.PodFailed, initialized: corev1.ConditionTrue, ready: corev1.ConditionFalse,
				initState: "terminated:Completed", webState: "terminated:Completed"},
		},
		{
			name: "sidecar crash-looping after the mains started: Running, Initialized stays True", policy: corev1.RestartPolicyAlways,
			obs: map[string]*Container{"init": exit("i", 0), "side": crash("s"), "web": run("w"), "app": run("a")},
			want: want{phase: corev1.PodRunning, initialized: corev1.ConditionTrue,
				ready: corev1.ConditionFalse, readyMsg: "containers with unready status: [side]",
				initState: "terminated:Completed", webState: "running"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := Status(initPod(tc.policy), &Observed{Containers: tc.obs}, true)
			if st.Phase != tc.want.phase {
				t.Errorf("phase = %s, want %s", st.Phase, tc.want.phase)
			}
			conds := map[corev1.PodConditionType]corev1.PodCondition{}
			for _, c := range st.Conditions {
				conds[c.Type] = c
			}
			if c := conds[corev1.PodInitialized]; c.Status != tc.want.initialized || c.Message != tc.want.initMsg {
				t.Errorf("Initialized = %s %q, want %s %q", c.Status, c.Message, tc.want.initialized, tc.want.initMsg)
			}
			if c := conds[corev1.ContainersReady]; c.Status != tc.want.ready || (tc.want.readyMsg != "" && c.Message != tc.want.readyMsg) {
				t.Errorf("ContainersReady = %s %q, want %s %q", c.Status, c.Message, tc.want.ready, tc.want.readyMsg)
			}
			if len(st.InitContainerStatuses) != 2 || st.InitContainerStatuses[0].Name != "init" || st.InitContainerStatuses[1].Name != "side" {
				t.Fatalf("init statuses not in spec order: %+v", st.InitContainerStatuses)
			}
			if got := stateString(st.InitContainerStatuses[0].State); got != tc.want.initState {
				t.Errorf("init state = %s, want %s", got, tc.want.initState)
			}
			side := st.InitContainerStatuses[1]
			if side.Ready != tc.want.sideReady || *side.Started != tc.want.sideStarted {
				t.Errorf("sidecar ready/started = %v/%v, want %v/%v", side.Ready, *side.Started, tc.want.sideReady, tc.want.sideStarted)
			}
			for _, cs := range st.ContainerStatuses {
				if cs.Name == "web" {
					if got := stateString(cs.State); got != tc.want.webState {
						t.Errorf("web state = %s, want %s", got, tc.want.webState)
					}
				}
			}
		})
	}
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return "terminated:" + s.Terminated.Reason
	case s.Waiting != nil:
		return "waiting:" + s.Waiting.Reason
	}
	return ""
}
