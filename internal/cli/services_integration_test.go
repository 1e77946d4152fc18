//go:build integration

package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// removeTable deletes the nftables table name if it is there.
func removeTable(name string) error {
	if !tableExists(name) {
		return nil
	}
	if out, err := exec.Command("nft", "delete", "table", "ip", name).CombinedOutput(); err != nil {
		return fmt.Errorf("nft delete table ip %s: %v: %s", name, err, out)
	}
	return nil
}

func tableExists(name string) bool {
	out, err := exec.Command("nft", "list", "tables", "ip").Output()
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == "table ip "+name {
			return true
		}
	}
	return false
}

// gatewayIP is the bridge's address: the pod CIDR's first host.
func (n *node) gatewayIP() string {
	ip, _, err := net.ParseCIDR(n.net.PodCIDR)
	if err != nil {
		n.t.Fatal(err)
	}
	ip4 := ip.To4()
	ip4[3]++
	return ip4.String()
}

// backendPod serves its hostname on the container port named web (8080).
func backendPod(name, labels, extra string) string {
	return fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {%s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:1.36
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{name: web, containerPort: 8080}]
%s`, name, labels, extra)
}

// httpGet polls url until it answers 200 or the deadline passes.
func httpGet(t *testing.T, url string, deadline time.Time) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return strings.TrimSpace(string(body))
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("GET %s: %v", url, last)
	return ""
}

// TestServices_Up: a NodePort Service over two backends (a third, never
// ready, is left out), reached from a client pod, from a backend itself
// (hairpin) and from the host on 127.0.0.1 and the bridge address; a
// Service whose only pod is not ready refuses connections at once; and
// the table is gone when up ends.
func TestServices_Up(t *testing.T) {
	n := newNode(t)
	webIP, nodePort, unreadyIP := n.net.ServiceIP(0), n.net.NodePort(0), n.net.ServiceIP(1)
	table := n.net.Table
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  clusterIP: %[1]s
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: web, nodePort: %[2]d}]
---
apiVersion: v1
kind: Service
metadata: {name: unready}
spec:
  clusterIP: %[3]s
  selector: {role: unready}
  ports: [{port: 80, targetPort: 8080}]
`, webIP, nodePort, unreadyIP)
	manifest += backendPod("web-1", "app: web", fmt.Sprintf(`  - name: hairpin
    image: busybox:1.36
    command: ["sh", "-c", "i=0; while [ $i -lt 150 ]; do r=$(timeout 3 wget -q -O - http://%s/ 2>&1); if [ \"$r\" = web-1 ]; then echo hairpin ok; break; fi; i=$((i+1)); sleep 0.1; done; exec sleep 3600"]
`, webIP))
	manifest += backendPod("web-2", "app: web", "")
	manifest += backendPod("web-3", "app: web, role: unready", `    readinessProbe:
      exec: {command: ["false"]}
      periodSeconds: 1
`)
	manifest += fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: busybox:1.36
    command:
    - sh
    - -c
    - |
      a=; b=; i=0
      while [ $i -lt 150 ] && [ -z "$a$b" -o -z "$a" -o -z "$b" ]; do
        case "$(timeout 3 wget -q -O - http://%[1]s/ 2>/dev/null)" in web-1) a=1;; web-2) b=1;; esac
        i=$((i+1)); sleep 0.1
      done
      [ -n "$a" ] && [ -n "$b" ] && echo saw both backends
      for j in $(seq 20); do timeout 3 wget -q -O - http://%[1]s/; done | sort | uniq -c | sed 's/^ */hits /'
      s=$(date +%%s); timeout 10 wget -O - http://%[2]s/ 2>&1; echo "unready: $(( $(date +%%s) - s ))s"
      s=$(date +%%s); r=$(timeout 10 wget -O - http://%[1]s:81/ 2>&1 | tr "\\n" " "); echo "unserved port: $(( $(date +%%s) - s ))s $r"
      exec sleep 3600
`, webIP, unreadyIP)

	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := n.up(manifest, "--timeout", "30s")
		done <- result{out, errOut, code}
	}()
	deadline := time.Now().Add(25 * time.Second)
	for _, host := range []string{"127.0.0.1", n.gatewayIP()} {
		url := fmt.Sprintf("http://%s:%d/", host, nodePort)
		if got := httpGet(t, url, deadline); got != "web-1" && got != "web-2" {
			t.Errorf("GET %s = %q, want web-1 or web-2", url, got)
		}
	}
	r := <-done
	if r.code != 0 {
		t.Errorf("exit %d", r.code)
	}
	for _, want := range []string{"client/client | saw both backends", "web-1/hairpin | hairpin ok", "Connection refused"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	// Refused by the reject rule, not dropped: well before wget's 10 s
	// timeout (date has whole seconds; a loaded machine may take a second
	// or two to run wget).
	if m := regexp.MustCompile(`unready: (\d+)s`).FindStringSubmatch(r.out); m == nil || len(m[1]) > 1 || m[1] > "4" {
		t.Errorf("the unready service did not refuse at once: %v", m)
	}
	// A port the Service does not serve is refused on its cluster IP, as
	// kube-proxy does, not routed off the node.
	if m := regexp.MustCompile(`unserved port: (\d+)s (.*)`).FindStringSubmatch(r.out); m == nil || len(m[1]) > 1 || m[1] > "4" || !strings.Contains(m[2], "Connection refused") {
		t.Errorf("a port the service does not serve was not refused at once: %v", m)
	}
	for _, l := range strings.Split(r.out, "\n") {
		if strings.Contains(l, "| hits") && strings.Contains(l, "web-3") {
			t.Errorf("the unready pod got traffic: %s", l)
		}
	}
	if tableExists(table) {
		t.Errorf("up left nftables table %s", table)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", r.out, r.errOut)
	}
}

// TestServices_Serve: kubectl expose makes a Service whose Endpoints and
// EndpointSlice the controller fills, and a client pod reaches it.
func TestServices_Serve(t *testing.T) {
	s := newServer(t)
	s.apply(`apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
`)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
	podIP := strings.TrimSpace(s.mustKubectl("get", "pod", "web", "-o", "jsonpath={.status.podIP}"))
	s.mustKubectl("expose", "pod", "web", "--port", "80", "--target-port", "8080")
	want := podIP + ":8080"
	var out string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if out, _ = s.kubectl("get", "endpoints", "web"); strings.Contains(out, want) {
			break
		}
	}
	if !strings.Contains(out, want) {
		t.Fatalf("kubectl get endpoints web:\n%s\nwant %s", out, want)
	}
	slices := s.mustKubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web")
	if !strings.Contains(slices, "IPv4") || !strings.Contains(slices, "8080") || !strings.Contains(slices, podIP) {
		t.Errorf("kubectl get endpointslices:\n%s", slices)
	}
	managed := s.mustKubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[0].metadata.labels.endpointslice\\.kubernetes\\.io/managed-by}")
	if managed != "endpointslice-controller.k8s.io" {
		t.Errorf("managed-by = %q", managed)
	}
	clusterIP := strings.TrimSpace(s.mustKubectl("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"))
	s.apply(podYAML("client", "", "Never", fmt.Sprintf("for i in $(seq 100); do timeout 3 wget -q -O - http://%s/ && exit 0; sleep 0.2; done; exit 1", clusterIP)))
	var phase string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		phase, _ = s.kubectl("get", "pod", "client", "-o", "jsonpath={.status.phase}")
		if phase == "Succeeded" || phase == "Failed" {
			break
		}
	}
	logs, _ := s.kubectl("logs", "client")
	if phase != "Succeeded" || !strings.Contains(logs, "hello-from-web") {
		t.Errorf("client: phase %q, logs %q", phase, logs)
	}
	s.mustKubectl("delete", "service", "web")
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if out, _ = s.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "name"); strings.TrimSpace(out) == "" {
			break
		}
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("slices left after the service's deletion: %s", out)
	}
}
