package plan

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/runtime"
)

func TestCompute_EphemeralContainers(t *testing.T) {
	debug := func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger"}}}
	}
	cases := []struct {
		name string
		pod  func(*corev1.Pod)
		obs  func(*Observed)
		want Plan
	}{
		{name: "started when it has no instance", pod: debug, want: Plan{Start: []Start{{Name: "debugger", Reason: "ephemeral container debugger has not run yet"}}}},
		{
			name: "before init containers finish",
			pod: func(p *corev1.Pod) {
				debug(p)
				p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
			},
			obs: func(o *Observed) {
				o.Containers = map[string]*Container{"init": {Current: running("i1", t0.Add(-time.Minute))}}
			},
			want: Plan{Start: []Start{{Name: "debugger", Reason: "ephemeral container debugger has not run yet"}}},
		},
		{
			name: "running: kept",
			pod:  debug,
			obs:  func(o *Observed) { o.Containers["debugger"] = &Container{Current: running("d1", t0.Add(-time.Minute))} },
		},
		{
			name: "exited: never restarted, whatever the restart policy",
			pod:  debug,
			obs: func(o *Observed) {
				o.Containers["debugger"] = &Container{Current: exited("d1", 1, t0.Add(-time.Minute), t0.Add(-time.Second))}
			},
		},
		{
			name: "unknown state: left alone",
			pod:  debug,
			obs: func(o *Observed) {
				o.Containers["debugger"] = &Container{Current: &runtime.ContainerStatus{ID: "d1", State: runtime.StateUnknown}}
			},
		},
		{
			name: "not started on a terminating pod",
			pod:  debug,
			obs:  func(o *Observed) { o.Terminating = true },
			want: Plan{KillPod: true},
		},
		{
			name: "not started on a completed pod",
			pod: func(p *corev1.Pod) {
				debug(p)
				p.Spec.RestartPolicy = corev1.RestartPolicyNever
			},
			obs: func(o *Observed) {
				for _, c := range o.Containers {
					c.Current = exited("x", 0, t0.Add(-time.Minute), t0.Add(-time.Second))
				}
			},
			want: Plan{KillPod: true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod, obs := basePod(), bothRunning()
			if tc.pod != nil {
				tc.pod(pod)
			}
			if tc.obs != nil {
				tc.obs(obs)
			}
			if got := Compute(pod, obs, t0); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestStatus_EphemeralContainers(t *testing.T) {
	pod := basePod()
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{
		{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d1", Image: "busybox"}},
		{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d2", Image: "busybox"}},
	}
	obs := bothRunning()
	obs.Containers["d1"] = &Container{Current: exited("x1", 3, t0.Add(-time.Minute), t0.Add(-time.Second))}
	st := Status(pod, obs, true)
	if len(st.EphemeralContainerStatuses) != 2 {
		t.Fatalf("statuses: %+v", st.EphemeralContainerStatuses)
	}
	if d1 := st.EphemeralContainerStatuses[0]; d1.Name != "d1" || d1.State.Terminated == nil || d1.State.Terminated.ExitCode != 3 {
		t.Errorf("d1: %+v", d1)
	}
	if d2 := st.EphemeralContainerStatuses[1]; d2.Name != "d2" || d2.State.Waiting == nil || d2.State.Waiting.Reason != "ContainerCreating" {
		t.Errorf("d2: %+v", d2)
	}
	// A debugger that exited leaves the pod Running and Ready.
	if st.Phase != corev1.PodRunning || len(st.ContainerStatuses) != 2 {
		t.Errorf("phase %s, %d container statuses", st.Phase, len(st.ContainerStatuses))
	}
}
