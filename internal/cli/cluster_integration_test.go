//go:build integration && cluster

package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"peapod/internal/testenv"
	"peapod/internal/testenv/kubecluster"
)

// newCluster starts the upstream control plane (PEAPOD_CLUSTER_BIN, which
// make test-cluster builds) on a network of node n's.
func newCluster(t *testing.T, serviceCIDR string) *kubecluster.Cluster {
	t.Helper()
	bin := os.Getenv("PEAPOD_CLUSTER_BIN")
	if bin == "" {
		t.Fatal("PEAPOD_CLUSTER_BIN names no directory: run make test-cluster, which builds the control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := kubecluster.Start(ctx, kubecluster.Config{BinDir: bin, Dir: t.TempDir(), ServiceCIDR: serviceCIDR})
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				for _, comp := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
					t.Logf("%s:\n%s", comp, tail(c.Log(comp), 4000))
				}
			}
			c.Stop()
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// newAgent runs `peapod agent` with args on a node of its own; its
// kubectl is the cluster admin's.
func newAgent(t *testing.T, c *kubecluster.Cluster, args ...string) *server {
	t.Helper()
	testenv.RequireBinaries(t, "kubectl")
	n := newNode(t)
	s := &server{t: t, n: n, bin: buildPeapod(t), kubeconfig: c.AdminKubeconfig, command: append([]string{"agent"}, args...)}
	s.cleanupPods()
	s.start()
	return s
}

// TestCluster_Agent joins peapod agent to the upstream control plane as
// its only node and uses it as a user would, with kubectl.
func TestCluster_Agent(t *testing.T) {
	testenv.RequireRoot(t)
	tn := testenv.ReserveNet(t, 124)
	c := newCluster(t, tn.ServiceCIDR())
	const node = "peapod-node"
	port := tn.HostPort(9)
	nodeKubeconfig, err := c.NodeKubeconfig(node)
	if err != nil {
		t.Fatal(err)
	}
	s := newAgent(t, c, "--kubeconfig", nodeKubeconfig, "--node-name", node, "--port", strconv.Itoa(port))

	// Registered with the kubelet's fields, Ready, its Lease renewed.
	s.mustKubectl("wait", "--for=condition=Ready", "node/"+node, "--timeout=60s")
	got := s.mustKubectl("get", "node", node, "-o", `jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port} {.status.nodeInfo.kubeletVersion} {.status.capacity.pods} {.status.addresses[?(@.type=="InternalIP")].address}`)
	if f := strings.Fields(got); len(f) != 4 || f[0] != strconv.Itoa(port) || !strings.HasPrefix(f[1], "v1.32") || f[2] != "110" || f[3] == "" {
		t.Errorf("node: kubelet port, version, pods, InternalIP = %q", got)
	}
	// The kubelet API answers before any pod ran (the bridge, which has
	// the node's address, is made at start).
	if h := s.mustKubectl("get", "--raw", "/api/v1/nodes/"+node+"/proxy/healthz"); h != "ok" {
		t.Errorf("kubelet healthz through the API server before any pod: %q", h)
	}
	renew := s.mustKubectl("get", "lease", "-n", "kube-node-lease", node, "-o", "jsonpath={.spec.renewTime}")
	s.pollKubectl(func(out string) bool { return out != "" && out != renew },
		"get", "lease", "-n", "kube-node-lease", node, "-o", "jsonpath={.spec.renewTime}")

	// A seed example, bound here by the real scheduler. The default
	// ServiceAccount, which admission wants, comes from the controller
	// manager a moment after it starts.
	manifest, err := os.ReadFile(filepath.Join("..", "..", "examples", "native-sidecar-log-shipper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s.pollKubectl(func(string) bool {
		_, code := s.kubectlIn(string(manifest), "apply", "-f", "-")
		return code == 0
	}, "get", "serviceaccount", "default")
	s.mustKubectl("wait", "--for=condition=Ready", "pod/simple-webapp", "--timeout=120s")
	if got := s.mustKubectl("get", "pod", "simple-webapp", "-o", "jsonpath={.spec.nodeName} {.status.containerStatuses[*].ready} {.status.initContainerStatuses[*].ready}"); got != node+" true true" {
		t.Errorf("pod: node, ready = %q", got)
	}
	if ev := s.mustKubectl("get", "events", "--field-selector", "involvedObject.name=simple-webapp,reason=Scheduled", "-o", "jsonpath={.items[*].source.component}{.items[*].reportingComponent}"); !strings.Contains(ev, "default-scheduler") {
		t.Errorf("the pod was not scheduled by kube-scheduler: %q", ev)
	}

	// The kubelet API through the API server's node proxy: its metrics
	// and its pods.
	if m := s.mustKubectl("get", "--raw", "/api/v1/nodes/"+node+"/proxy/metrics"); !strings.Contains(m, "kubelet_running_pods 1") {
		t.Errorf("node metrics through the proxy: no kubelet_running_pods 1 in %.300s", m)
	}
	if p := s.mustKubectl("get", "--raw", "/api/v1/nodes/"+node+"/proxy/pods"); !strings.Contains(p, `"name":"simple-webapp"`) {
		t.Errorf("node pods through the proxy: %.300s", p)
	}

	// logs, exec and port-forward through the API server to the agent's
	// kubelet API.
	s.pollKubectl(func(out string) bool { return strings.Contains(out, "log-shipper: started") }, "logs", "simple-webapp", "-c", "log-shipper")
	if out := s.mustKubectl("exec", "simple-webapp", "-c", "web-app", "--", "cat", "/www/index.html"); out != "simple-webapp\n" {
		t.Errorf("exec: %q", out)
	}
	local := s.portForward("pod/simple-webapp", "8080")
	resp, err := http.Get("http://127.0.0.1:" + local + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "simple-webapp\n" {
		t.Errorf("GET through port-forward: %d %q", resp.StatusCode, body)
	}

	// cp (exec with tar) and run -i --rm (attach to a new pod's stdin).
	local2 := filepath.Join(t.TempDir(), "index.html")
	s.mustKubectl("cp", "-c", "web-app", "simple-webapp:/www/index.html", local2)
	if b, err := os.ReadFile(local2); err != nil || string(b) != "simple-webapp\n" {
		t.Errorf("kubectl cp: %q, %v", b, err)
	}
	if out, code := s.kubectlIn("there\n", "run", "tmp", "--image=busybox:1.36", "--rm", "-i", "--restart=Never", "--", "sh", "-c", "read x; echo hi-$x"); code != 0 || !strings.Contains(out, "hi-there") {
		t.Errorf("run --rm -i: exit %d, %q", code, out)
	}

	// The agent stops: the node lifecycle controller sees its Lease go
	// stale. Started again, it adopts the pod as it was.
	ids := s.mustKubectl("get", "pod", "simple-webapp", "-o", "jsonpath={.status.containerStatuses[*].containerID} {.status.initContainerStatuses[*].containerID}")
	s.stop(syscall.SIGTERM)
	s.pollKubectl(func(out string) bool { return out == "Unknown" || out == "False" },
		"get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	s.start()
	s.mustKubectl("wait", "--for=condition=Ready", "node/"+node, "--timeout=60s")
	s.mustKubectl("wait", "--for=condition=Ready", "pod/simple-webapp", "--timeout=60s")
	if again := s.mustKubectl("get", "pod", "simple-webapp", "-o", "jsonpath={.status.containerStatuses[*].containerID} {.status.initContainerStatuses[*].containerID}"); again != ids {
		t.Errorf("containers after the agent's restart %q, before %q", again, ids)
	}

	// Graceful deletion as with the kubelet: the API marks the pod, the
	// agent stops it and deletes it for good.
	s.mustKubectl("delete", "pod", "simple-webapp", "--wait", "--timeout=60s")
	if out, _ := s.kubectl("get", "pod", "simple-webapp"); !strings.Contains(out, "NotFound") && !strings.Contains(out, "not found") {
		t.Errorf("pod after delete: %s", out)
	}
}

// TestCluster_AgentBootstraps joins with a bootstrap token, as kubeadm
// join: the agent asks for its client certificate, the controller manager
// approves and signs it, and a restarted agent uses it again.
func TestCluster_AgentBootstraps(t *testing.T) {
	testenv.RequireRoot(t)
	tn := testenv.ReserveNet(t, 124)
	c := newCluster(t, tn.ServiceCIDR())
	bootstrap, err := c.BootstrapKubeconfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const node = "peapod-boot"
	kubeconfig := filepath.Join(t.TempDir(), "kubelet.kubeconfig") // the agent writes it
	s := newAgent(t, c, "--bootstrap-kubeconfig", bootstrap, "--kubeconfig", kubeconfig, "--node-name", node, "--port", strconv.Itoa(tn.HostPort(9)))
	s.mustKubectl("wait", "--for=condition=Ready", "node/"+node, "--timeout=60s")
	csrs := s.mustKubectl("get", "csr", "-o", `jsonpath={range .items[*]}{.spec.signerName} {.spec.username} {.status.conditions[*].type}{"\n"}{end}`)
	if csrs != "kubernetes.io/kube-apiserver-client-kubelet system:bootstrap:peapod Approved\n" {
		t.Errorf("CSRs: %q, want the node client's, by the bootstrap token, approved", csrs)
	}
	// The node's identity is its certificate's, which the API knows as
	// system:node:NAME.
	who, _ := (&server{t: t, kubeconfig: kubeconfig}).kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
	if !strings.HasPrefix(who, "system:node:"+node+" ") || !strings.Contains(who, "system:nodes") {
		t.Errorf("the written kubeconfig is %q, want system:node:%s in system:nodes", who, node)
	}
	s.stop(syscall.SIGTERM)
	s.start()
	s.mustKubectl("wait", "--for=condition=Ready", "node/"+node, "--timeout=60s")
	if again := s.mustKubectl("get", "csr", "-o", "name"); strings.Count(again, "\n") != 1 {
		t.Errorf("CSRs after a restart: %q; the certificate it has is used again", again)
	}
}
