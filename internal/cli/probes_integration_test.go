//go:build integration

package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// before reports whether a occurs in s, and before b (which must occur).
func before(s, a, b string) bool {
	i, j := strings.Index(s, a), strings.Index(s, b)
	return i >= 0 && j >= 0 && i < j
}

// A readiness probe with an initial delay: the first probe runs only after
// it, and the container turns ready with that first success.
func TestProbes_ReadinessInitialDelay(t *testing.T) {
	n := newNode(t)
	out, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: delayed}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "date +%s > /tmp/start; trap 'exit 0' TERM; sleep 3600 & wait"]
    readinessProbe:
      exec: {command: ["sh", "-c", "echo probed-after-$(( $(date +%s) - $(cat /tmp/start) )) > /proc/1/fd/1"]}
      initialDelaySeconds: 3
      periodSeconds: 1
`, "--timeout", "6s")
	m := regexp.MustCompile(`web \| probed-after-(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("readiness probe never ran:\n%s\n%s", out, errOut)
	}
	// date has whole seconds and the delay counts from a moment before the
	// container's first line.
	if after, _ := strconv.Atoi(m[1]); after < 2 {
		t.Errorf("first readiness probe %ds after start, before the 3s delay", after)
	}
	if !before(errOut, "web: Running, not ready", "web: Running, ready") {
		t.Errorf("web did not go from not ready to ready:\n%s", errOut)
	}
}

// A liveness exec probe that starts failing (a file is removed) kills the
// container with the kubelet's events, and it restarts exactly once (its
// second run stays healthy: it leaves a mark in an emptyDir).
func TestProbes_LivenessExecRestartsOnce(t *testing.T) {
	n := newNode(t)
	out, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "touch /tmp/healthy; if [ ! -f /ev/mark ]; then touch /ev/mark; sleep 2; rm /tmp/healthy; fi; trap 'exit 0' TERM; sleep 3600 & wait"]
    volumeMounts: [{name: ev, mountPath: /ev}]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 2
  volumes:
  - {name: ev, emptyDir: {}}
`, "--timeout", "12s")
	for _, want := range []string{
		"live/c: Warning Unhealthy: Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory",
		"live/c: Normal Killing: Container c failed liveness probe, will be restarted",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if row := tableRow(t, out, "live"); row[3] != "1" {
		t.Errorf("final row = %v, want 1 restart\n%s", row, errOut)
	}
}

// httpGet against busybox httpd (by port name, with a path) and tcpSocket
// against nc, dialled by the node to the pod IP as the kubelet's; a closed
// port, and a server on the pod's loopback only, stay unready.
func TestProbes_HTTPGetAndTCPSocket(t *testing.T) {
	n := newNode(t)
	_, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: net}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
    livenessProbe:
      httpGet: {path: /missing, port: 8080}
      periodSeconds: 1
      failureThreshold: 100
  - name: tcp
    image: busybox
    command: ["nc", "-ll", "-p", "9000", "-e", "true"]
    readinessProbe:
      tcpSocket: {port: 9000}
      periodSeconds: 1
  - name: closed
    image: busybox
    command: ["sleep", "3600"]
    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
  - name: loopback
    image: busybox
    command: ["nc", "-ll", "-s", "127.0.0.1", "-p", "9001", "-e", "true"]
    readinessProbe:
      tcpSocket: {port: 9001}
      periodSeconds: 1
`, "--timeout", "5s")
	// The pod's address, in the node's /24, not its loopback.
	podNet := strings.TrimSuffix(n.net.PodCIDR, "0/24")
	for _, want := range []string{
		"web: Running, ready",
		"tcp: Running, ready",
		"closed: Running, not ready",
		"loopback: Running, not ready",
		"net/web: Warning Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 404",
		"net/closed: Warning Unhealthy: Readiness probe failed: dial tcp " + podNet,
		"net/loopback: Warning Unhealthy: Readiness probe failed: dial tcp " + podNet,
		":9999: connect: connection refused",
		":9001: connect: connection refused",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, c := range []string{"closed", "loopback"} {
		if strings.Contains(errOut, c+": Running, ready") {
			t.Errorf("%s turned ready:\n%s", c, errOut)
		}
	}
}

// Liveness does not run before the startup probe succeeded: a liveness
// probe that would fail until then never kills the container.
func TestProbes_StartupGatesLiveness(t *testing.T) {
	n := newNode(t)
	out, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "sleep 3; touch /tmp/up; echo up; trap 'exit 0' TERM; sleep 3600 & wait"]
    startupProbe:
      exec: {command: ["test", "-f", "/tmp/up"]}
      periodSeconds: 1
      failureThreshold: 20
    livenessProbe:
      exec: {command: ["sh", "-c", "echo liveness-ran > /proc/1/fd/1; test -f /tmp/up"]}
      periodSeconds: 1
      failureThreshold: 1
`, "--timeout", "7s")
	if !before(out, "c | up", "c | liveness-ran") {
		t.Errorf("liveness did not run, or ran before startup succeeded:\n%s", out)
	}
	if !before(errOut, "c: Running, not started", "c: Running, ready") {
		t.Errorf("c did not go from not started to ready:\n%s", errOut)
	}
	if row := tableRow(t, out, "slow"); row[3] != "0" {
		t.Errorf("final row = %v, want no restart\n%s", row, errOut)
	}
}

// A sidecar with a startup probe holds the main container back until the
// probe succeeds.
func TestProbes_SidecarStartupDelaysMain(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: sidecar
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "sleep 2; echo sidecar-up >> /ev/log; touch /ev/up; trap 'cat /ev/log; exit 0' TERM; sleep 3600 & wait"]
    volumeMounts: [{name: ev, mountPath: /ev}]
    startupProbe:
      exec: {command: ["test", "-f", "/ev/up"]}
      periodSeconds: 1
      failureThreshold: 30
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo main-start >> /ev/log"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  volumes:
  - {name: ev, emptyDir: {}}
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	if got := strings.Join(events(out, "sidecar"), ","); got != "sidecar-up,main-start" {
		t.Errorf("events = %s, want sidecar-up,main-start\n%s", got, errOut)
	}
}

// postStart blocks the next container: it starts only after the hook of
// the one before returned.
func TestHooks_PostStartBlocksNextContainer(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: hooked}
spec:
  restartPolicy: Never
  containers:
  - name: first
    image: busybox
    command: ["sh", "-c", "echo first-start >> /ev/log; sleep 4"]
    volumeMounts: [{name: ev, mountPath: /ev}]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "sleep 2; echo poststart-done >> /ev/log"]}
  - name: second
    image: busybox
    command: ["sh", "-c", "echo second-start >> /ev/log; sleep 3; cat /ev/log"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  volumes:
  - {name: ev, emptyDir: {}}
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	if got := strings.Join(events(out, "second"), ","); got != "first-start,poststart-done,second-start" {
		t.Errorf("events = %s\n%s", got, errOut)
	}
}

// preStop runs before the stop signal; a preStop that outlives the grace
// period is cut, and the container then gets the 2 s minimum before
// SIGKILL: grace + 2 s in all.
func TestHooks_PreStop(t *testing.T) {
	n := newNode(t)
	out, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: prestop}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'echo got-term >> /ev/log; cat /ev/log; exit 0' TERM; sleep 3600 & wait"]
    volumeMounts: [{name: ev, mountPath: /ev}]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo prestop >> /ev/log; sleep 1; echo prestop-done >> /ev/log"]}
  volumes:
  - {name: ev, emptyDir: {}}
`, "--timeout", "2s")
	if got := strings.Join(events(out, "c"), ","); got != "prestop,prestop-done,got-term" {
		t.Errorf("events = %s\n%s", got, errOut)
	}

	start := time.Now()
	out, errOut, _ = n.up(`
apiVersion: v1
kind: Pod
metadata: {name: hung}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo hook-start > /proc/1/fd/1; sleep 100; echo hook-end > /proc/1/fd/1"]}
`, "--timeout", "2s")
	elapsed := time.Since(start)
	if !strings.Contains(out, "c | hook-start") || strings.Contains(out, "hook-end") {
		t.Errorf("the preStop hook did not start, or was not cut:\n%s", out)
	}
	if !strings.Contains(errOut, "c: Terminated: Error (exit code 137)") {
		t.Errorf("not SIGKILLed:\n%s", errOut)
	}
	// 2 s until the stop, 3 s of grace in the hook, 2 s minimum after it.
	if want := 7 * time.Second; elapsed < want || elapsed > want+5*time.Second {
		t.Errorf("took %s, want about %s", elapsed, want)
	}
}
