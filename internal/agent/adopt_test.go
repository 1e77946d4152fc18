package agent

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/agent/plan"
	"peapod/internal/runtime"
)

func TestAdopt(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "app"}, {Name: "side"}},
	}}
	ctr := func(id, name string, attempt int, state runtime.State, created time.Time) *runtime.ContainerStatus {
		return &runtime.ContainerStatus{ID: id, Name: name, Attempt: attempt, State: state, CreatedAt: created, StartedAt: created}
	}
	tests := []struct {
		name     string
		in       []*runtime.ContainerStatus
		current  map[string]string // name -> ID
		previous map[string]string
		restarts map[string]int32
		backoff  map[string]time.Duration
		stale    []string
	}{
		{name: "nothing left"},
		{
			name:     "one running instance each",
			in:       []*runtime.ContainerStatus{ctr("a0", "app", 0, runtime.StateRunning, t0), ctr("s0", "side", 0, runtime.StateRunning, t0)},
			current:  map[string]string{"app": "a0", "side": "s0"},
			restarts: map[string]int32{"app": 0, "side": 0},
		},
		{
			name:     "the restart count is the newest attempt; its backoff is owed",
			in:       []*runtime.ContainerStatus{ctr("a3", "app", 3, runtime.StateExited, t0)},
			current:  map[string]string{"app": "a3"},
			restarts: map[string]int32{"app": 3},
			backoff:  map[string]time.Duration{"app": 40 * time.Second},
		},
		{
			name: "older instances are the previous one and stale",
			in: []*runtime.ContainerStatus{
				ctr("a1", "app", 1, runtime.StateExited, t0.Add(time.Second)),
				ctr("a2", "app", 2, runtime.StateRunning, t0.Add(2*time.Second)),
				ctr("a0", "app", 0, runtime.StateExited, t0),
			},
			current:  map[string]string{"app": "a2"},
			previous: map[string]string{"app": "a1"},
			restarts: map[string]int32{"app": 2},
			backoff:  map[string]time.Duration{"app": 20 * time.Second},
			stale:    []string{"a0", "a1"},
		},
		{
			name: "same attempt: the newer creation wins",
			in: []*runtime.ContainerStatus{
				ctr("x", "init", 0, runtime.StateExited, t0.Add(time.Second)),
				ctr("y", "init", 0, runtime.StateExited, t0),
			},
			current:  map[string]string{"init": "x"},
			previous: map[string]string{"init": "y"},
			restarts: map[string]int32{"init": 0},
			stale:    []string{"y"},
		},
		{
			name:     "a container the spec does not name is stale",
			in:       []*runtime.ContainerStatus{ctr("old", "renamed", 0, runtime.StateRunning, t0), ctr("a0", "app", 0, runtime.StateCreated, t0)},
			current:  map[string]string{"app": "a0"},
			restarts: map[string]int32{"app": 0},
			stale:    []string{"old"},
		},
		{
			name:     "the backoff stops doubling at its maximum",
			in:       []*runtime.ContainerStatus{ctr("a9", "app", 9, runtime.StateExited, t0)},
			current:  map[string]string{"app": "a9"},
			restarts: map[string]int32{"app": 9},
			backoff:  map[string]time.Duration{"app": plan.MaxBackoff},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, stale := adopt(pod, tt.in)
			if len(obs.Containers) != len(tt.current) {
				t.Errorf("adopted %d containers, want %d", len(obs.Containers), len(tt.current))
			}
			for name, id := range tt.current {
				o := obs.Containers[name]
				if o == nil || o.Current == nil || o.Current.ID != id {
					t.Errorf("%s: current = %+v, want ID %s", name, o, id)
					continue
				}
				if o.RestartCount != tt.restarts[name] {
					t.Errorf("%s: restart count %d, want %d", name, o.RestartCount, tt.restarts[name])
				}
				var prev string
				if o.Previous != nil {
					prev = o.Previous.ID
				}
				if prev != tt.previous[name] {
					t.Errorf("%s: previous %q, want %q", name, prev, tt.previous[name])
				}
				if o.Backoff.Period != tt.backoff[name] {
					t.Errorf("%s: backoff %v, want %v", name, o.Backoff.Period, tt.backoff[name])
				}
				if o.Backoff.Period != 0 && !o.Backoff.LastRestart.Equal(o.Current.StartedAt) {
					t.Errorf("%s: backoff counted from %v, want the start %v", name, o.Backoff.LastRestart, o.Current.StartedAt)
				}
			}
			if !slices.Equal(stale, tt.stale) {
				t.Errorf("stale = %v, want %v", stale, tt.stale)
			}
		})
	}
}
