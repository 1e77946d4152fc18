package plan

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/runtime"
)

func TestStatus_Phase(t *testing.T) {
	ok := func(id string) *runtime.ContainerStatus { return exited(id, 0, t0.Add(-time.Minute), t0) }
	fail := func(id string) *runtime.ContainerStatus { return exited(id, 1, t0.Add(-time.Minute), t0) }
	sigterm := func(id string) *runtime.ContainerStatus { return exited(id, 143, t0.Add(-time.Minute), t0) }
	cases := []struct {
		name   string
		policy corev1.RestartPolicy
		web    *Container
		app    *Container
		term   bool
		want   corev1.PodPhase
	}{
		{name: "nothing observed yet", policy: corev1.RestartPolicyAlways, want: corev1.PodPending},
		{name: "one running, one still creating", policy: corev1.RestartPolicyAlways, web: &Container{Current: running("w", t0)}, want: corev1.PodPending},
		{name: "first start failed on image pull", policy: corev1.RestartPolicyAlways, web: &Container{Current: running("w", t0)},
			app: &Container{Waiting: &Waiting{Reason: "ErrImagePull"}}, want: corev1.PodPending},
		{name: "both running", policy: corev1.RestartPolicyAlways, web: &Container{Current: running("w", t0)}, app: &Container{Current: running("a", t0)}, want: corev1.PodRunning},
		{name: "one running, one exited", policy: corev1.RestartPolicyNever, web: &Container{Current: running("w", t0)}, app: &Container{Current: fail("a")}, want: corev1.PodRunning},
		{name: "Never, all exited 0", policy: corev1.RestartPolicyNever, web: &Container{Current: ok("w")}, app: &Container{Current: ok("a")}, want: corev1.PodSucceeded},
		{name: "Never, one failed", policy: corev1.RestartPolicyNever, web: &Container{Current: ok("w")}, app: &Container{Current: fail("a")}, want: corev1.PodFailed},
		{name: "OnFailure, all exited 0", policy: corev1.RestartPolicyOnFailure, web: &Container{Current: ok("w")}, app: &Container{Current: ok("a")}, want: corev1.PodSucceeded},
		{name: "OnFailure with a failure keeps restarting: Running", policy: corev1.RestartPolicyOnFailure, web: &Container{Current: ok("w")}, app: &Container{Current: fail("a")}, want: corev1.PodRunning},
		{name: "Always with all exited 0 is Running", policy: corev1.RestartPolicyAlways, web: &Container{Current: ok("w")}, app: &Container{Current: ok("a")}, want: corev1.PodRunning},
		{name: "Always with all failed is Running", policy: corev1.RestartPolicyAlways, web: &Container{Current: fail("w")}, app: &Container{Current: fail("a")}, want: corev1.PodRunning},
		{name: "Always, crash-looping (waiting after termination) is Running", policy: corev1.RestartPolicyAlways,
			web: &Container{Current: running("w", t0)},
			app: &Container{Current: fail("a"), Waiting: &Waiting{Reason: "CrashLoopBackOff"}}, want: corev1.PodRunning},
		{name: "Always, everything crash-looping is Running", policy: corev1.RestartPolicyAlways,
			web: &Container{Current: fail("w"), Waiting: &Waiting{Reason: "CrashLoopBackOff"}},
			app: &Container{Current: fail("a"), Waiting: &Waiting{Reason: "CrashLoopBackOff"}}, want: corev1.PodRunning},
		{name: "terminating Always pod whose containers exited 143 is Failed", policy: corev1.RestartPolicyAlways, term: true,
			web: &Container{Current: sigterm("w")}, app: &Container{Current: sigterm("a")}, want: corev1.PodFailed},
		{name: "terminating Always pod whose containers trapped SIGTERM is Succeeded", policy: corev1.RestartPolicyAlways, term: true,
			web: &Container{Current: ok("w")}, app: &Container{Current: ok("a")}, want: corev1.PodSucceeded},
		{name: "terminating pod still running is Running", policy: corev1.RestartPolicyAlways, term: true,
			web: &Container{Current: ok("w")}, app: &Container{Current: running("a", t0)}, want: corev1.PodRunning},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.RestartPolicy = tc.policy
			obs := &Observed{Containers: map[string]*Container{}, Terminating: tc.term}
			if tc.web != nil {
				obs.Containers["web"] = tc.web
			}
			if tc.app != nil {
				obs.Containers["app"] = tc.app
			}
			if got := Status(pod, obs, true).Phase; got != tc.want {
				t.Errorf("phase = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestStatus_ContainerStates(t *testing.T) {
	started := t0.Add(-time.Minute)
	tru, fls := true, false
	cases := []struct {
		name     string
		pod      func(*corev1.Pod)
		obs      *Container // for "app"
		want     corev1.ContainerStatus
		wantNote string
	}{
		{
			name: "no record yet: ContainerCreating",
			want: corev1.ContainerStatus{
				State:   corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
				Started: &fls,
			},
		},
		{
			name: "no record yet in a pod with init containers: PodInitializing",
			pod: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
			},
			want: corev1.ContainerStatus{
				State:   corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}},
				Started: &fls,
			},
		},
		{
			name: "running: ready and started",
			obs:  &Container{Current: &runtime.ContainerStatus{ID: "a1", ImageID: "sha256:abc", State: runtime.StateRunning, StartedAt: started}},
			want: corev1.ContainerStatus{
				ContainerID: "peapod://a1", ImageID: "sha256:abc",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
				Ready: true, Started: &tru,
			},
		},
		{
			name: "exited 0: Completed",
			obs:  &Container{Current: exited("a1", 0, started, t0)},
			want: corev1.ContainerStatus{
				ContainerID: "peapod://a1",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(t0), ContainerID: "peapod://a1",
				}},
				Started: &fls,
			},
		},
		{
			name: "exited non-zero: Error",
			obs:  &Container{Current: exited("a1", 3, started, t0)},
			want: corev1.ContainerStatus{
				ContainerID: "peapod://a1",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 3, Reason: "Error", StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(t0), ContainerID: "peapod://a1",
				}},
				Started: &fls,
			},
		},
		{
			name: "OOM killed wins over the exit code",
			obs: &Container{Current: &runtime.ContainerStatus{
				ID: "a1", State: runtime.StateExited, ExitCode: 137, OOMKilled: true, StartedAt: started, FinishedAt: t0,
			}},
			want: corev1.ContainerStatus{
				ContainerID: "peapod://a1",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: "OOMKilled", StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(t0), ContainerID: "peapod://a1",
				}},
				Started: &fls,
			},
		},
		{
			name: "CrashLoopBackOff: waiting, last run kept as lastState.terminated",
			obs: &Container{
				Current:      exited("a3", 1, started, t0),
				Previous:     exited("a2", 1, started.Add(-time.Minute), started.Add(-30*time.Second)),
				RestartCount: 2,
				Waiting:      &Waiting{Reason: "CrashLoopBackOff", Message: "back-off 20s restarting failed container=app pod=demo_default(uid-1)"},
			},
			want: corev1.ContainerStatus{
				ContainerID: "peapod://a3",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CrashLoopBackOff", Message: "back-off 20s restarting failed container=app pod=demo_default(uid-1)",
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(t0), ContainerID: "peapod://a3",
				}},
				RestartCount: 2,
				Started:      &fls,
			},
		},
		{
			name: "restarted and running: previous instance is lastState",
			obs: &Container{
				Current:      running("a2", started),
				Previous:     exited("a1", 2, started.Add(-time.Minute), started.Add(-time.Second)),
				RestartCount: 1,
			},
			want: corev1.ContainerStatus{
				ContainerID: "peapod://a2",
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 2, Reason: "Error", StartedAt: metav1.NewTime(started.Add(-time.Minute)), FinishedAt: metav1.NewTime(started.Add(-time.Second)), ContainerID: "peapod://a1",
				}},
				RestartCount: 1, Ready: true, Started: &tru,
			},
		},
		{
			name: "config error before the first run",
			obs:  &Container{Waiting: &Waiting{Reason: "CreateContainerConfigError", Message: `configmap "cfg" not found`}},
			want: corev1.ContainerStatus{
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CreateContainerConfigError", Message: `configmap "cfg" not found`,
				}},
				Started: &fls,
			},
		},
		{
			name: "unknown state",
			obs:  &Container{Current: &runtime.ContainerStatus{ID: "a1", State: runtime.StateUnknown}},
			want: corev1.ContainerStatus{
				ContainerID: "peapod://a1",
				State:       corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerStatusUnknown"}},
				Started:     &fls,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			if tc.pod != nil {
				tc.pod(pod)
			}
			obs := &Observed{Containers: map[string]*Container{"web": {Current: running("w", started)}}}
			if tc.obs != nil {
				obs.Containers["app"] = tc.obs
			}
			st := Status(pod, obs, true)
			var got *corev1.ContainerStatus
			for i := range st.ContainerStatuses {
				if st.ContainerStatuses[i].Name == "app" {
					got = &st.ContainerStatuses[i]
				}
			}
			if got == nil {
				t.Fatalf("no status for app in %+v", st.ContainerStatuses)
			}
			tc.want.Name, tc.want.Image = "app", "busybox:1.36"
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("status:\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestStatus_SortedByName(t *testing.T) {
	pod := basePod()
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"}, corev1.Container{Name: "b", Image: "busybox"})
	st := Status(pod, &Observed{}, false)
	var names []string
	for _, cs := range st.ContainerStatuses {
		names = append(names, cs.Name)
	}
	if want := []string{"app", "b", "sidecar", "web"}; !reflect.DeepEqual(names, want) {
		t.Errorf("containerStatuses order = %v, want %v", names, want)
	}
}

func TestStatus_Conditions(t *testing.T) {
	cond := func(typ corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg}
		if !ok {
			c.Status = corev1.ConditionFalse
		}
		return c
	}
	cases := []struct {
		name    string
		policy  corev1.RestartPolicy
		obs     map[string]*Container
		sandbox bool
		want    []corev1.PodCondition
	}{
		{
			name:   "nothing running, no sandbox: both containers unready in spec order (the kubelet walks the spec)",
			policy: corev1.RestartPolicyAlways,
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, false, "", ""),
				cond(corev1.PodInitialized, true, "", ""),
				cond(corev1.PodReady, false, "ContainersNotReady", "containers with unready status: [web app]"),
				cond(corev1.ContainersReady, false, "ContainersNotReady", "containers with unready status: [web app]"),
				cond(corev1.PodScheduled, true, "", ""),
			},
		},
		{
			name:    "one running",
			policy:  corev1.RestartPolicyAlways,
			obs:     map[string]*Container{"web": {Current: running("w", t0)}},
			sandbox: true,
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", ""),
				cond(corev1.PodInitialized, true, "", ""),
				cond(corev1.PodReady, false, "ContainersNotReady", "containers with unready status: [app]"),
				cond(corev1.ContainersReady, false, "ContainersNotReady", "containers with unready status: [app]"),
				cond(corev1.PodScheduled, true, "", ""),
			},
		},
		{
			name:    "all running: ready",
			policy:  corev1.RestartPolicyAlways,
			obs:     map[string]*Container{"web": {Current: running("w", t0)}, "app": {Current: running("a", t0)}},
			sandbox: true,
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", ""),
				cond(corev1.PodInitialized, true, "", ""),
				cond(corev1.PodReady, true, "", ""),
				cond(corev1.ContainersReady, true, "", ""),
				cond(corev1.PodScheduled, true, "", ""),
			},
		},
		{
			name:    "succeeded: PodCompleted",
			policy:  corev1.RestartPolicyNever,
			obs:     map[string]*Container{"web": {Current: exited("w", 0, t0, t0)}, "app": {Current: exited("a", 0, t0, t0)}},
			sandbox: true,
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", ""),
				cond(corev1.PodInitialized, true, "PodCompleted", ""),
				cond(corev1.PodReady, false, "PodCompleted", ""),
				cond(corev1.ContainersReady, false, "PodCompleted", ""),
				cond(corev1.PodScheduled, true, "", ""),
			},
		},
		{
			name:    "failed: PodFailed",
			policy:  corev1.RestartPolicyNever,
			obs:     map[string]*Container{"web": {Current: exited("w", 0, t0, t0)}, "app": {Current: exited("a", 1, t0, t0)}},
			sandbox: true,
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", ""),
				cond(corev1.PodInitialized, true, "", ""),
				cond(corev1.PodReady, false, "PodFailed", ""),
				cond(corev1.ContainersReady, false, "PodFailed", ""),
				cond(corev1.PodScheduled, true, "", ""),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.RestartPolicy = tc.policy
			st := Status(pod, &Observed{Containers: tc.obs}, tc.sandbox)
			if !reflect.DeepEqual(st.Conditions, tc.want) {
				t.Errorf("conditions:\n got %+v\nwant %+v", st.Conditions, tc.want)
			}
		})
	}
}

func TestStatus_QOSClass(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	cases := []struct {
		name string
		pod  func(*corev1.Pod)
		want corev1.PodQOSClass
	}{
		{name: "no requests or limits", want: corev1.PodQOSBestEffort},
		{name: "one container with a request", want: corev1.PodQOSBurstable, pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = rl("cpu", "100m")
		}},
		{name: "limits equal requests on every container", want: corev1.PodQOSGuaranteed, pod: func(p *corev1.Pod) {
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Resources = corev1.ResourceRequirements{
					Requests: rl("cpu", "100m", "memory", "64Mi"),
					Limits:   rl("cpu", "0.1", "memory", "64Mi"),
				}
			}
		}},
		{name: "limits only (requests default to limits)", want: corev1.PodQOSGuaranteed, pod: func(p *corev1.Pod) {
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Resources.Limits = rl("cpu", "1", "memory", "1Gi")
			}
		}},
		{name: "one container without limits", want: corev1.PodQOSBurstable, pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = rl("cpu", "1", "memory", "1Gi")
		}},
		{name: "request below limit", want: corev1.PodQOSBurstable, pod: func(p *corev1.Pod) {
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Resources = corev1.ResourceRequirements{
					Requests: rl("cpu", "50m", "memory", "64Mi"),
					Limits:   rl("cpu", "100m", "memory", "64Mi"),
				}
			}
		}},
		{name: "cpu limit but no memory limit", want: corev1.PodQOSBurstable, pod: func(p *corev1.Pod) {
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Resources.Limits = rl("cpu", "1")
			}
		}},
		{name: "an init container without limits makes it Burstable", want: corev1.PodQOSBurstable, pod: func(p *corev1.Pod) {
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Resources.Limits = rl("cpu", "1", "memory", "1Gi")
			}
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			if tc.pod != nil {
				tc.pod(pod)
			}
			if got := Status(pod, &Observed{}, false).QOSClass; got != tc.want {
				t.Errorf("QOSClass = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestStatus_PostStartHookError(t *testing.T) {
	killed := exited("a", 137, t0.Add(-time.Minute), t0)
	failed := &Waiting{Reason: PostStartHookError, Message: "exit 1"}
	cases := []struct {
		name    string
		policy  corev1.RestartPolicy
		sidecar bool
		want    string // the state: a waiting reason, or "Terminated"
	}{
		{name: "Always: restarts, waiting PostStartHookError", policy: corev1.RestartPolicyAlways, want: PostStartHookError},
		{name: "OnFailure: the killed container failed, so it restarts", policy: corev1.RestartPolicyOnFailure, want: PostStartHookError},
		{name: "Never: stays down, shows the kill", policy: corev1.RestartPolicyNever, want: "Terminated"},
		{name: "Never, but a sidecar restarts anyway", policy: corev1.RestartPolicyNever, sidecar: true, want: PostStartHookError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.RestartPolicy = tc.policy
			c := &pod.Spec.Containers[0]
			if tc.sidecar {
				always := corev1.ContainerRestartPolicyAlways
				c.RestartPolicy = &always
			}
			cs := containerStatus(pod, c, &Container{Current: killed, Waiting: failed})
			got := "Terminated"
			switch {
			case cs.State.Waiting != nil:
				got = cs.State.Waiting.Reason
			case cs.State.Terminated == nil:
				got = "?"
			}
			if got != tc.want {
				t.Errorf("state %s, want %s", got, tc.want)
			}
		})
	}
}
