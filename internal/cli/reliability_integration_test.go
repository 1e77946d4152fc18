//go:build integration

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Short variants of make reliability's scenarios (hack/reliability); the
// node's leak check (newNode) runs after each. (Scenario 2's is
// TestServe_KillNineKeepsPods.)

// mixedPod is a pod of an init container, a native sidecar and a main
// container with a ConfigMap volume and, if hostPort > 0, a hostPort.
func mixedPod(name string, hostPort int) string {
	ports := ""
	if hostPort > 0 {
		ports = fmt.Sprintf("    ports: [{containerPort: 8080, hostPort: %d}]\n", hostPort)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: init, image: busybox:1.36, command: ["true"]}
  - {name: side, image: busybox:1.36, restartPolicy: Always, command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "trap 'exit 0' TERM; cat /cfg/greeting; sleep 3600 & wait"]
    volumeMounts: [{name: cfg, mountPath: /cfg}]
%s  volumes:
  - name: cfg
    configMap: {name: cfg}
`, name, ports)
}

// serve killed with SIGKILL while pods are being created, then started
// again: every pod Ready, no container restarted, nothing left after they
// are deleted.
func TestServe_KillNineDuringCreation(t *testing.T) {
	s := newServer(t)
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {greeting: hello}\n"
	for i := range 6 {
		port := 0
		if i%3 == 0 {
			port = s.n.net.HostPort(i / 3)
		}
		manifest += "---\n" + mixedPod(fmt.Sprintf("m%d", i), port)
	}
	s.apply(manifest)
	s.stop(syscall.SIGKILL) // the pods are being created
	s.start()
	s.mustKubectl("wait", "--for=condition=Ready", "pods", "--all", "--timeout=120s")
	// A container that ran is the same instance; one created and never
	// started counts a restart, as the kubelet counts it.
	out := s.mustKubectl("get", "pods", "-o", "jsonpath={range .items[*]}{range .status.initContainerStatuses[*]}{.name} {.restartCount} {.lastState.terminated.startedAt}{\"\\n\"}{end}{range .status.containerStatuses[*]}{.name} {.restartCount} {.lastState.terminated.startedAt}{\"\\n\"}{end}{end}")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 18 {
		t.Fatalf("container statuses:\n%s", out)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) != 2 || (f[1] != "0" && f[1] != "1") {
			t.Errorf("after the kill, a container that ran was restarted: %q", l)
		}
	}
	s.mustKubectl("delete", "pods", "--all", "--timeout=90s")
}

// Create/delete cycles of 3-container pods leave no pod directory, no log
// directory and (the node's check) nothing on the host.
func TestServe_Churn(t *testing.T) {
	s := newServer(t)
	var manifest strings.Builder
	for i := range 3 {
		fmt.Fprintf(&manifest, "---\n%s", strings.Replace(podYAML(fmt.Sprintf("c%d", i), "", "Always", "echo a; sleep 3600"),
			"  containers:\n", "  containers:\n  - {name: b, image: busybox:1.36, command: [sleep, \"3600\"]}\n  - {name: c, image: busybox:1.36, command: [sleep, \"3600\"]}\n", 1))
	}
	for range 5 {
		s.apply(manifest.String())
		s.mustKubectl("wait", "--for=condition=Ready", "pods", "--all", "--timeout=60s")
		s.mustKubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s")
	}
	for _, d := range []string{"pods", "logs"} {
		eventually(t, 30*time.Second, d+" emptied", func() (bool, string) {
			ents, _ := os.ReadDir(filepath.Join(s.n.root, d))
			return len(ents) == 0, fmt.Sprint(ents)
		})
	}
}
