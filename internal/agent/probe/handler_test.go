package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"peapod/internal/runtime"
	"peapod/internal/runtime/runtimetest"
)

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestRun_HTTPGet(t *testing.T) {
	var gotUA, gotAccept, gotHost, gotCustom string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotAccept, gotHost, gotCustom = r.UserAgent(), r.Header.Get("Accept"), r.Host, r.Header.Get("X-Custom")
		w.Write([]byte(strings.Repeat("x", 20<<10)))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
	})
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tls := httptest.NewTLSServer(mux)
	defer tls.Close()
	_, port := hostPort(t, srv.Listener.Addr().String())
	_, tlsPort := hostPort(t, tls.Listener.Addr().String())

	tgt := Target{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	get := func(path string, port intstr.IntOrString) *corev1.ProbeHandler {
		return &corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port}}
	}
	cases := []struct {
		name    string
		h       *corev1.ProbeHandler
		timeout time.Duration
		want    Result
		out     string // substring of the output
		err     bool
	}{
		{name: "2xx by port number", h: get("/ok", intstr.FromInt32(int32(port))), want: Success},
		{name: "by port name", h: get("/ok", intstr.FromString("http")), want: Success},
		{name: "unknown port name is a probe error", h: get("/ok", intstr.FromString("nope")), err: true},
		{name: "same-host redirect is followed", h: get("/moved", intstr.FromInt32(int32(port))), want: Success},
		{name: "other-host redirect: success with a warning", h: get("/away", intstr.FromInt32(int32(port))), want: Warning, out: "Probe terminated redirects"},
		{name: "5xx fails", h: get("/bad", intstr.FromInt32(int32(port))), want: Failure, out: "HTTP probe failed with statuscode: 500"},
		{name: "timeout fails", h: get("/slow", intstr.FromInt32(int32(port))), timeout: 200 * time.Millisecond, want: Failure, out: "Client.Timeout"},
		{name: "refused fails", h: get("/", intstr.FromInt32(1)), want: Failure, out: "refused"},
		{
			name: "HTTPS without verification",
			h:    &corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(tlsPort)), Scheme: corev1.URISchemeHTTPS}},
			want: Success,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			res, out, err := Run(context.Background(), tgt, tc.h, timeout)
			if tc.err {
				if err == nil {
					t.Errorf("no error (%v %q)", res, out)
				}
				return
			}
			if err != nil || res != tc.want || !strings.Contains(out, tc.out) {
				t.Errorf("= %v, %.100q, %v; want %v, %q", res, out, err, tc.want, tc.out)
			}
			if len(out) > maxBody+len("Probe terminated redirects, Response body: ") {
				t.Errorf("body not capped: %d bytes", len(out))
			}
		})
	}

	h := get("/ok", intstr.FromInt32(int32(port)))
	h.HTTPGet.HTTPHeaders = []corev1.HTTPHeader{{Name: "X-Custom", Value: "v"}, {Name: "Host", Value: "example.test"}}
	if res, _, err := Run(context.Background(), tgt, h, time.Second); res != Success || err != nil {
		t.Fatalf("%v %v", res, err)
	}
	if gotUA != "kube-probe/1.32" || gotAccept != "*/*" || gotHost != "example.test" || gotCustom != "v" {
		t.Errorf("headers: UA %q Accept %q Host %q X-Custom %q", gotUA, gotAccept, gotHost, gotCustom)
	}
}

func TestRun_TCPSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port := hostPort(t, l.Addr().String())
	h := &corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}
	if res, out, err := Run(context.Background(), Target{}, h, time.Second); res != Success || err != nil {
		t.Errorf("listening: %v %q %v", res, out, err)
	}
	l.Close()
	if res, out, err := Run(context.Background(), Target{}, h, time.Second); res != Failure || err != nil || !strings.Contains(out, "refused") {
		t.Errorf("closed: %v %q %v", res, out, err)
	}
}

func TestRun_GRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(l)
	defer srv.Stop()
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	_, port := hostPort(t, l.Addr().String())
	probe := func(service *string) (Result, string, error) {
		return Run(context.Background(), Target{}, &corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(port), Service: service}}, 2*time.Second)
	}
	if res, out, err := probe(nil); res != Success || err != nil {
		t.Errorf("overall: %v %q %v", res, out, err)
	}
	db := "db"
	if res, out, err := probe(&db); res != Failure || err != nil || out != `service unhealthy (responded with "NOT_SERVING")` {
		t.Errorf("db: %v %q %v", res, out, err)
	}
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_SERVING)
	if res, out, err := probe(&db); res != Success || err != nil {
		t.Errorf("db serving: %v %q %v", res, out, err)
	}
	srv.Stop()
	if res, _, err := probe(nil); res != Failure || err != nil {
		t.Errorf("stopped server: %v %v", res, err)
	}
}

// runningContainer returns a fake runtime with one running container.
func runningContainer(tb testing.TB) (*runtimetest.Fake, string) {
	tb.Helper()
	f := runtimetest.NewFake()
	if _, err := f.CreateSandbox(context.Background(), runtime.SandboxSpec{ID: "sb", Name: "p", Namespace: "default", UID: "u"}); err != nil {
		tb.Fatal(err)
	}
	id, err := startFake(f)
	if err != nil {
		tb.Fatal(err)
	}
	return f, id
}

// startFake starts a container that runs until stopped in f's sandbox.
func startFake(f *runtimetest.Fake) (string, error) {
	ctx := context.Background()
	id, err := f.CreateContainer(ctx, runtime.ContainerSpec{SandboxID: "sb", Name: "c", Args: []string{"x"}})
	if err != nil {
		return "", err
	}
	return id, f.StartContainer(ctx, id)
}

func TestRun_Exec(t *testing.T) {
	f, id := runningContainer(t)
	f.ExecFunc = func(ctx context.Context, req runtime.ExecRequest) (int, error) {
		switch req.Cmd[0] {
		case "fail":
			req.Stdout.Write([]byte("unhealthy\n"))
			return 1, nil
		case "hang":
			ctx, cancel := context.WithTimeout(ctx, req.Timeout)
			defer cancel()
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return 0, nil
	}
	tgt := Target{Runtime: f, ContainerID: id}
	exec := func(cmd ...string) *corev1.ProbeHandler {
		return &corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}
	}
	if res, _, err := Run(context.Background(), tgt, exec("ok"), time.Second); res != Success || err != nil {
		t.Errorf("ok: %v %v", res, err)
	}
	if res, out, err := Run(context.Background(), tgt, exec("fail"), time.Second); res != Failure || err != nil || out != "unhealthy\n" {
		t.Errorf("fail: %v %q %v", res, out, err)
	}
	if res, out, err := Run(context.Background(), tgt, exec("hang", "x"), 100*time.Millisecond); res != Failure || err != nil || out != `command "hang x" timed out` {
		t.Errorf("hang: %v %q %v", res, out, err)
	}
	if _, _, err := Run(context.Background(), Target{Runtime: f, ContainerID: "gone"}, exec("ok"), time.Second); err == nil {
		t.Error("exec in a missing container is not a probe error")
	}
}

func TestHook(t *testing.T) {
	f, id := runningContainer(t)
	tgt := Target{Runtime: f, ContainerID: id, Container: "c", PodName: "p", PodNamespace: "default", PodUID: "u"}
	ctx := context.Background()
	if err := Hook(ctx, tgt, &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"exit", "0"}}}, nil); err != nil {
		t.Error(err)
	}
	err := Hook(ctx, tgt, &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"exit", "3"}}}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), `Exec lifecycle hook ([exit 3]) for Container "c" in Pod "p_default(u)" failed - error: command 'exit 3' exited with 3`) {
		t.Errorf("exec failure: %v", err)
	}

	hits := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.URL.String()
		w.WriteHeader(http.StatusInternalServerError) // a hook does not look at the status
	}))
	defer srv.Close()
	_, port := hostPort(t, srv.Listener.Addr().String())
	if err := Hook(ctx, tgt, &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/echo?msg=poststart", Port: intstr.FromInt32(int32(port))}}, nil); err != nil {
		t.Error(err)
	}
	if got := <-hits; got != "/echo?msg=poststart" {
		t.Errorf("hook request %q", got)
	}
	err = Hook(ctx, tgt, &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(1)}}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), `HTTP lifecycle hook (/) for Container "c" in Pod "p_default(u)" failed - error: `) {
		t.Errorf("http failure: %v", err)
	}

	exited := make(chan struct{})
	close(exited)
	err = Hook(ctx, tgt, &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 30}}, exited)
	if err == nil || !strings.Contains(err.Error(), "container terminated before sleep hook finished") {
		t.Errorf("sleep after exit: %v", err)
	}
	if err := Hook(ctx, tgt, &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 0}}, nil); err != nil {
		t.Errorf("sleep 0: %v", err)
	}
	if err := Hook(ctx, tgt, &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}}, nil); err == nil {
		t.Error("a tcpSocket hook ran")
	}
}
