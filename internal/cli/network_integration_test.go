//go:build integration

package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"peapod/internal/network"
	"peapod/internal/testenv"
)

// Two pods on the pod network: the client reaches the web pod by its IP
// (which the web pod publishes through a hostPath dir, a test-only trick,
// taken from status.podIP by the downward API); the host reaches the pod
// IP and the hostPort on 127.0.0.1. The web pod serves until both the host
// and the client are done: the client may well come after the host. When the pods are gone, so are their
// veths, address reservations and rules.
func TestUp_PodNetwork(t *testing.T) {
	n := newNode(t)
	shared := t.TempDir()
	cidr := n.net.PodCIDR
	_, subnet, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	hostPort := n.net.HostPort(0)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  restartPolicy: Never
  volumes: [{name: shared, hostPath: {path: %[1]s}}]
  containers:
  - name: httpd
    image: busybox
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    ports: [{containerPort: 8080, hostPort: %[2]d}]
    volumeMounts: [{name: shared, mountPath: /shared}]
    command: ["sh", "-c", "echo POD_IP=$POD_IP HOST_IP=$HOST_IP; grep web /etc/hosts; mkdir /www; echo hello-from-web > /www/index.html; httpd -p 8080 -h /www; echo $POD_IP > /shared/ip.tmp; mv /shared/ip.tmp /shared/web-ip; until [ -e /shared/done ] && [ -e /shared/client-done ]; do sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  volumes: [{name: shared, hostPath: {path: %[1]s}}]
  containers:
  - name: wget
    image: busybox
    volumeMounts: [{name: shared, mountPath: /shared}]
    command: ["sh", "-c", "until [ -s /shared/web-ip ]; do sleep 0.1; done; wget -q -O - http://$(cat /shared/web-ip):8080/; r=$?; touch /shared/client-done; exit $r"]
`, shared, hostPort)

	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := n.up(manifest)
		done <- result{out, errOut, code}
	}()
	// Whatever happens, let the web pod end.
	defer func() {
		for _, f := range []string{"done", "client-done"} {
			_ = os.WriteFile(filepath.Join(shared, f), nil, 0o644)
		}
	}()

	var podIP string
	deadline := time.Now().Add(time.Minute)
	for podIP == "" && time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(shared, "web-ip")); err == nil {
			podIP = strings.TrimSpace(string(b))
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if ip := net.ParseIP(podIP); ip == nil || !subnet.Contains(ip) {
		t.Errorf("web pod IP %q, want one in %s", podIP, cidr)
	} else {
		client := &http.Client{Timeout: 5 * time.Second}
		for _, url := range []string{
			"http://" + net.JoinHostPort(podIP, "8080") + "/", // the host reaches the pod IP
			fmt.Sprintf("http://127.0.0.1:%d/", hostPort),     // and the hostPort on localhost
		} {
			resp, err := client.Get(url)
			if err != nil {
				t.Errorf("GET %s: %v", url, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "hello-from-web") {
				t.Errorf("GET %s = %q", url, body)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(shared, "done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
	}
	gateway := subnet.IP.To4()
	gateway[3]++
	for _, want := range []string{
		"client/wget | hello-from-web",                                  // pod to pod
		fmt.Sprintf("web/httpd | POD_IP=%s HOST_IP=%s", podIP, gateway), // downward API
		fmt.Sprintf("web/httpd | %s\tweb", podIP),                       // /etc/hosts
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.out)
		}
	}

	// The pods are gone: no veth on the bridge, no reservation, no rule.
	leaks, err := testenv.Leaks{Bridge: n.net.Bridge, IPAMDir: filepath.Join(n.runRoot, "cni", "networks", network.NetworkName), Subnet: cidr}.Find()
	if err != nil || len(leaks) > 0 {
		t.Errorf("after the pods: %v %v", leaks, err)
	}
}
