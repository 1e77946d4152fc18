package probe

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/agent/nodemetrics"
	"peapod/internal/agent/plan"
)

// Kind is which of a container's probes.
type Kind int8

const (
	Startup Kind = iota
	Liveness
	Readiness
)

func (k Kind) String() string {
	return [...]string{"Startup", "Liveness", "Readiness"}[k]
}

// EventFunc receives the kubelet's probe events (Unhealthy, ProbeWarning)
// for a container.
type EventFunc func(container, eventType, reason, message string)

// Manager runs the probes of a pod's container instances: one goroutine
// per probe, asleep on a timer between runs, as the kubelet's prober
// workers. Results change only after the probe's thresholds, and each
// change is signalled on Updates for the agent to re-plan.
type Manager struct {
	event   EventFunc
	updates chan struct{}
	wg      sync.WaitGroup

	mu        sync.Mutex
	instances map[string]*instance // by container ID
}

// instance is the probe state of one container instance.
type instance struct {
	results plan.Probes
	// started is set once the startup probe succeeded (at once without
	// one): liveness and readiness do not run before.
	started bool
	cancel  [3]context.CancelFunc
	// kick makes the readiness worker probe now (after startup succeeds).
	kick chan struct{}
}

// NewManager returns a Manager reporting events to event (may be nil).
func NewManager(event EventFunc) *Manager {
	if event == nil {
		event = func(string, string, string, string) {}
	}
	return &Manager{event: event, updates: make(chan struct{}, 1), instances: map[string]*instance{}}
}

// Updates receives a value after one or more results changed.
func (m *Manager) Updates() <-chan struct{} { return m.updates }

// Add starts the probes of a container instance that started at
// startedAt. Adding an instance again does nothing.
func (m *Manager) Add(ctx context.Context, c *corev1.Container, t Target, startedAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.instances[t.ContainerID]; ok {
		return
	}
	inst := &instance{started: c.StartupProbe == nil, kick: make(chan struct{}, 1)}
	m.instances[t.ContainerID] = inst
	for kind, p := range [...]*corev1.Probe{Startup: c.StartupProbe, Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe} {
		if p == nil {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		inst.cancel[kind] = cancel
		w := &worker{m: m, inst: inst, kind: Kind(kind), probe: p, container: c.Name, target: t, startedAt: startedAt}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			w.run(pctx)
		}()
	}
}

// Results returns the published results of a container instance.
func (m *Manager) Results(id string) plan.Probes {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inst := m.instances[id]; inst != nil {
		return inst.results
	}
	return plan.Probes{}
}

// Remove stops the probes of a container instance that exited or was
// replaced, and forgets its results.
func (m *Manager) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inst := m.instances[id]; inst != nil {
		inst.stop(Startup, Liveness, Readiness)
		delete(m.instances, id)
	}
}

// StopLiveness stops every liveness and startup probe: the pod is
// terminating. Readiness probes keep running, as the kubelet's.
func (m *Manager) StopLiveness() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, inst := range m.instances {
		inst.stop(Startup, Liveness)
	}
}

// Close stops every probe and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	for id, inst := range m.instances {
		inst.stop(Startup, Liveness, Readiness)
		delete(m.instances, id)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func (inst *instance) stop(kinds ...Kind) {
	for _, k := range kinds {
		if c := inst.cancel[k]; c != nil {
			c()
		}
	}
}

// set publishes a changed result, unless the instance is gone.
func (m *Manager) set(w *worker, r plan.ProbeResult) {
	m.mu.Lock()
	inst, ok := m.instances[w.target.ContainerID]
	if ok && inst == w.inst {
		switch w.kind {
		case Startup:
			inst.results.Startup = r
			if r == plan.ProbeSuccess {
				inst.started = true
				select {
				case inst.kick <- struct{}{}:
				default:
				}
			}
		case Liveness:
			inst.results.Liveness = r
		case Readiness:
			inst.results.Readiness = r
		}
	}
	m.mu.Unlock()
	if ok {
		select {
		case m.updates <- struct{}{}:
		default:
		}
	}
}

func (m *Manager) started(inst *instance) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return inst.started
}

// worker runs one probe of one container instance.
type worker struct {
	m         *Manager
	inst      *instance
	kind      Kind
	probe     *corev1.Probe
	container string
	target    Target
	startedAt time.Time
}

// run probes first initialDelaySeconds after the container started, then
// every periodSeconds, until ctx ends; a liveness or startup failure and a
// startup success end it too (the kubelet's worker holds until the next
// instance, which gets workers of its own).
func (w *worker) run(ctx context.Context) {
	p := w.probe
	period := seconds(p.PeriodSeconds, 10)
	timeout := seconds(p.TimeoutSeconds, 1)
	timer := time.NewTimer(max(time.Until(w.startedAt.Add(time.Duration(p.InitialDelaySeconds)*time.Second)), 0))
	defer timer.Stop()
	var kick <-chan struct{}
	if w.kind == Readiness {
		kick = w.inst.kick
	}
	last, run, published := plan.ProbeUnknown, int32(0), plan.ProbeUnknown
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-kick:
			if time.Since(w.startedAt) < time.Duration(p.InitialDelaySeconds)*time.Second {
				continue // the timer still holds the initial delay
			}
		}
		timer.Reset(period)
		if w.kind != Startup && !w.m.started(w.inst) {
			continue
		}
		began := time.Now()
		res, out, err := Run(ctx, w.target, &p.ProbeHandler, timeout)
		if ctx.Err() != nil {
			return
		}
		w.record(res, err, time.Since(began))
		if err != nil {
			continue // not run: the kubelet ignores it
		}
		out = strings.TrimSpace(out)
		r := plan.ProbeSuccess
		switch res {
		case Warning:
			w.m.event(w.container, corev1.EventTypeWarning, "ProbeWarning", fmt.Sprintf("%s probe warning: %s", w.kind, out))
		case Failure:
			r = plan.ProbeFailure
			w.m.event(w.container, corev1.EventTypeWarning, "Unhealthy", fmt.Sprintf("%s probe failed: %s", w.kind, out))
		}
		if r == last {
			run++
		} else {
			last, run = r, 1
		}
		threshold := p.SuccessThreshold
		if r == plan.ProbeFailure {
			threshold = p.FailureThreshold
		}
		if run < max(threshold, 1) || r == published {
			continue
		}
		published = r
		w.m.set(w, r)
		if w.kind == Startup && r == plan.ProbeSuccess || w.kind != Readiness && r == plan.ProbeFailure {
			return
		}
	}
}

// record counts a probe run in the prober's metrics as the kubelet's
// prober does: a warning is a success; a probe that could not run (err)
// is thrown away, uncounted.
func (w *worker) record(res Result, err error, took time.Duration) {
	if err != nil {
		return
	}
	t, kind, result := w.target, w.kind.String(), nodemetrics.ProbeSuccessful
	if res == Failure {
		result = nodemetrics.ProbeFailed
	}
	nodemetrics.ProbeTotal.WithLabelValues(kind, result, t.Container, t.PodName, t.PodNamespace, t.PodUID).Inc()
	nodemetrics.ProbeDuration.WithLabelValues(kind, t.Container, t.PodName, t.PodNamespace).Observe(took.Seconds())
}

func seconds(n, def int32) time.Duration {
	if n < 1 {
		n = def
	}
	return time.Duration(n) * time.Second
}
