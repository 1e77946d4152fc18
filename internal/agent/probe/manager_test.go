package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"peapod/internal/agent/plan"
	"peapod/internal/runtime"
)

// poll waits up to 10 s for cond.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The startup probe gates liveness and readiness; its success triggers
// readiness at once and ends it; liveness failure is published after
// failureThreshold and ends the liveness worker, while readiness goes on.
func TestManager(t *testing.T) {
	f, id := runningContainer(t)
	var up, liveOK atomic.Bool
	liveOK.Store(true)
	var calls sync.Map // command -> *atomic.Int32
	count := func(cmd string) int32 {
		v, _ := calls.LoadOrStore(cmd, new(atomic.Int32))
		return v.(*atomic.Int32).Load()
	}
	f.ExecFunc = func(_ context.Context, req runtime.ExecRequest) (int, error) {
		v, _ := calls.LoadOrStore(req.Cmd[0], new(atomic.Int32))
		v.(*atomic.Int32).Add(1)
		ok := map[string]bool{"startup": up.Load(), "live": liveOK.Load(), "ready": true}[req.Cmd[0]]
		if !ok {
			req.Stdout.Write([]byte("nope\n"))
			return 1, nil
		}
		return 0, nil
	}
	var mu sync.Mutex
	var events []string
	m := NewManager(func(container, eventType, reason, message string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, container+" "+reason+" "+message)
	})
	defer m.Close()
	probe := func(cmd string, failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: failures}
	}
	c := &corev1.Container{Name: "c", StartupProbe: probe("startup", 100), LivenessProbe: probe("live", 2), ReadinessProbe: probe("ready", 1)}
	m.Add(context.Background(), c, Target{Runtime: f, ContainerID: id}, time.Now())

	poll(t, "a first startup probe", func() bool { return count("startup") >= 1 })
	if r := m.Results(id); r != (plan.Probes{}) || count("live") != 0 || count("ready") != 0 {
		t.Fatalf("before startup success: results %+v, liveness ran %d, readiness ran %d", r, count("live"), count("ready"))
	}
	up.Store(true)
	poll(t, "startup and readiness success", func() bool {
		r := m.Results(id)
		return r.Startup == plan.ProbeSuccess && r.Readiness == plan.ProbeSuccess
	})
	select {
	case <-m.Updates():
	default:
		t.Error("no update signalled")
	}
	startups := count("startup")
	liveOK.Store(false)
	poll(t, "liveness failure", func() bool { return m.Results(id).Liveness == plan.ProbeFailure })
	lives, readies := count("live"), count("ready")
	poll(t, "readiness to go on", func() bool { return count("ready") >= readies+2 })
	if count("live") != lives || count("startup") != startups {
		t.Errorf("liveness (%d -> %d) or startup (%d -> %d) probed after they ended", lives, count("live"), startups, count("startup"))
	}
	mu.Lock()
	defer mu.Unlock()
	want := "c Unhealthy Liveness probe failed: nope"
	found := false
	for _, e := range events {
		found = found || e == want
	}
	if !found {
		t.Errorf("events %q lack %q", events, want)
	}
	m.Remove(id)
	if r := m.Results(id); r != (plan.Probes{}) {
		t.Errorf("results after Remove: %+v", r)
	}
}

// StopLiveness leaves readiness running.
func TestManager_StopLiveness(t *testing.T) {
	f, id := runningContainer(t)
	var live, ready atomic.Int32
	f.ExecFunc = func(_ context.Context, req runtime.ExecRequest) (int, error) {
		if req.Cmd[0] == "live" {
			live.Add(1)
		} else {
			ready.Add(1)
		}
		return 0, nil
	}
	m := NewManager(nil)
	defer m.Close()
	p := func(cmd string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1}
	}
	m.Add(context.Background(), &corev1.Container{Name: "c", LivenessProbe: p("live"), ReadinessProbe: p("ready")}, Target{Runtime: f, ContainerID: id}, time.Now())
	poll(t, "both probes", func() bool { return live.Load() > 0 && ready.Load() > 0 })
	m.StopLiveness()
	l, r := live.Load(), ready.Load()
	poll(t, "readiness to go on", func() bool { return ready.Load() >= r+2 })
	if live.Load() > l+1 { // one may have been under way
		t.Errorf("liveness ran %d more times after StopLiveness", live.Load()-l)
	}
}

// BenchmarkManager_100Pods measures the CPU of 100 pods with three probes
// each at periodSeconds 1 (an exec liveness and an httpGet readiness on
// one container, a tcpSocket liveness on another), against the fake
// runtime and loopback servers. One iteration is one probe period.
func BenchmarkManager_100Pods(b *testing.B) {
	f, _ := runningContainer(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port := intstr.Parse(p)
	m := NewManager(nil)
	defer m.Close()
	probe := func(h corev1.ProbeHandler) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: h, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	}
	for i := range 100 {
		id, err := startFake(f)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now().Add(time.Duration(i) * 10 * time.Millisecond) // spread, as real starts are
		m.Add(context.Background(), &corev1.Container{
			Name:           "app",
			LivenessProbe:  probe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}),
			ReadinessProbe: probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: port}}),
		}, Target{Runtime: f, ContainerID: id}, start)
		id2, err := startFake(f)
		if err != nil {
			b.Fatal(err)
		}
		m.Add(context.Background(), &corev1.Container{
			Name:          "side",
			LivenessProbe: probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: port}}),
		}, Target{Runtime: f, ContainerID: id2}, start)
	}
	time.Sleep(2 * time.Second) // let every worker reach its steady period
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	t0 := time.Now()
	b.ResetTimer()
	for range b.N {
		time.Sleep(time.Second)
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(syscall.TimevalToNsec(after.Utime) + syscall.TimevalToNsec(after.Stime) -
		syscall.TimevalToNsec(before.Utime) - syscall.TimevalToNsec(before.Stime))
	b.ReportMetric(float64(cpu.Milliseconds())/time.Since(t0).Seconds(), "cpu-ms/s")
	b.ReportMetric(100*float64(cpu)/float64(time.Since(t0)), "%cpu")
}
