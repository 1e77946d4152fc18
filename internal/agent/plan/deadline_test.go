package plan

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// activeDeadlineSeconds, as the kubelet's activeDeadlineHandler: counted
// from the pod's start on the node; past it the pod is killed and Failed.
func TestCompute_ActiveDeadline(t *testing.T) {
	secs := func(n int64) *int64 { return &n }
	running := func() map[string]*Container {
		return map[string]*Container{"web": {Current: running("w", t0)}, "app": {Current: running("a", t0)}}
	}
	cases := []struct {
		name     string
		deadline *int64
		started  time.Time
		failed   *Waiting
		now      time.Time
		kill     bool
		fail     bool
		wakeAt   time.Time
	}{
		{name: "no deadline: nothing", started: t0, now: t0.Add(time.Hour)},
		{name: "before the deadline: wake at it", deadline: secs(30), started: t0, now: t0.Add(10 * time.Second), wakeAt: t0.Add(30 * time.Second)},
		{name: "at the deadline: kill and fail", deadline: secs(30), started: t0, now: t0.Add(30 * time.Second), kill: true, fail: true},
		{name: "a deadline shortened on a running pod takes effect", deadline: secs(5), started: t0, now: t0.Add(time.Minute), kill: true, fail: true},
		{name: "not started on the node yet: no clock", deadline: secs(1), now: t0.Add(time.Minute)},
		{name: "already failed: killed, not failed again", deadline: secs(1), started: t0, now: t0.Add(time.Minute),
			failed: &Waiting{Reason: DeadlineExceeded}, kill: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.ActiveDeadlineSeconds = tc.deadline
			obs := &Observed{Containers: running(), StartTime: tc.started, Failed: tc.failed}
			p := Compute(pod, obs, tc.now)
			if p.KillPod != tc.kill || (p.Fail != nil) != tc.fail || !p.WakeAt.Equal(tc.wakeAt) {
				t.Errorf("kill %v fail %+v wake %v; want kill %v fail %v wake %v", p.KillPod, p.Fail, p.WakeAt, tc.kill, tc.fail, tc.wakeAt)
			}
			if tc.fail && (p.Fail.Reason != "DeadlineExceeded" || p.Fail.Message != "Pod was active on the node longer than the specified deadline") {
				t.Errorf("failure %+v", p.Fail)
			}
		})
	}
}

func TestStatus_FailedByTheNode(t *testing.T) {
	pod := basePod()
	obs := &Observed{Containers: map[string]*Container{"web": {Current: exited("w", 137, t0, t0)}, "app": {Current: exited("a", 137, t0, t0)}},
		Failed: &Waiting{Reason: DeadlineExceeded, Message: deadlineExceededMessage}}
	st := Status(pod, obs, true)
	if st.Phase != corev1.PodFailed || st.Reason != DeadlineExceeded || st.Message != deadlineExceededMessage {
		t.Errorf("phase %s reason %q message %q", st.Phase, st.Reason, st.Message)
	}
}
