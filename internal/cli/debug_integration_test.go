//go:build integration

package cli

import (
	"regexp"
	"strings"
	"testing"
)

const debugPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3601 & wait"]
`

var debuggerName = regexp.MustCompile(`debugger-[a-z0-9]+`)

// kubectl debug adds ephemeral containers to a running pod: one that runs
// a command to its end, its output in its log, and one with a terminal in
// the target's PID namespace.
func TestDebug_EphemeralContainers(t *testing.T) {
	s := newServer(t)
	s.apply(debugPod)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")

	out := s.mustKubectl("debug", "web", "--image=busybox:1.36", "--", "sh", "-c", "echo hi")
	name := debuggerName.FindString(out)
	if name == "" {
		t.Fatalf("debug: no debugger name in %q", out)
	}
	s.pollKubectl(func(out string) bool { return out == "hi\n" }, "logs", "web", "-c", name)
	s.pollKubectl(func(out string) bool { return out == "0" }, "get", "pod", "web", "-o", "jsonpath={.status.ephemeralContainerStatuses[0].state.terminated.exitCode}")
	// Never restarted, and the pod goes on.
	if out := s.mustKubectl("get", "pod", "web", "-o", "jsonpath={.status.phase} {.status.ephemeralContainerStatuses[0].restartCount} {.status.conditions[?(@.type==\"Ready\")].status}"); out != "Running 0 True" {
		t.Errorf("after the debugger exited: %q", out)
	}

	term := startInTerminal(t, 30, 100, "kubectl", "--kubeconfig", s.kubeconfig, "debug", "-it", "web", "--image=busybox:1.36", "--target=c", "--", "sh")
	term.waitFor("pressing enter")
	typeIn(t, term, "ps -o args\r")
	term.waitFor("sleep 3601")
	typeIn(t, term, "exit 0\r")
	if code := term.wait(); code != 0 {
		t.Errorf("debug -it: exit %d, %q", code, term.output())
	}
	s.pollKubectl(func(out string) bool { return strings.Count(out, "=0 ") == 2 },
		"get", "pod", "web", "-o", "jsonpath={range .status.ephemeralContainerStatuses[*]}{.name}={.state.terminated.exitCode} {end}")
}
