package registry

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Container states as the kubelet reports them.
func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func runningState() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now.Add(-time.Minute))}}
}

func terminated(code int32, reason string, finished time.Time) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, FinishedAt: metav1.NewTime(finished),
	}}
}

func condition(t corev1.PodConditionType, ok bool) corev1.PodCondition {
	c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
	if !ok {
		c.Status = corev1.ConditionFalse
	}
	return c
}

// tablePod is a pod "p", created 5 minutes before now, with one regular
// container "main" and the given init containers (sidecars when named
// "sidecar*").
func tablePod(initNames ...string) *corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: metav1.NewTime(now.Add(-5 * time.Minute))},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, n := range initNames {
		c := corev1.Container{Name: n, Image: "busybox"}
		if len(n) >= 7 && n[:7] == "sidecar" {
			c.RestartPolicy = &always
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
	}
	return pod
}

func TestPodRow(t *testing.T) {
	tru, fls := true, false
	cases := []struct {
		name  string
		pod   func() *corev1.Pod
		ready string
		stat  string
		rest  string
	}{
		{
			name: "no init, creating",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("ContainerCreating")}}
				return p
			},
			ready: "0/1", stat: "ContainerCreating", rest: "0",
		},
		{
			name: "2 init, first running",
			pod: func() *corev1.Pod {
				p := tablePod("init-a", "init-b")
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, false)}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{
					{Name: "init-a", State: runningState()},
					{Name: "init-b", State: waiting("PodInitializing")},
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("PodInitializing")}}
				return p
			},
			ready: "0/1", stat: "Init:0/2", rest: "0",
		},
		{
			name: "2 init, second running",
			pod: func() *corev1.Pod {
				p := tablePod("init-a", "init-b")
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, false)}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{
					{Name: "init-a", State: terminated(0, "Completed", now.Add(-time.Second))},
					{Name: "init-b", State: runningState()},
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("PodInitializing")}}
				return p
			},
			ready: "0/1", stat: "Init:1/2", rest: "0",
		},
		{
			name: "init failed",
			pod: func() *corev1.Pod {
				p := tablePod("init-a", "init-b")
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{
					{Name: "init-a", State: terminated(1, "Error", now.Add(-time.Second))},
					{Name: "init-b", State: waiting("PodInitializing")},
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("PodInitializing")}}
				return p
			},
			ready: "0/1", stat: "Init:Error", rest: "0",
		},
		{
			name: "init failed without a reason",
			pod: func() *corev1.Pod {
				p := tablePod("init-a")
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init-a", State: terminated(3, "", now.Add(-time.Second))}}
				return p
			},
			ready: "0/1", stat: "Init:ExitCode:3", rest: "0",
		},
		{
			name: "init crash-looping, restarts counted with age",
			pod: func() *corev1.Pod {
				p := tablePod("init-a")
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{
					Name: "init-a", State: waiting("CrashLoopBackOff"),
					LastTerminationState: terminated(1, "Error", now.Add(-42*time.Second)),
					RestartCount:         3,
				}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("PodInitializing")}}
				return p
			},
			ready: "0/1", stat: "Init:CrashLoopBackOff", rest: "3 (42s ago)",
		},
		{
			name: "init done, main being created",
			pod: func() *corev1.Pod {
				p := tablePod("init-a", "init-b")
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, true)}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{
					{Name: "init-a", State: terminated(0, "Completed", now.Add(-time.Second))},
					{Name: "init-b", State: terminated(0, "Completed", now.Add(-time.Second))},
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("PodInitializing")}}
				return p
			},
			ready: "0/1", stat: "PodInitializing", rest: "0",
		},
		{
			name: "2 containers running and ready",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "web", Image: "nginx"})
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "main", State: runningState(), Ready: true, Started: &tru},
					{Name: "web", State: runningState(), Ready: true, Started: &tru},
				}
				return p
			},
			ready: "2/2", stat: "Running", rest: "0",
		},
		{
			name: "sidecar and main both ready",
			pod: func() *corev1.Pod {
				p := tablePod("sidecar-log")
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, true), condition(corev1.PodReady, true)}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "sidecar-log", State: runningState(), Ready: true, Started: &tru}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: runningState(), Ready: true, Started: &tru}}
				return p
			},
			ready: "2/2", stat: "Running", rest: "0",
		},
		{
			name: "sidecar started, main creating",
			pod: func() *corev1.Pod {
				p := tablePod("sidecar-log")
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, true)}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "sidecar-log", State: runningState(), Ready: true, Started: &tru}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("PodInitializing")}}
				return p
			},
			ready: "1/2", stat: "PodInitializing", rest: "0",
		},
		{
			name: "sidecar running but not started yet",
			pod: func() *corev1.Pod {
				p := tablePod("sidecar-log")
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, false)}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "sidecar-log", State: runningState(), Started: &fls}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("PodInitializing")}}
				return p
			},
			ready: "0/2", stat: "Init:0/1", rest: "0",
		},
		{
			name: "sidecar restarts count once the pod is initialized",
			pod: func() *corev1.Pod {
				p := tablePod("sidecar-log")
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, true), condition(corev1.PodReady, true)}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{
					Name: "sidecar-log", State: runningState(), Ready: true, Started: &tru, RestartCount: 2,
					LastTerminationState: terminated(1, "Error", now.Add(-90*time.Second)),
				}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{
					Name: "main", State: runningState(), Ready: true, Started: &tru, RestartCount: 1,
					LastTerminationState: terminated(1, "Error", now.Add(-3*time.Minute)),
				}}
				return p
			},
			ready: "2/2", stat: "Running", rest: "3 (90s ago)",
		},
		{
			name: "Job pod with sidecar, done",
			pod: func() *corev1.Pod {
				p := tablePod("sidecar-log")
				p.Status.Phase = corev1.PodSucceeded
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, true), condition(corev1.PodReady, false)}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "sidecar-log", State: terminated(137, "Error", now.Add(-time.Second)), Started: &fls}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: terminated(0, "Completed", now.Add(-2*time.Second))}}
				return p
			},
			ready: "0/2", stat: "Completed", rest: "0",
		},
		{
			name: "main crash-looping",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{
					Name: "main", State: waiting("CrashLoopBackOff"), RestartCount: 4, Started: &fls,
					LastTerminationState: terminated(1, "Error", now.Add(-75*time.Second)),
				}}
				return p
			},
			ready: "0/1", stat: "CrashLoopBackOff", rest: "4 (75s ago)",
		},
		{
			name: "OOM killed",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{
					Name: "main", State: terminated(137, "OOMKilled", now.Add(-time.Second)), RestartCount: 1,
					LastTerminationState: terminated(137, "OOMKilled", now.Add(-2*time.Hour)),
				}}
				return p
			},
			ready: "0/1", stat: "OOMKilled", rest: "1 (120m ago)",
		},
		{
			name: "exited 1 under Never",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Status.Phase = corev1.PodFailed
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: terminated(1, "Error", now.Add(-time.Second))}}
				return p
			},
			ready: "0/1", stat: "Error", rest: "0",
		},
		{
			name: "exited by signal without reason",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Status.Phase = corev1.PodFailed
				st := terminated(137, "", now.Add(-time.Second))
				st.Terminated.Signal = 9
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: st}}
				return p
			},
			ready: "0/1", stat: "Signal:9", rest: "0",
		},
		{
			name: "exited 0",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Status.Phase = corev1.PodSucceeded
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: terminated(0, "Completed", now.Add(-time.Second))}}
				return p
			},
			ready: "0/1", stat: "Completed", rest: "0",
		},
		{
			name: "one of two Completed, other running and ready, pod not Ready",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "web", Image: "nginx"})
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodReady, false)}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "main", State: terminated(0, "Completed", now.Add(-time.Second))},
					{Name: "web", State: runningState(), Ready: true, Started: &tru},
				}
				return p
			},
			ready: "1/2", stat: "NotReady", rest: "0",
		},
		{
			name: "one of two Completed, other running, pod Ready",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "web", Image: "nginx"})
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodReady, true)}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "main", State: terminated(0, "Completed", now.Add(-time.Second))},
					{Name: "web", State: runningState(), Ready: true, Started: &tru},
				}
				return p
			},
			ready: "1/2", stat: "Running", rest: "0",
		},
		{
			// kubectl only counts a running container that is also ready.
			name: "one of two Completed, other running but not ready",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "web", Image: "nginx"})
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodReady, false)}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "main", State: terminated(0, "Completed", now.Add(-time.Second))},
					{Name: "web", State: runningState(), Started: &fls},
				}
				return p
			},
			ready: "0/2", stat: "Completed", rest: "0",
		},
		{
			name: "first container by name with a reason wins",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "web", Image: "nginx"})
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "main", State: waiting("CreateContainerConfigError")},
					{Name: "web", State: waiting("CrashLoopBackOff"), RestartCount: 1, LastTerminationState: terminated(1, "Error", now.Add(-10*time.Second))},
				}
				return p
			},
			ready: "0/2", stat: "CreateContainerConfigError", rest: "1 (10s ago)",
		},
		{
			name: "missing ConfigMap key",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: waiting("CreateContainerConfigError")}}
				return p
			},
			ready: "0/1", stat: "CreateContainerConfigError", rest: "0",
		},
		{
			name: "being deleted",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.DeletionTimestamp = &metav1.Time{Time: now}
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: runningState(), Ready: true, Started: &tru}}
				return p
			},
			ready: "1/1", stat: "Terminating", rest: "0",
		},
		{
			name: "deleted and already Failed keeps its reason",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.DeletionTimestamp = &metav1.Time{Time: now}
				p.Status.Phase = corev1.PodFailed
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: terminated(143, "Error", now.Add(-time.Second))}}
				return p
			},
			ready: "0/1", stat: "Error", rest: "0",
		},
		{
			name: "status.reason wins over the phase",
			pod: func() *corev1.Pod {
				p := tablePod()
				p.Status.Phase = corev1.PodFailed
				p.Status.Reason = "Evicted"
				return p
			},
			ready: "0/1", stat: "Evicted", rest: "0",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PodRow(tc.pod(), now)
			want := []string{"p", tc.ready, tc.stat, tc.rest, "5m"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("PodRow = %q, want %q", got, want)
			}
		})
	}
}

func TestPodRow_Age(t *testing.T) {
	pod := tablePod()
	pod.CreationTimestamp = metav1.Time{}
	if got := PodRow(pod, now)[4]; got != "<unknown>" {
		t.Errorf("age without creationTimestamp = %q, want <unknown>", got)
	}
	pod.CreationTimestamp = metav1.NewTime(now.Add(-26 * time.Hour))
	if got := PodRow(pod, now)[4]; got != "26h" {
		t.Errorf("age = %q, want 26h", got)
	}
	if len(PodColumns) != len(PodRow(pod, now)) {
		t.Errorf("PodColumns %v and row length differ", PodColumns)
	}
}
