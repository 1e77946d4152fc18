//go:build integration

package cli

import (
	"fmt"
	"testing"
	"time"

	"peapod/internal/testenv"
)

// /metrics, scraped with kubectl and parsed as Prometheus parses it, has
// the node's pods, containers, starts, probes and restarts under the
// kubelet's (and kube-state-metrics') names next to the API's requests.
func TestServe_Metrics(t *testing.T) {
	s := newServer(t)
	s.apply(`apiVersion: v1
kind: Pod
metadata: {name: measured}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: init, image: busybox:1.36, command: ["true"]}
  containers:
  - name: web
    image: busybox:1.36
    command: [sleep, "3600"]
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 1
  - {name: crash, image: busybox:1.36, command: [sh, -c, "exit 1"]}
`)
	pod := map[string]string{"namespace": "default", "pod": "measured"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range pod {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	want := []struct {
		family string
		labels map[string]string
		min    float64
	}{
		{"kubelet_running_pods", nil, 1},
		{"kubelet_running_containers", map[string]string{"container_state": "running"}, 1},
		{"kubelet_pod_start_duration_seconds", nil, 1},
		{"kubelet_pod_worker_duration_seconds", map[string]string{"operation_type": "create"}, 1},
		{"kubelet_started_pods_total", nil, 1},
		{"kubelet_started_containers_total", map[string]string{"container_type": "init_container"}, 1},
		{"kubelet_started_containers_total", map[string]string{"container_type": "container"}, 3},
		{"prober_probe_total", with(map[string]string{"probe_type": "Readiness", "result": "successful", "container": "web"}), 2},
		{"prober_probe_duration_seconds", with(map[string]string{"probe_type": "Readiness", "container": "web"}), 2},
		{"kube_pod_container_status_restarts_total", with(map[string]string{"container": "crash"}), 1},
		{"apiserver_request_total", map[string]string{"verb": "PATCH", "resource": "pods", "subresource": "status", "code": "200"}, 1},
	}
	scrape := func() (testenv.Metrics, error) {
		out, err := s.kubectl("get", "--raw", "/metrics")
		if err != nil {
			return nil, fmt.Errorf("%v: %s", err, out)
		}
		return testenv.ParseMetrics([]byte(out))
	}
	eventually(t, 60*time.Second, "metrics", func() (bool, string) {
		m, err := scrape()
		if err != nil {
			return false, err.Error()
		}
		for _, w := range want {
			if got := m.Sample(w.family, w.labels); got < w.min {
				return false, fmt.Sprintf("%s%v = %v, want ≥ %v", w.family, w.labels, got, w.min)
			}
		}
		return true, ""
	})
	// A deleted pod's probe series go with it, as the kubelet's do.
	s.mustKubectl("delete", "pod", "measured", "--timeout=60s")
	eventually(t, 30*time.Second, "probe series removed", func() (bool, string) {
		m, err := scrape()
		if err != nil {
			return false, err.Error()
		}
		for _, f := range []string{"prober_probe_total", "prober_probe_duration_seconds"} {
			if got := m.Sample(f, pod); got != 0 {
				return false, fmt.Sprintf("%s%v = %v", f, pod, got)
			}
		}
		return true, ""
	})
}
