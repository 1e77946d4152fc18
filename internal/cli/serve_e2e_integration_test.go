//go:build integration

package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// background runs kubectl until the test ends (or the deadline) and
// collects its output.
func (s *server) background(deadline time.Duration, args ...string) *lockedBuffer {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	out := &lockedBuffer{}
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	return out
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t *testing.T, deadline time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s; last:\n%s", what, deadline, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logPath is the newest log file of a container in namespace default
// under --root ("" if none).
func (s *server) logPath(pod, container string) string {
	files, _ := filepath.Glob(filepath.Join(s.n.root, "logs", "default_"+pod+"_*", container, "*.log"))
	slices.Sort(files)
	if len(files) == 0 {
		return ""
	}
	return files[len(files)-1]
}

// logFile is the content of logPath.
func (s *server) logFile(pod, container string) string {
	b, _ := os.ReadFile(s.logPath(pod, container))
	return string(b)
}

// The pod has a native sidecar whose startup probe holds initialization
// back, and an app whose postStart hook holds it in PodInitializing, so
// that `get -w` can see every step. On SIGTERM the sidecar prints what the
// app wrote: its preStop and its SIGTERM must already be there.
const sidecarPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 10
  initContainers:
  - name: shipper
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "trap 'cat /logs/app.log; echo shipper: stopping; exit 0' TERM; (sleep 2; touch /tmp/started) & while true; do sleep 1 & wait $!; done"]
    startupProbe:
      exec: {command: ["test", "-f", "/tmp/started"]}
      periodSeconds: 1
    volumeMounts: [{name: logs, mountPath: /logs}]
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "trap 'echo app: SIGTERM >> /logs/app.log; exit 0' TERM; while true; do sleep 1 & wait $!; done"]
    ports: [{containerPort: 8080}]
    lifecycle:
      postStart:
        exec: {command: ["sleep", "2"]}
      preStop:
        exec: {command: ["sh", "-c", "echo app: preStop >> /logs/app.log"]}
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 1
    volumeMounts: [{name: logs, mountPath: /logs}]
  volumes:
  - name: logs
    emptyDir: {}
`

// statuses is the STATUS column of `kubectl get pods -w` for pod, with
// repeats folded.
func statuses(out, pod string) []string {
	var seq []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != pod {
			continue
		}
		st := f[1] + " " + f[2]
		if len(seq) == 0 || seq[len(seq)-1] != st {
			seq = append(seq, st)
		}
	}
	return seq
}

func TestServeE2E_SidecarPodLifecycle(t *testing.T) {
	s := newServer(t)
	watch := s.background(3*time.Minute, "get", "pods", "-w")
	s.apply(sidecarPod)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")

	// The live transitions, in order.
	eventually(t, 20*time.Second, "get -w shows 2/2 Running", func() (bool, string) {
		return strings.Contains(watch.String(), "2/2     Running"), watch.String()
	})
	seq := statuses(watch.String(), "web")
	want := []string{"0/2 Init:0/1", "1/2 PodInitializing", "2/2 Running"}
	i := 0
	for _, st := range seq {
		if i < len(want) && st == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Errorf("get -w: %q, want the subsequence %q", seq, want)
	}

	desc := s.mustKubectl("describe", "pod", "web")
	for _, want := range []string{
		"Conditions:",
		"Init Containers:", "shipper:", "Containers:", "app:", "State:          Running",
		"Volumes:", "logs:", "EmptyDir",
		"Events:", "Scheduled", "Successfully assigned default/web to",
		"Pulled", `Container image "busybox" already present on machine`,
		"Created", "Created container shipper", "Created container app",
		"Started", "Started container app",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe pod: no %q in:\n%s", want, desc)
		}
	}
	for _, cond := range []string{"Initialized", "ContainersReady", "Ready", "PodScheduled"} {
		if !regexp.MustCompile(`(?m)^\s+` + cond + `\s+True\s*$`).MatchString(desc) {
			t.Errorf("describe pod: condition %s not True", cond)
		}
	}
	ev := s.mustKubectl("get", "events", "-o", "custom-columns=REASON:.reason,PATH:.involvedObject.fieldPath,MSG:.message")
	for _, want := range []string{"spec.initContainers{shipper}", "spec.containers{app}", "Started container shipper"} {
		if !strings.Contains(ev, want) {
			t.Errorf("get events: no %q in:\n%s", want, ev)
		}
	}

	// Graceful delete: preStop, then SIGTERM, and the sidecar last. The
	// sidecar's log is followed: the pod's logs go with the pod.
	follow := s.background(60*time.Second, "logs", "-f", "web", "-c", "shipper")
	logDir := filepath.Dir(filepath.Dir(s.logPath("web", "shipper")))
	s.mustKubectl("delete", "pod", "web", "--wait=false")
	s.mustKubectl("wait", "--for=delete", "pod/web", "--timeout=60s")
	eventually(t, 20*time.Second, "the sidecar's last line", func() (bool, string) {
		shipped := follow.String()
		return strings.Contains(shipped, "shipper: stopping"), shipped
	})
	shipped := follow.String()
	pre, term, stop := strings.Index(shipped, "app: preStop"), strings.Index(shipped, "app: SIGTERM"), strings.Index(shipped, "shipper: stopping")
	if pre < 0 || term < pre || stop < term {
		t.Errorf("stop order (preStop %d, SIGTERM %d, sidecar %d) in the sidecar's log:\n%s", pre, term, stop, shipped)
	}
	eventually(t, 20*time.Second, "the pod's logs removed", func() (bool, string) {
		_, err := os.Stat(logDir)
		return os.IsNotExist(err), logDir
	})
	ev = s.mustKubectl("get", "events", "--field-selector", "involvedObject.name=web")
	if !strings.Contains(ev, "Killing") || !strings.Contains(ev, "Stopping container shipper") {
		t.Errorf("no Killing events:\n%s", ev)
	}
}

func TestServeE2E_CrashLoopBackOff(t *testing.T) {
	s := newServer(t)
	s.apply(podYAML("crash", "", "Always", "echo failing; exit 1"))
	restarts := regexp.MustCompile(`^crash\s+0/1\s+CrashLoopBackOff\s+1 \(\d+s ago\)`)
	eventually(t, 60*time.Second, "CrashLoopBackOff with 1 restart", func() (bool, string) {
		out, _ := s.kubectl("get", "pod", "crash", "--no-headers")
		return restarts.MatchString(out), out
	})
	eventually(t, 10*time.Second, "BackOff event", func() (bool, string) {
		out, _ := s.kubectl("get", "events", "--field-selector", "involvedObject.name=crash")
		return strings.Contains(out, "Back-off restarting failed container main in pod crash_default("), out
	})
	s.mustKubectl("delete", "pod", "crash", "--timeout=60s")
}

func TestServeE2E_ConfigMapUpdateReachesVolume(t *testing.T) {
	s := newServer(t)
	s.mustKubectl("create", "configmap", "cfg", "--from-literal=key=one")
	s.apply(`apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "while true; do echo \"key=$(cat /cfg/key) sub=$(cat /sub)\"; sleep 0.5; done"]
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: cfg, mountPath: /sub, subPath: key}
  volumes:
  - name: cfg
    configMap: {name: cfg}
`)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/reader", "--timeout=60s")
	eventually(t, 20*time.Second, "the first value", func() (bool, string) {
		out := s.logFile("reader", "main")
		return strings.Contains(out, "key=one sub=one"), out
	})

	// kubectl create ... --dry-run=client -o yaml | kubectl apply -f -
	yaml := s.mustKubectl("create", "configmap", "cfg", "--from-literal=key=two", "-o", "yaml", "--dry-run=client")
	cmd := exec.Command("kubectl", "--kubeconfig", s.kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(yaml)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// The volume follows; the subPath mount keeps what it had, as the
	// kubelet's.
	eventually(t, 20*time.Second, "the new value in the volume", func() (bool, string) {
		out := s.logFile("reader", "main")
		return strings.Contains(out, "key=two sub=one"), out
	})
	s.mustKubectl("delete", "pod", "reader", "--timeout=60s")
}

func TestServeE2E_ServicesNodesEvents(t *testing.T) {
	s := newServer(t)
	s.mustKubectl("create", "service", "clusterip", "x", "--tcp=80:8080")
	// Cluster IPs and node ports from serve's --service-cluster-ip-range
	// and --service-node-port-range; the kubernetes Service has the first.
	_, svcNet, _ := net.ParseCIDR(s.n.net.ServiceCIDR())
	kubernetesIP := strings.TrimSuffix(s.n.net.ServiceCIDR(), "0/24") + "1"
	if got := s.mustKubectl("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"); got != kubernetesIP {
		t.Errorf("service kubernetes: clusterIP %q, want %s", got, kubernetesIP)
	}
	ip := s.mustKubectl("get", "service", "x", "-o", "jsonpath={.spec.clusterIP}")
	if !svcNet.Contains(net.ParseIP(ip)) || ip == kubernetesIP {
		t.Errorf("service x: clusterIP %q, want one of %s", ip, svcNet)
	}
	s.apply(strings.Replace(podYAML("web", "", "Always", "sleep 3600"), "metadata:\n", "metadata:\n  labels: {app: web}\n", 1))
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
	s.mustKubectl("expose", "pod", "web", "--port", "80", "--type", "NodePort")
	out := s.mustKubectl("get", "service", "web", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort} {.spec.selector.app}")
	if f := strings.Fields(out); len(f) != 3 || f[0] == ip || !svcNet.Contains(net.ParseIP(f[0])) || f[2] != "web" ||
		f[1] < fmt.Sprint(s.n.net.NodePort(0)) || f[1] > fmt.Sprint(s.n.net.NodePort(9)) {
		t.Errorf("service web: %q, want a cluster IP of %s and a node port of %s", out, svcNet, s.n.net.NodePortRange())
	}
	// The API's endpoint and the node's address are the pods' gateway.
	gw := s.n.gatewayIP()
	ep := s.mustKubectl("get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}")
	if !strings.HasPrefix(ep, gw+":") {
		t.Errorf("kubernetes endpoints: %q, want %s:PORT", ep, gw)
	}
	if out := s.mustKubectl("get", "nodes", "-o", "jsonpath={.items[0].status.addresses[0]}"); out != `{"address":"`+gw+`","type":"InternalIP"}` {
		t.Errorf("node address %s, want InternalIP %s", out, gw)
	}
	if out := s.mustKubectl("describe", "service", "kubernetes"); !regexp.MustCompile(`Endpoints:\s+` + regexp.QuoteMeta(gw) + `:\d+`).MatchString(out) {
		t.Errorf("describe service kubernetes:\n%s", out)
	}
	nodes := s.mustKubectl("get", "nodes", "-o", "wide")
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(hostname(t)) + `\s+Ready\s+<none>\s+\S+\s+v1\.32\.0-peapod\s`).MatchString(nodes) {
		t.Errorf("get nodes -o wide:\n%s", nodes)
	}
	if ev := s.mustKubectl("get", "events"); !strings.Contains(ev, "pod/web") || !strings.Contains(ev, "Started container main") {
		t.Errorf("get events:\n%s", ev)
	}
	s.mustKubectl("delete", "pod", "web", "--timeout=60s")
}

// A client-go informer against serve sees a pod's whole life.
func TestServeE2E_Informer(t *testing.T) {
	s := newServer(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	record := func(what string, obj any) {
		if p, ok := obj.(*corev1.Pod); ok && p.Name == "inf" {
			mu.Lock()
			seen = append(seen, what+" "+string(p.Status.Phase))
			mu.Unlock()
		}
	}
	f := informers.NewSharedInformerFactory(cs, 2*time.Second)
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { record("ADDED", obj) },
		UpdateFunc: func(_, obj any) { record("MODIFIED", obj) },
		DeleteFunc: func(obj any) { record("DELETED", obj) },
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer func() {
		close(stop)
		f.Shutdown()
	}()
	f.Start(stop)
	f.WaitForCacheSync(stop)

	s.apply(podYAML("inf", "", "Never", "sleep 1"))
	eventually(t, 60*time.Second, "the informer sees the pod succeed", func() (bool, string) {
		p, err := f.Core().V1().Pods().Lister().Pods("default").Get("inf")
		return err == nil && p.Status.Phase == corev1.PodSucceeded, ""
	})
	if err := cs.CoreV1().Pods("default").Delete(context.Background(), "inf", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "ADDED, MODIFIED to Succeeded, resync, DELETED", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		n := len(seen)
		return n > 3 && seen[0] == "ADDED Pending" && slices.Contains(seen, "MODIFIED Running") &&
			slices.Contains(seen, "MODIFIED Succeeded") && strings.HasPrefix(seen[n-1], "DELETED"), strings.Join(seen, "\n")
	})
	if inf.LastSyncResourceVersion() == "" {
		t.Error("no resourceVersion")
	}
}

// A pod gets its service account's token, the cluster CA and its
// namespace at the standard path, reaches the API through the kubernetes
// Service, and the token authenticates it (read in its namespace, no
// secrets).
func TestServeE2E_ServiceAccountToken(t *testing.T) {
	s := newServer(t)
	s.apply(podYAML("app", "", "Always", "sleep 3600"))
	s.mustKubectl("wait", "--for=condition=Ready", "pod/app", "--timeout=60s")
	dir := "/var/run/secrets/kubernetes.io/serviceaccount/"
	if ns := s.mustKubectl("exec", "app", "--", "cat", dir+"namespace"); ns != "default" {
		t.Errorf("namespace file %q", ns)
	}
	kc, err := clientcmd.LoadFromFile(s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
	if ca := s.mustKubectl("exec", "app", "--", "cat", dir+"ca.crt"); strings.TrimSpace(ca) != strings.TrimSpace(string(cluster.CertificateAuthorityData)) {
		t.Errorf("ca.crt is not the cluster's CA:\n%s", ca)
	}
	if out, err := s.kubectl("exec", "app", "--", "sh", "-c", "echo | nc -w 3 kubernetes.default.svc 443"); err != nil {
		t.Errorf("the API through the kubernetes Service: %v %s", err, out)
	}
	token := s.mustKubectl("exec", "app", "--", "cat", dir+"token")
	cfg := &rest.Config{Host: cluster.Server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: cluster.CertificateAuthorityData}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "app", metav1.GetOptions{}); err != nil {
		t.Errorf("the pod's token reads its pod: %v", err)
	}
	if _, err := cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the pod's token lists secrets: %v, want Forbidden", err)
	}
}
