//go:build integration

package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The seed's init container, `until nslookup myservice`, against the
// cluster DNS of `peapod up`: busybox's nslookup asks every search domain
// for A and AAAA and exits 1 on any error answer, so this passes only if
// the DNS answers like CoreDNS. The main container sees the service links.
func TestUp_ClusterDNS(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`apiVersion: v1
kind: Service
metadata:
  name: myservice
spec:
  selector: {app: nothing}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: 9376}
---
apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels: {app: myapp}
spec:
  restartPolicy: Never
  initContainers:
  - name: init-myservice
    image: busybox:1.28
    command: ['sh', '-c', 'nslookup myservice']
  containers:
  - name: main
    image: busybox:1.28
    env:
    - {name: EXPANDED, value: "$(MYSERVICE_SERVICE_HOST):$(MYSERVICE_SERVICE_PORT_HTTP)"}
    command: ['sh', '-c', 'cat /etc/resolv.conf; env | grep ^MYSERVICE_ | sort; echo EXPANDED=$EXPANDED;
      nslookup nothere >/dev/null 2>&1; echo nothere=$?;
      nslookup myservice.default.svc.cluster.local | grep -q "Address: $MYSERVICE_SERVICE_HOST" && echo fqdn=ok']
`, "--timeout", "90s")
	if code != 0 {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`init-myservice \| Name:\s+myservice\.default\.svc\.cluster\.local\ninit-myservice \| Address:\s+(10\.\d+\.\d+\.\d+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no cluster IP in nslookup's output:\n%s", out)
	}
	ip := m[1]
	for _, want := range []string{
		"main | search default.svc.cluster.local svc.cluster.local cluster.local",
		"main | options ndots:5",
		"main | MYSERVICE_SERVICE_HOST=" + ip,
		"main | MYSERVICE_SERVICE_PORT=80",
		"main | MYSERVICE_SERVICE_PORT_HTTP=80",
		"main | MYSERVICE_PORT=tcp://" + ip + ":80",
		"main | MYSERVICE_PORT_80_TCP=tcp://" + ip + ":80",
		"main | MYSERVICE_PORT_80_TCP_ADDR=" + ip,
		"main | MYSERVICE_PORT_80_TCP_PORT=80",
		"main | MYSERVICE_PORT_80_TCP_PROTO=tcp",
		"main | EXPANDED=" + ip + ":80",
		"main | nothere=1",
		"main | fqdn=ok",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`main \| nameserver 10\.123\.\d+\.1\n`).MatchString(out) {
		t.Errorf("nameserver is not the bridge gateway:\n%s", out)
	}
	if row := tableRow(t, out, "myapp-pod"); row[2] != "Completed" {
		t.Errorf("pod row %q, want Completed", row)
	}
}

// The seed's init containers under serve: the pod waits at Init:0/2 until
// its Services are applied, then runs.
func TestServe_InitWaitsForServices(t *testing.T) {
	s := newServer(t)
	s.mustKubectl("apply", "-f", "../../examples/init-wait-services.yaml")
	status := func() string {
		out, _ := s.kubectl("get", "pod", "myapp-pod", "--no-headers")
		if f := strings.Fields(out); len(f) >= 3 {
			return f[2]
		}
		return ""
	}
	waitStatus := func(want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for got := status(); got != want; got = status() {
			if time.Now().After(deadline) {
				t.Fatalf("status %q after %v, want %q", got, within, want)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	waitStatus("Init:0/2", 60*time.Second)
	// Still waiting after a few lookups: nslookup fails without the Service.
	eventually(t, 60*time.Second, "three failed lookups of myservice", func() (bool, string) {
		logs, _ := s.kubectl("logs", "myapp-pod", "-c", "init-myservice")
		return strings.Count(logs, "waiting for myservice") >= 3, logs
	})
	if got := status(); got != "Init:0/2" {
		t.Fatalf("status %q before the Services exist, want Init:0/2", got)
	}
	// peapod why, as the kubectl plugin, names what the pod waits for.
	plugins := t.TempDir()
	if err := os.Symlink(s.bin, filepath.Join(plugins, "kubectl-peapod")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("kubectl", "peapod", "why", "myapp-pod")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig, "PATH="+plugins+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	for _, want := range []string{"Pod default/myapp-pod is initializing: init container init-myservice (1/2) has run since ", `(its last log line: "waiting for myservice")`, "Service myservice does not exist in namespace default."} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("kubectl peapod why myapp-pod: %v\n%s\nwant %q in it", err, out, want)
		}
	}
	s.mustKubectl("apply", "-f", "../../examples/init-wait-services-svcs.yaml")
	waitStatus("Running", 60*time.Second)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/myapp-pod", "--timeout=30s")
	out, err = exec.Command(s.bin, "why", "myapp-pod", "-n", "default", "--kubeconfig", s.kubeconfig).CombinedOutput()
	if want := "Pod default/myapp-pod is Ready: every container runs and passes its probes; it waits for nothing.\n"; err != nil || string(out) != want {
		t.Errorf("peapod why myapp-pod: %v %q, want %q", err, out, want)
	}
}
