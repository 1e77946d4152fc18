//go:build integration

package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"peapod/internal/testenv"
)

// server is `peapod serve` run as a separate process, so that it can be
// killed with SIGKILL and started again on the same root.
type server struct {
	t          *testing.T
	n          *node
	bin        string
	kubeconfig string
	args       []string // serve's own flags
	// command, if set, is run instead of serve (peapod agent's).
	command []string
	cmd     *exec.Cmd
	logs    lockedBuffer
}

// lockedBuffer is serve's stderr, written by exec while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// binDir holds the peapod binary the tests run as a separate process,
// built once per test binary; TestMain removes it.
var binDir string

var buildOnce = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "peapod")
	cmd := exec.Command("go", "build", "-o", bin, "peapod/cmd/peapod")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as make build
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "peapod-cli-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// buildPeapod is the peapod binary of this source tree.
func buildPeapod(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// newServer runs serve on a newNode with busybox and the extra images
// loaded (seedImages for nginx and its exporter).
func newServer(t *testing.T, extra ...func(v1.Image) (string, v1.Image)) *server {
	t.Helper()
	return newServerArgs(t, nil, extra...)
}

// newServerArgs is newServer with serve's flags args.
func newServerArgs(t *testing.T, args []string, extra ...func(v1.Image) (string, v1.Image)) *server {
	t.Helper()
	testenv.RequireBinaries(t, "kubectl")
	n := newNode(t, extra...)
	s := &server{t: t, n: n, bin: buildPeapod(t), kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), args: args}
	s.cleanupPods()
	s.start()
	return s
}

// cleanupPods deletes every pod when the test ends, and stops the
// process. Registered after newNode's leak check, so it runs before it:
// no pod may outlive the test, and serve (or agent) leaves pods running
// when it stops.
func (s *server) cleanupPods() {
	s.t.Cleanup(func() {
		if s.cmd == nil {
			s.start()
		}
		// Controllers first, or they would make the pods again.
		s.kubectl("delete", "deployments,replicasets,replicationcontrollers,jobs", "--all", "--wait", "--timeout=60s")
		s.kubectl("delete", "pods", "--all", "--wait", "--timeout=60s")
		s.stop(syscall.SIGTERM)
		// The monitors of a serve killed with SIGKILL became ours, and
		// the plugins and runtime calls it was making then.
		testenv.ReapAdoptedZombies("conmon", "crun", "runc", "bridge", "host-local", "portmap", "loopback")
		if s.t.Failed() {
			s.t.Logf("peapod's output:\n%s", s.logs.String())
		}
	})
}

// start runs serve and waits until it says it is ready.
func (s *server) start() {
	s.t.Helper()
	args := append(append(append([]string{}, s.n.flags...), "serve", "--listen", "127.0.0.1:0", "--kubeconfig-out", s.kubeconfig), s.args...)
	if s.command != nil {
		args = append(append([]string{}, s.n.flags...), s.command...)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stderr = &s.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if sc.Text() == "peapod: ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			s.t.Fatalf("serve exited before it was ready:\n%s", s.logs.String())
		}
	case <-time.After(60 * time.Second):
		s.t.Fatalf("serve not ready after 60 s:\n%s", s.logs.String())
	}
}

// stop ends serve with sig and waits for it.
func (s *server) stop(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Errorf("serve did not stop on %v", sig)
	}
	s.cmd = nil
}

// kubectl runs the real kubectl against serve and returns its output.
func (s *server) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (s *server) mustKubectl(args ...string) string {
	s.t.Helper()
	out, err := s.kubectl(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// apply applies a manifest given inline.
func (s *server) apply(manifest string) {
	s.t.Helper()
	f := filepath.Join(s.t.TempDir(), "pod.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.mustKubectl("apply", "-f", f)
}

// podYAML is a one-container pod; nodeName "" leaves it to binding.
func podYAML(name, nodeName, restartPolicy, command string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  nodeName: "%s"
  restartPolicy: %s
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
`, name, nodeName, restartPolicy, command)
}

// hostname is the node agent's default node name.
func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(h)
}

func TestServe_ApplyWaitDelete(t *testing.T) {
	s := newServer(t)
	s.apply(podYAML("web", hostname(t), "Always", "sleep 3600"))
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
	if out := s.mustKubectl("get", "pod", "web", "-o", "jsonpath={.spec.nodeName} {.status.phase} {.status.containerStatuses[0].containerID}"); !strings.Contains(out, " Running peapod://") && !strings.Contains(out, " Running ") {
		t.Errorf("pod: %s", out)
	}
	s.mustKubectl("delete", "pod", "web", "--timeout=60s")
	if out, err := s.kubectl("get", "pod", "web"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("pod still there after delete: %s", out)
	}
}

// serve --image-pull=never runs what is stored whatever the pod's
// imagePullPolicy, and a missing image waits as ErrImageNeverPull with the
// kubelet's message instead of being pulled.
func TestServe_ImagePullNever(t *testing.T) {
	s := newServerArgs(t, []string{"--image-pull=never"})
	s.apply(strings.ReplaceAll(podYAML("stored", "", "Never", "echo ran"), "IfNotPresent", "Always") +
		"---\n" + strings.ReplaceAll(podYAML("missing", "", "Never", "echo ran"), "busybox:1.36", "busybox:not-stored"))
	s.mustKubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/stored", "--timeout=60s")
	eventually(t, 60*time.Second, "ErrImageNeverPull", func() (bool, string) {
		out, _ := s.kubectl("get", "pod", "missing", "-o", "jsonpath={.status.containerStatuses[0].state.waiting}")
		return strings.Contains(out, `"reason":"ErrImageNeverPull"`) &&
			strings.Contains(out, `Container image \"busybox:not-stored\" is not present with pull policy of Never`), out
	})
	if out := s.mustKubectl("get", "pod", "missing"); !strings.Contains(out, "ErrImageNeverPull") {
		t.Errorf("kubectl get pod missing:\n%s", out)
	}
}

// serve --event-ttl: an event goes its TTL after its last write, as with
// kube-apiserver's flag; other objects stay.
func TestServe_EventTTL(t *testing.T) {
	s := newServerArgs(t, []string{"--event-ttl=2s"})
	s.apply(`apiVersion: v1
kind: Event
metadata: {name: e1, namespace: default}
involvedObject: {kind: Pod, name: x, namespace: default}
reason: Test
message: kept for the TTL
type: Normal
source: {component: test}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c1, namespace: default}
`)
	eventually(t, 30*time.Second, "event e1 expired", func() (bool, string) {
		out, err := s.kubectl("get", "event", "e1")
		return err != nil && strings.Contains(out, "NotFound"), out
	})
	s.mustKubectl("get", "configmap", "c1")
}

// A pod's logs go with the pod, as the kubelet's: at once for a force
// delete of a running pod, and at start for pods deleted while serve was
// down; a finished pod keeps them while it exists.
func TestServe_PodLogsGoWithThePod(t *testing.T) {
	s := newServer(t)
	s.apply(podYAML("done", "", "Never", "echo finished") + "---\n" + podYAML("running", "", "Always", "echo up; sleep 3600"))
	s.mustKubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/done", "--timeout=60s")
	s.mustKubectl("wait", "--for=condition=Ready", "pod/running", "--timeout=60s")
	running := filepath.Dir(filepath.Dir(s.logPath("running", "main")))
	if running == "." {
		t.Fatal("no log of pod running")
	}
	s.mustKubectl("delete", "pod", "running", "--grace-period=0", "--force")
	eventually(t, 30*time.Second, "the force-deleted pod's logs removed", func() (bool, string) {
		_, err := os.Stat(running)
		return os.IsNotExist(err), running
	})
	ghost := filepath.Join(s.n.root, "logs", "default_ghost_0b7c2f4e-5d1a-4c8e-9f3b-2a6d8e1c4b70")
	if err := os.MkdirAll(filepath.Join(ghost, "main"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.stop(syscall.SIGTERM)
	s.start()
	eventually(t, 30*time.Second, "the logs of a pod not in the API removed at start", func() (bool, string) {
		_, err := os.Stat(ghost)
		return os.IsNotExist(err), ghost
	})
	if out := s.mustKubectl("logs", "done"); out != "finished\n" {
		t.Errorf("logs of the finished pod: %q", out)
	}
}

// Container logs are rotated at --container-log-max-size, keeping
// --container-log-max-files files (older ones gzipped), while kubectl logs
// -f goes on reading across the rotations without losing a line.
func TestServe_LogRotation(t *testing.T) {
	s := newServerArgs(t, []string{"--container-log-max-size=4Ki", "--container-log-max-files=3", "--container-log-monitor-interval=3s"})
	s.apply(podYAML("chatty", "", "Always", "i=0; while true; do echo \"line $i\"; i=$((i+1)); sleep 0.02; done"))
	s.mustKubectl("wait", "--for=condition=Ready", "pod/chatty", "--timeout=60s")
	follow := s.background(120*time.Second, "logs", "-f", "chatty")
	dir := filepath.Dir(s.logPath("chatty", "main"))
	var files []string
	eventually(t, 60*time.Second, "a compressed rotated log", func() (bool, string) {
		files, _ = filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			if strings.HasSuffix(f, ".gz") {
				return true, ""
			}
		}
		return false, strings.Join(files, "\n")
	})
	// The live log's first line was written after two rotations at least.
	first := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(s.logFile("chatty", "main"))
	if first == nil {
		t.Fatalf("no line in the live log")
	}
	eventually(t, 30*time.Second, "kubectl logs -f past line "+first[1], func() (bool, string) {
		return strings.Contains(follow.String(), first[0]+"\n"), ""
	})
	lines := strings.Split(follow.String(), "\n")
	for i, l := range lines[:len(lines)-1] {
		if l != fmt.Sprintf("line %d", i) {
			t.Fatalf("kubectl logs -f line %d is %q, want \"line %d\" (a line lost or doubled across rotation)", i, l, i)
		}
	}
	files, _ = filepath.Glob(filepath.Join(dir, "*"))
	if len(files) > 3 {
		t.Errorf("%d log files, want at most 3: %q", len(files), files)
	}
	s.mustKubectl("delete", "pod", "chatty", "--timeout=60s")
}

func TestServe_BindsUnscheduledPods(t *testing.T) {
	s := newServer(t)
	s.apply(podYAML("web", "", "Always", "sleep 3600"))
	deadline := time.Now().Add(60 * time.Second)
	for s.mustKubectl("get", "pod", "web", "-o", "jsonpath={.spec.nodeName}") != hostname(t) {
		if strings.Contains(s.logs.String(), "does not serve pods/binding") {
			t.Skip("the API server does not serve pods/binding yet")
		}
		if time.Now().After(deadline) {
			t.Fatal("pod not bound to the node")
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
	if out := s.mustKubectl("get", "events", "--field-selector", "reason=Scheduled", "-o", "jsonpath={.items[*].source.component}"); !strings.Contains(out, "default-scheduler") {
		t.Errorf("Scheduled event sources: %q", out)
	}
}

// containerIDs returns each pod's containerID (of its only container).
func (s *server) containerIDs() map[string]string {
	s.t.Helper()
	out := s.mustKubectl("get", "pods", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}{"\n"}{end}`)
	ids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if name, rest, ok := strings.Cut(line, "="); ok {
			ids[name] = rest
		}
	}
	return ids
}

func TestServe_KillNineKeepsPods(t *testing.T) {
	s := newServer(t)
	const pods = 10
	var b strings.Builder
	for i := range pods {
		b.WriteString("---\n")
		b.WriteString(podYAML(fmt.Sprintf("p%d", i), hostname(t), "Always", "sleep 3600"))
	}
	// One pod whose container ends while peapod is down: it must be
	// restarted per its policy when peapod comes back.
	b.WriteString("---\n")
	b.WriteString(podYAML("ends", hostname(t), "Always", "while [ ! -e /tmp/end ]; do sleep 0.2; done; exit 3"))
	s.apply(b.String())
	s.mustKubectl("wait", "--for=condition=Ready", "pods", "--all", "--timeout=120s")
	before := s.containerIDs()
	if len(before) != pods+1 {
		t.Fatalf("pods before: %v", before)
	}

	// A graceful stop of serve leaves the pods running as they are.
	s.stop(syscall.SIGTERM)
	s.start()
	s.mustKubectl("wait", "--for=condition=Ready", "pods", "--all", "--timeout=60s")
	if after := s.containerIDs(); !maps.Equal(after, before) {
		t.Fatalf("after SIGTERM and a restart:\n before %v\n after  %v", before, after)
	}

	s.stop(syscall.SIGKILL)
	// The container of "ends" exits while no peapod runs: tell it to,
	// through the runtime's own exec (crun) since the API is down.
	endID := before["ends"]
	endID = endID[strings.Index(endID, "://")+3 : strings.Index(endID, " ")]
	if out, err := exec.Command("crun", "--root", filepath.Join(s.n.runRoot, "crun"), "exec", endID, "touch", "/tmp/end").CombinedOutput(); err != nil {
		t.Fatalf("crun exec: %v\n%s", err, out)
	}

	s.start()
	deadline := time.Now().Add(90 * time.Second)
	for {
		after := s.containerIDs()
		same, restarted := 0, false
		for name, v := range before {
			if name == "ends" {
				restarted = strings.HasSuffix(after[name], " 1") && after[name] != v
				continue
			}
			if after[name] == v {
				same++
			}
		}
		if same == pods && restarted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart:\n before %v\n after  %v", before, after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.mustKubectl("wait", "--for=condition=Ready", "pods", "--all", "--timeout=60s")
	s.mustKubectl("delete", "pods", "--all", "--timeout=90s")
}

// Pods that do not fit the node stay Pending with the scheduler's
// PodScheduled=False reason, and are bound once they fit: a nodeSelector
// the node gets the label for, scheduling gates that are removed, and a
// request larger than the node.
func TestServe_Scheduling(t *testing.T) {
	s := newServer(t)
	withSpec := func(name, spec string) string {
		return strings.Replace(podYAML(name, "", "Always", "sleep 3600"), "spec:\n", "spec:\n"+spec, 1)
	}
	s.apply(withSpec("selective", "  nodeSelector: {peapod-test: \"yes\"}\n"))
	s.apply(withSpec("gated", "  schedulingGates: [{name: example.com/hold}]\n"))
	s.apply(strings.Replace(podYAML("huge", "", "Always", "sleep 3600"), "    imagePullPolicy: IfNotPresent\n",
		"    imagePullPolicy: IfNotPresent\n    resources: {requests: {cpu: \"1000\"}}\n", 1))
	cond := func(pod string) string {
		return s.mustKubectl("get", "pod", pod, "-o", `jsonpath={.spec.nodeName}|{.status.conditions[?(@.type=="PodScheduled")].status}|{.status.conditions[?(@.type=="PodScheduled")].reason}|{.status.conditions[?(@.type=="PodScheduled")].message}`)
	}
	for pod, want := range map[string]string{
		"selective": "|False|Unschedulable|0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		"gated":     "|False|SchedulingGated|Scheduling is blocked due to non-empty scheduling gates",
		"huge":      "|False|Unschedulable|0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
	} {
		eventually(t, 30*time.Second, pod+" unschedulable", func() (bool, string) {
			got := cond(pod)
			return got == want, got
		})
	}
	if out := s.mustKubectl("get", "events", "--field-selector", "reason=FailedScheduling,involvedObject.name=huge", "-o", "jsonpath={.items[*].message}"); !strings.Contains(out, "Insufficient cpu") {
		t.Errorf("FailedScheduling events of huge: %q", out)
	}
	s.mustKubectl("label", "node", hostname(t), "peapod-test=yes")
	t.Cleanup(func() { s.kubectl("label", "node", hostname(t), "peapod-test-") })
	s.mustKubectl("patch", "pod", "gated", "--type=json", "-p", `[{"op":"remove","path":"/spec/schedulingGates"}]`)
	for _, pod := range []string{"selective", "gated"} {
		s.mustKubectl("wait", "--for=condition=Ready", "pod/"+pod, "--timeout=60s")
	}
	if got := cond("huge"); !strings.HasPrefix(got, "|False|Unschedulable|") {
		t.Errorf("huge: %q, still unschedulable", got)
	}
}
