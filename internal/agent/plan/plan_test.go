package plan

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/runtime"
)

// t0 is the fixed "now" of every case; times in observed state are relative
// to it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// basePod is a defaulted two-container pod: "web" then "app" (spec order is
// deliberately not name order).
func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default", UID: "uid-1"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{
				{Name: "web", Image: "busybox:1.36"},
				{Name: "app", Image: "busybox:1.36"},
			},
		},
	}
}

func running(id string, started time.Time) *runtime.ContainerStatus {
	return &runtime.ContainerStatus{ID: id, State: runtime.StateRunning, StartedAt: started}
}

func exited(id string, code int32, started, finished time.Time) *runtime.ContainerStatus {
	return &runtime.ContainerStatus{ID: id, State: runtime.StateExited, ExitCode: code, StartedAt: started, FinishedAt: finished}
}

// bothRunning is the observed state of basePod with both containers up.
func bothRunning() *Observed {
	return &Observed{Containers: map[string]*Container{
		"web": {Current: running("w1", t0.Add(-time.Hour))},
		"app": {Current: running("a1", t0.Add(-time.Hour))},
	}}
}

func TestCompute(t *testing.T) {
	cases := []struct {
		name string
		pod  func(*corev1.Pod)
		obs  func(*Observed)
		want Plan
	}{
		{
			name: "first start of every container in spec order",
			obs:  func(o *Observed) { o.Containers = nil },
			want: Plan{Start: []Start{{Name: "web", Reason: "container web has not run yet"}, {Name: "app", Reason: "container app has not run yet"}}},
		},
		{
			name: "running containers are kept",
			want: Plan{},
		},
		{
			name: "created but never started is started again",
			obs: func(o *Observed) {
				o.Containers["app"].Current = &runtime.ContainerStatus{ID: "a1", State: runtime.StateCreated}
			},
			want: Plan{Start: []Start{{Name: "app", Reason: "container app was created but never started"}}},
		},
		{
			name: "unknown state is killed then started",
			obs: func(o *Observed) {
				o.Containers["web"].Current = &runtime.ContainerStatus{ID: "w1", State: runtime.StateUnknown}
			},
			want: Plan{
				Kill:  []Kill{{Name: "web", ID: "w1", Reason: "container is in unknown state, will be restarted"}},
				Start: []Start{{Name: "web", Reason: "container web is in unknown state"}},
			},
		},
		{
			name: "terminating kills the pod whatever runs",
			obs:  func(o *Observed) { o.Terminating = true },
			want: Plan{KillPod: true},
		},
		{
			name: "terminating pod with nothing observed is killed, not started",
			obs:  func(o *Observed) { o.Containers, o.Terminating = nil, true },
			want: Plan{KillPod: true},
		},
		{
			name: "every container exited (one with 1) under Never ends the pod",
			pod:  func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever },
			obs: func(o *Observed) {
				o.Containers["web"].Current = exited("w1", 0, t0.Add(-time.Minute), t0.Add(-time.Second))
				o.Containers["app"].Current = exited("a1", 1, t0.Add(-time.Minute), t0.Add(-time.Second))
			},
			want: Plan{KillPod: true},
		},
		{
			name: "every container exited 0 under OnFailure completes the pod",
			pod:  func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			obs: func(o *Observed) {
				o.Containers["web"].Current = exited("w1", 0, t0.Add(-time.Minute), t0.Add(-time.Second))
				o.Containers["app"].Current = exited("a1", 0, t0.Add(-time.Minute), t0.Add(-time.Second))
			},
			want: Plan{KillPod: true},
		},
		{
			name: "one exited under Never while the other runs: nothing to do",
			pod:  func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever },
			obs: func(o *Observed) {
				o.Containers["web"].Current = exited("w1", 0, t0.Add(-time.Minute), t0.Add(-time.Second))
			},
			want: Plan{},
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
			got := Compute(pod, obs, t0)
			// First starts carry the observed (zero) backoff; restarts are
			// checked in TestCompute_Backoff.
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Compute:\n got %+v\nwant %+v", got, tc.want)
			}
			if got.Done() != tc.want.KillPod {
				t.Errorf("Done() = %v, want %v", got.Done(), tc.want.KillPod)
			}
		})
	}
}

func TestCompute_RestartPolicy(t *testing.T) {
	cases := []struct {
		policy   corev1.RestartPolicy
		exitCode int32
		restart  bool
	}{
		{corev1.RestartPolicyAlways, 0, true},
		{corev1.RestartPolicyAlways, 1, true},
		{corev1.RestartPolicyAlways, 137, true},
		{corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyOnFailure, 1, true},
		{corev1.RestartPolicyOnFailure, 143, true},
		{corev1.RestartPolicyNever, 0, false},
		{corev1.RestartPolicyNever, 1, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/exit%d", tc.policy, tc.exitCode), func(t *testing.T) {
			pod, obs := basePod(), bothRunning()
			pod.Spec.RestartPolicy = tc.policy
			obs.Containers["web"].Current = exited("w1", tc.exitCode, t0.Add(-time.Minute), t0.Add(-time.Second))
			got := Compute(pod, obs, t0)
			var want Plan // app keeps running, so the pod never completes here
			if tc.restart {
				// The first restart is immediate and starts the backoff at 10 s.
				want.Start = []Start{{Name: "web", Reason: fmt.Sprintf("container web exited with %d: restartPolicy %s", tc.exitCode, tc.policy), Backoff: Backoff{Period: InitialBackoff, LastRestart: t0}}}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Compute:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestCompute_Backoff follows one crash-looping container through the
// kubelet's CrashLoopBackOff: waits of 10 s, 20 s, ... capped at 300 s from
// the last exit, and a reset after a run longer than 600 s.
func TestCompute_Backoff(t *testing.T) {
	finished := t0.Add(-3 * time.Second)
	cases := []struct {
		name    string
		backoff Backoff // state recorded at the last (re)start
		now     time.Time
		start   *Backoff // expected new backoff state if started
		waitFor time.Duration
	}{
		{
			name:  "first restart is immediate",
			now:   t0,
			start: &Backoff{Period: 10 * time.Second, LastRestart: t0},
		},
		{
			name:    "second exit waits 10s from FinishedAt",
			backoff: Backoff{Period: 10 * time.Second, LastRestart: finished.Add(-time.Minute)},
			now:     t0,
			waitFor: 10 * time.Second,
		},
		{
			name:    "just before the wait is over",
			backoff: Backoff{Period: 10 * time.Second, LastRestart: finished.Add(-time.Minute)},
			now:     finished.Add(10*time.Second - time.Nanosecond),
			waitFor: 10 * time.Second,
		},
		{
			name:    "wait over: restart and double to 20s",
			backoff: Backoff{Period: 10 * time.Second, LastRestart: finished.Add(-time.Minute)},
			now:     finished.Add(10 * time.Second),
			start:   &Backoff{Period: 20 * time.Second, LastRestart: finished.Add(10 * time.Second)},
		},
		{
			name:    "20s wait",
			backoff: Backoff{Period: 20 * time.Second, LastRestart: finished.Add(-time.Minute)},
			now:     t0,
			waitFor: 20 * time.Second,
		},
		{
			name:    "160s doubles to the 300s cap, not 320s",
			backoff: Backoff{Period: 160 * time.Second, LastRestart: finished.Add(-time.Minute)},
			now:     finished.Add(160 * time.Second),
			start:   &Backoff{Period: 300 * time.Second, LastRestart: finished.Add(160 * time.Second)},
		},
		{
			name:    "300s stays at 300s",
			backoff: Backoff{Period: 300 * time.Second, LastRestart: finished.Add(-time.Minute)},
			now:     finished.Add(300 * time.Second),
			start:   &Backoff{Period: 300 * time.Second, LastRestart: finished.Add(300 * time.Second)},
		},
		{
			name:    "waiting at the cap",
			backoff: Backoff{Period: 300 * time.Second, LastRestart: finished.Add(-time.Minute)},
			now:     t0,
			waitFor: 300 * time.Second,
		},
		{
			name:    "ran exactly 600s since the last restart: no reset yet",
			backoff: Backoff{Period: 300 * time.Second, LastRestart: finished.Add(-BackoffReset)},
			now:     t0,
			waitFor: 300 * time.Second,
		},
		{
			name:    "ran more than 600s since the last restart: reset to 10s, immediate",
			backoff: Backoff{Period: 300 * time.Second, LastRestart: finished.Add(-BackoffReset - time.Second)},
			now:     t0,
			start:   &Backoff{Period: 10 * time.Second, LastRestart: t0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod, obs := basePod(), bothRunning()
			obs.Containers["app"] = &Container{
				Current:      exited("a3", 1, finished.Add(-time.Second), finished),
				RestartCount: 2,
				Backoff:      tc.backoff,
			}
			got := Compute(pod, obs, tc.now)
			var want Plan
			if tc.start != nil {
				want.Start = []Start{{Name: "app", Reason: "container app exited with 1: restartPolicy Always", Backoff: *tc.start}}
			} else {
				want.Waiting = map[string]Waiting{"app": {
					Reason:  "CrashLoopBackOff",
					Message: "back-off " + tc.waitFor.String() + " restarting failed container=app pod=demo_default(uid-1)",
				}}
				want.WakeAt = finished.Add(tc.waitFor)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Compute:\n got %+v\nwant %+v", got, want)
			}
			if got.Done() {
				t.Error("a crash-looping container must not complete the pod")
			}
		})
	}
}

func TestCompute_BackoffMessage(t *testing.T) {
	pod, obs := basePod(), bothRunning()
	finished := t0.Add(-time.Second)
	obs.Containers["web"].Current = exited("w9", 2, finished.Add(-time.Second), finished)
	obs.Containers["web"].Backoff = Backoff{Period: 40 * time.Second, LastRestart: finished.Add(-2 * time.Second)}
	got := Compute(pod, obs, t0).Waiting["web"].Message
	if want := "back-off 40s restarting failed container=web pod=demo_default(uid-1)"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

// TestCompute_WakeAtEarliest: with two containers backing off, the plan
// wakes for the one whose wait ends first, and waiting alone does not
// complete the pod.
func TestCompute_WakeAtEarliest(t *testing.T) {
	pod := basePod()
	obs := &Observed{Containers: map[string]*Container{
		"web": {Current: exited("w", 1, t0.Add(-time.Minute), t0.Add(-time.Second)), Backoff: Backoff{Period: 80 * time.Second, LastRestart: t0.Add(-time.Minute)}},
		"app": {Current: exited("a", 1, t0.Add(-time.Minute), t0.Add(-2*time.Second)), Backoff: Backoff{Period: 20 * time.Second, LastRestart: t0.Add(-time.Minute)}},
	}}
	got := Compute(pod, obs, t0)
	if want := t0.Add(18 * time.Second); !got.WakeAt.Equal(want) {
		t.Errorf("WakeAt = %v, want %v", got.WakeAt, want)
	}
	if len(got.Waiting) != 2 || len(got.Start) != 0 || got.KillPod {
		t.Errorf("plan = %+v, want both waiting, nothing started, pod not killed", got)
	}
}

// TestCompute_InitContainers: init containers run one at a time in spec
// order before any regular container; native sidecars only have to start.
func TestCompute_InitContainers(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	withInit := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "init-a", Image: "busybox"}, {Name: "init-b", Image: "busybox"}}
	}
	withSidecar := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "side", Image: "busybox", RestartPolicy: &always}, {Name: "init-b", Image: "busybox"}}
	}
	done := func(id string) *Container {
		return &Container{Current: exited(id, 0, t0.Add(-time.Minute), t0.Add(-time.Second))}
	}
	cases := []struct {
		name   string
		pod    func(*corev1.Pod)
		policy corev1.RestartPolicy
		obs    map[string]*Container
		want   Plan
	}{
		{
			name: "nothing yet: only the first init container starts",
			pod:  withInit,
			want: Plan{Start: []Start{{Name: "init-a", Reason: "init container init-a has not run yet"}}},
		},
		{
			name: "first init running: wait",
			pod:  withInit,
			obs:  map[string]*Container{"init-a": {Current: running("i1", t0)}},
			want: Plan{},
		},
		{
			name: "first init done: the second starts",
			pod:  withInit,
			obs:  map[string]*Container{"init-a": done("i1")},
			want: Plan{Start: []Start{{Name: "init-b", Reason: "init container init-b has not run yet"}}},
		},
		{
			name: "all init done: regular containers start in spec order",
			pod:  withInit,
			obs:  map[string]*Container{"init-a": done("i1"), "init-b": done("i2")},
			want: Plan{Start: []Start{{Name: "web", Reason: "container web has not run yet"}, {Name: "app", Reason: "container app has not run yet"}}},
		},
		{
			name: "failed init under Always: only it restarts",
			pod:  withInit,
			obs:  map[string]*Container{"init-a": {Current: exited("i1", 1, t0.Add(-time.Minute), t0.Add(-time.Second))}},
			want: Plan{Start: []Start{{Name: "init-a", Reason: "init container init-a exited with 1: restartPolicy Always", Backoff: Backoff{Period: InitialBackoff, LastRestart: t0}}}},
		},
		{
			name:   "failed init under OnFailure: only it restarts",
			pod:    withInit,
			policy: corev1.RestartPolicyOnFailure,
			obs:    map[string]*Container{"init-a": done("i1"), "init-b": {Current: exited("i2", 2, t0.Add(-time.Minute), t0.Add(-time.Second))}},
			want:   Plan{Start: []Start{{Name: "init-b", Reason: "init container init-b exited with 2: restartPolicy OnFailure", Backoff: Backoff{Period: InitialBackoff, LastRestart: t0}}}},
		},
		{
			name:   "failed init under Never: the pod is killed",
			pod:    withInit,
			policy: corev1.RestartPolicyNever,
			obs:    map[string]*Container{"init-a": {Current: exited("i1", 1, t0.Add(-time.Minute), t0.Add(-time.Second))}},
			want:   Plan{KillPod: true},
		},
		{
			name: "sidecar running counts as started: the next init starts",
			pod:  withSidecar,
			obs:  map[string]*Container{"side": {Current: running("s1", t0)}},
			want: Plan{Start: []Start{{Name: "init-b", Reason: "init container init-b has not run yet"}}},
		},
		{
			name:   "initialized: an exited sidecar restarts even under Never",
			pod:    withSidecar,
			policy: corev1.RestartPolicyNever,
			obs: map[string]*Container{
				"side": {Current: exited("s1", 0, t0.Add(-time.Minute), t0.Add(-time.Second))}, "init-b": done("i2"),
				"web": {Current: running("w1", t0)}, "app": {Current: running("a1", t0)},
			},
			want: Plan{Start: []Start{{Name: "side", Reason: "sidecar side exited with 0: a sidecar restarts on any exit", Backoff: Backoff{Period: InitialBackoff, LastRestart: t0}}}},
		},
		{
			name:   "every regular container done under Never: the pod completes, sidecar not restarted",
			pod:    withSidecar,
			policy: corev1.RestartPolicyNever,
			obs: map[string]*Container{
				"side": {Current: running("s1", t0)}, "init-b": done("i2"),
				"web": done("w1"), "app": done("a1"),
			},
			want: Plan{KillPod: true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			tc.pod(pod)
			if tc.policy != "" {
				pod.Spec.RestartPolicy = tc.policy
			}
			got := Compute(pod, &Observed{Containers: tc.obs}, t0)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Compute:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBackoffAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want time.Duration
	}{
		{"the first failure waits 10 s", 1, 10 * time.Second},
		{"each next one doubles", 2, 20 * time.Second},
		{"the fifth waits 160 s", 5, 160 * time.Second},
		{"the sixth is capped at 300 s (not 320)", 6, 300 * time.Second},
		{"and stays there", 40, 300 * time.Second},
		{"no failure counts as the first", 0, 10 * time.Second},
	} {
		if got := BackoffAfter(tc.n); got != tc.want {
			t.Errorf("%s: BackoffAfter(%d) = %s, want %s", tc.name, tc.n, got, tc.want)
		}
	}
}

func TestMountRetryAt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		want     time.Duration // after the last failure
	}{
		{"no failure: at once", 0, -1},
		{"the first failure waits 500 ms", 1, 500 * time.Millisecond},
		{"each next one doubles", 3, 2 * time.Second},
		{"the ninth waits 128 s, capped at 2 min 2 s", 9, 122 * time.Second},
		{"and stays there", 50, 122 * time.Second},
	} {
		got := MountRetryAt(tc.failures, t0)
		switch {
		case tc.want < 0 && !got.IsZero():
			t.Errorf("%s: %s, want now", tc.name, got)
		case tc.want >= 0 && got.Sub(t0) != tc.want:
			t.Errorf("%s: after %s, want %s", tc.name, got.Sub(t0), tc.want)
		}
	}
}

// A container whose last attempts to pull, create or start failed waits
// the kubelet's back-off from the last failure before the next attempt.
func TestCompute_StartFailureBackoff(t *testing.T) {
	pullErr := &Waiting{Reason: "ErrImagePull", Message: `failed to pull image "busybox:1.36": no route`}
	configErr := &Waiting{Reason: "CreateContainerConfigError", Message: `configmap "cfg" not found`}
	cases := []struct {
		name     string
		failures int
		ago      time.Duration
		waiting  *Waiting
		want     Plan
	}{
		{"a failed pull waits 10 s as ImagePullBackOff", 1, 4 * time.Second, pullErr, Plan{
			Waiting: map[string]Waiting{"app": {Reason: "ImagePullBackOff", Message: `Back-off pulling image "busybox:1.36"`}},
			WakeAt:  t0.Add(6 * time.Second),
		}},
		{"the wait over, it is tried again", 1, 11 * time.Second, pullErr, Plan{
			Start: []Start{{Name: "app", Reason: "container app has not run yet"}},
		}},
		{"the third failure in a row waits 40 s", 3, 30 * time.Second, pullErr, Plan{
			Waiting: map[string]Waiting{"app": {Reason: "ImagePullBackOff", Message: `Back-off pulling image "busybox:1.36"`}},
			WakeAt:  t0.Add(10 * time.Second),
		}},
		{"a config error keeps its reason while it waits", 2, 5 * time.Second, configErr, Plan{
			Waiting: map[string]Waiting{"app": *configErr},
			WakeAt:  t0.Add(15 * time.Second),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod, obs := basePod(), bothRunning()
			obs.Containers["app"] = &Container{Waiting: tc.waiting, StartFailures: tc.failures, LastStartFailure: t0.Add(-tc.ago)}
			got := Compute(pod, obs, t0)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Compute:\n got %+v\nwant %+v", got, tc.want)
			}
			if got.Done() {
				t.Error("a container waiting to start again must not complete the pod")
			}
		})
	}
}
