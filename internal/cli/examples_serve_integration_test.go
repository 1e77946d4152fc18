//go:build integration

package cli

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fetch GETs url until check accepts the 200 answer's body or the
// deadline passes, and returns the last body.
func fetch(t *testing.T, url string, within time.Duration, check func(string) bool) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var last string
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%s\n%s", resp.Status, body)
			if resp.StatusCode == http.StatusOK && check(string(body)) {
				return string(body)
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: not as expected within %s; last:\n%s", url, within, last)
		}
	}
}

func containsAll(want ...string) func(string) bool {
	return func(s string) bool {
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	}
}

// TestExamplesServe applies each file in examples/ to one serve with
// kubectl, checks what its pods do from kubectl and from the host (pod IPs
// on the test's bridge, node ports on 127.0.0.1), deletes it and waits
// until its pods are gone.
func TestExamplesServe(t *testing.T) {
	t0 := time.Now()
	srv := newServer(t, seedImages(t)...)
	began := time.Now()

	examples := []struct {
		files []string
		// grace, if set, is the delete's --grace-period.
		grace string
		check func(t *testing.T, s *server, watch *lockedBuffer)
	}{
		{files: []string{"demo.yaml"}, check: func(t *testing.T, s *server, watch *lockedBuffer) {
			s.pollKubectl(containsAll("hello from demo, served over localhost"), "logs", "demo", "-c", "client")
			s.pollKubectl(containsAll("request window 1"), "logs", "demo", "-c", "log-tailer")
		}},
		{files: []string{"backend-proxy.yaml"}, check: func(t *testing.T, s *server, watch *lockedBuffer) {
			ip := s.podIP("backend-proxy-pod")
			body := fetch(t, "http://"+ip+"/", 60*time.Second, containsAll("hello from main-app on :8080, via the proxy"))
			t.Logf("GET %s:80 = %q", ip, strings.TrimSpace(body))
		}},
		{files: []string{"init-nginx-index.yaml"}, check: func(t *testing.T, s *server, watch *lockedBuffer) {
			s.pollKubectl(func(out string) bool {
				f := strings.Fields(out)
				return len(f) >= 3 && f[1] == "2/2" && f[2] == "Running"
			}, "get", "pod", "init-container-example", "--no-headers")
			init := s.mustKubectl("get", "pod", "init-container-example", "-o",
				"jsonpath={.status.initContainerStatuses[0].name} {.status.initContainerStatuses[0].state.terminated.reason} {.status.initContainerStatuses[0].state.terminated.exitCode}")
			if init != "init-myservice Completed 0" {
				t.Errorf("init container status: %q, want init-myservice Completed 0", init)
			}
			port := s.mustKubectl("get", "service", "pod-initcontainers-service", "-o", "jsonpath={.spec.type} {.spec.ports[0].nodePort}")
			typ, p, _ := strings.Cut(port, " ")
			if n, err := strconv.Atoi(p); typ != "NodePort" || err != nil || n < 30000 || n > 32767 {
				t.Fatalf("service: %q, want NodePort and a port in 30000-32767", port)
			}
			for _, host := range []string{"127.0.0.1", s.n.gatewayIP()} {
				body := fetch(t, "http://"+host+":"+p+"/", 30*time.Second, func(b string) bool { return b == "Hello from Init Container!\n" })
				t.Logf("GET %s:%s = %q", host, p, strings.TrimSpace(body))
			}
			// The STATUS `kubectl get pods -w`, started before the apply, saw.
			seq := statuses(watch.String(), "init-container-example")
			t.Logf("kubectl get pods -w: %v", seq)
			// Init:0/1 and PodInitializing may pass between two updates
			// of the status; nothing else may be seen.
			for _, st := range seq {
				if !slices.Contains([]string{"0/2 Pending", "0/2 ContainerCreating", "0/2 Init:0/1", "0/2 PodInitializing", "1/2 Running", "2/2 Running"}, st) {
					t.Errorf("status %q in %v", st, seq)
				}
			}
		}},
		{files: []string{"sidecar-nginx-log-tail.yaml"}, check: func(t *testing.T, s *server, watch *lockedBuffer) {
			ip := s.podIP("sidecar-example")
			const agent = "peapod-examples-test"
			req, _ := http.NewRequest(http.MethodGet, "http://"+ip+"/", nil)
			req.Header.Set("User-Agent", agent)
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET %s: %v", req.URL, err)
				}
			}
			// From the host the request comes from the bridge's address.
			want := s.n.gatewayIP() + ` - - [`
			logs := s.pollKubectl(func(out string) bool {
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, want) && strings.Contains(l, `"GET / HTTP/1.1" 200 `) && strings.Contains(l, agent) {
						return true
					}
				}
				return false
			}, "logs", "sidecar-example", "-c", "log-collector-sidecar")
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, agent) {
					t.Logf("log-collector-sidecar: %s", l)
				}
			}
		}},
		{files: []string{"native-sidecar-log-shipper.yaml"}, check: func(t *testing.T, s *server, watch *lockedBuffer) {
			// The app's first wget may run before its httpd listens:
			// window 1 may have an empty page.
			shipped := regexp.MustCompile(`(?m)^shipped: \S+ web-app: served window \d+, simple-webapp$`)
			logs := s.pollKubectl(func(out string) bool {
				return strings.HasPrefix(out, "log-shipper: started, shipping /logs/app.log\n") && shipped.MatchString(out)
			}, "logs", "simple-webapp", "-c", "log-shipper")
			t.Logf("log-shipper:\n%s", logs)
			s.pollKubectl(func(out string) bool {
				f := strings.Fields(out)
				return len(f) >= 3 && f[1] == "2/2" && f[2] == "Running"
			}, "get", "pod", "simple-webapp", "--no-headers")
		}},
		{files: []string{"adapter-nginx-exporter.yaml"}, check: func(t *testing.T, s *server, watch *lockedBuffer) {
			ip := s.podIP("pod-adapter")
			body := fetch(t, "http://"+ip+":9113/metrics", 60*time.Second, func(b string) bool {
				return strings.Contains(b, "\nnginx_up 1\n") && strings.Contains(b, "\nnginx_connections_active ")
			})
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "nginx_up") || strings.HasPrefix(l, "nginx_connections_active") {
					t.Logf("%s:9113/metrics: %s", ip, l)
				}
			}
		}},
		// TestServe_InitWaitsForServices watches the pod wait for the
		// Services; here they are there first and it just runs. Its sh
		// (PID 1, no trap) ignores SIGTERM, hence the short grace period.
		{files: []string{"init-wait-services-svcs.yaml", "init-wait-services.yaml"}, grace: "1", check: func(t *testing.T, s *server, watch *lockedBuffer) {
			s.pollKubectl(func(out string) bool {
				f := strings.Fields(out)
				return len(f) >= 3 && f[1] == "1/1" && f[2] == "Running"
			}, "get", "pod", "myapp-pod", "--no-headers")
			if logs := s.mustKubectl("logs", "myapp-pod"); !strings.Contains(logs, "The app is running!") {
				t.Errorf("myapp-container: %q", logs)
			}
		}},
		// Its containers, sh without a trap and nc as PID 1, ignore
		// SIGTERM: a short grace period spares the default 30 s.
		{files: []string{"ambassador-backend.yaml"}, grace: "2", check: func(t *testing.T, s *server, watch *lockedBuffer) {
			logs := s.pollKubectl(containsAll("<title>Welcome to nginx!</title>"), "logs", "app-with-ambassador", "-c", "app")
			t.Logf("app:\n%s", logs)
		}},
	}
	var covered []string
	for _, ex := range examples {
		covered = append(covered, ex.files...)
	}
	all, _ := filepath.Glob("../../examples/*.yaml")
	for _, f := range all {
		if !slices.Contains(covered, filepath.Base(f)) {
			t.Errorf("examples/%s has no check here", filepath.Base(f))
		}
	}
	for _, ex := range examples {
		name := strings.TrimSuffix(ex.files[len(ex.files)-1], ".yaml")
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			s := &server{t: t, n: srv.n, kubeconfig: srv.kubeconfig}
			watch := s.background(2*time.Minute, "get", "pods", "-w", "--no-headers")
			args := []string{"delete", "--wait", "--timeout=90s", "--ignore-not-found"}
			if ex.grace != "" {
				args = append(args, "--grace-period="+ex.grace)
			}
			for _, f := range ex.files {
				args = append(args, "-f", "../../examples/"+f)
			}
			deleted := false
			t.Cleanup(func() {
				if !deleted {
					s.kubectl(args...)
				}
			})
			for _, f := range ex.files {
				s.mustKubectl("apply", "-f", "../../examples/"+f)
			}
			ex.check(t, s, watch)
			checked := time.Since(start)
			s.mustKubectl(args...)
			deleted = true
			s.pollKubectl(func(out string) bool { return strings.TrimSpace(out) == "" }, "get", "pods", "-o", "name")
			t.Logf("checked in %s, deleted in %s", checked.Round(100*time.Millisecond), (time.Since(start) - checked).Round(100*time.Millisecond))
		})
	}
	t.Logf("all examples in %s (serve, with the images, ready in %s)", time.Since(began).Round(100*time.Millisecond), began.Sub(t0).Round(100*time.Millisecond))
}

// podIP waits until pod is Ready and returns its IP.
func (s *server) podIP(pod string) string {
	s.t.Helper()
	s.mustKubectl("wait", "--for=condition=Ready", "pod/"+pod, "--timeout=60s")
	ip := strings.TrimSpace(s.mustKubectl("get", "pod", pod, "-o", "jsonpath={.status.podIP}"))
	if ip == "" {
		s.t.Fatalf("pod %s has no IP", pod)
	}
	return ip
}
