//go:build integration

package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"peapod/internal/image/busybox"
	"peapod/internal/network"
	"peapod/internal/testenv"
)

// node is a private peapod root with the busybox image loaded and a pod
// network of its own; every test gets one, and a leak check when it ends.
type node struct {
	t             *testing.T
	flags         []string
	root, runRoot string
	net           testenv.Net
}

func newNode(t *testing.T, extra ...func(v1.Image) (string, v1.Image)) *node {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinaries(t, "crun", "conmon")
	root, runRoot := t.TempDir(), t.TempDir()
	// One flat cgroup per test: a subtest's name has a slash, which would
	// nest its root under a parent the leak check does not remove.
	cgroupRoot := fmt.Sprintf("peapod-test-%d-%s", os.Getpid(), strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_"))
	n := &node{t: t, root: root, runRoot: runRoot, flags: []string{"--root", root, "--run-root", runRoot, "--cgroup-root", cgroupRoot}}
	n.net = nodeNetwork(t, runRoot)
	n.flags = append(n.flags, "--pod-cidr", n.net.PodCIDR, "--bridge", n.net.Bridge, "--nft-table", n.net.Table,
		"--service-cluster-ip-range", n.net.ServiceCIDR(), "--service-node-port-range", n.net.NodePortRange())
	// Before the network goes (cleanups run last-in first-out): a pod's
	// veth, address or hostPort rule left is a leak, not the network's.
	testenv.NoLeaks(t, testenv.Leaks{
		Root: root, RunRoot: runRoot, CgroupRoot: cgroupRoot,
		EmptyDirs: []string{
			filepath.Join(root, "containers"), filepath.Join(root, "pods"),
			filepath.Join(runRoot, "sockets"), filepath.Join(runRoot, "sandboxes"), filepath.Join(runRoot, "crun"),
		},
		Bridge: n.net.Bridge, IPAMDir: filepath.Join(runRoot, "cni", "networks", network.NetworkName), Subnet: n.net.PodCIDR,
	})

	bb, err := busybox.Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	add := func(name string, img v1.Image) {
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": name})); err != nil {
			t.Fatal(err)
		}
	}
	for _, tag := range []string{"latest", "1.28", "1.36"} { // the names the seeds use
		add("docker.io/library/busybox:"+tag, bb)
	}
	for _, f := range extra {
		add(f(bb))
	}
	if out, _, code := n.run(context.Background(), "image", "load", dir); code != 0 {
		t.Fatalf("image load: %s", out)
	}
	return n
}

// nodeNetwork reserves a pod network of the node's own (a bridge, a /24
// in 10.123.0.0/16 and an nftables table, apart from a running peapod's
// peapod0, 10.88.0.0/16, and from other test processes') and removes it
// when the test ends, whatever happened: the bridge and the table must
// then be gone.
func nodeNetwork(t *testing.T, runRoot string) testenv.Net {
	t.Helper()
	if _, err := os.Stat(filepath.Join(network.DefaultPluginDir, "bridge")); err != nil {
		t.Skip("needs containernetworking-plugins")
	}
	tn := testenv.ReserveNet(t, 123)
	testenv.NoLeaks(t, testenv.Leaks{Links: []string{tn.Bridge}, NFTables: []string{tn.Table}})
	t.Cleanup(func() {
		c, err := network.New(network.Config{Dir: filepath.Join(runRoot, "cni"), Bridge: tn.Bridge, PodCIDR: tn.PodCIDR})
		if err == nil {
			err = c.Remove(context.Background())
		}
		if err != nil {
			t.Errorf("remove pod network %s: %v", tn.Bridge, err)
		}
		// serve leaves its Services' table for the pods it leaves running.
		if err := removeTable(tn.Table); err != nil {
			t.Error(err)
		}
	})
	return tn
}

// run runs peapod in-process and returns stdout, stderr and the exit status.
func (n *node) run(ctx context.Context, args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	err := Run(ctx, append(append([]string{}, n.flags...), args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	code := 0
	if err != nil {
		code = 1
		if ee, ok := err.(exitError); ok {
			code = ee.code
		} else {
			fmt.Fprintln(&errOut, "Error:", err)
		}
	}
	return out.String(), errOut.String(), code
}

func (n *node) up(manifest string, args ...string) (string, string, int) {
	n.t.Helper()
	f := filepath.Join(n.t.TempDir(), "pod.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return n.run(ctx, append([]string{"up", "-f", f, "--image-pull=never"}, args...)...)
}

// tableRow returns the fields of pod's row in the final table.
func tableRow(t *testing.T, out, pod string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 5 && f[0] == pod {
			return f
		}
	}
	t.Fatalf("no row for pod %s in:\n%s", pod, out)
	return nil
}

func TestUp_Demo(t *testing.T) {
	n := newNode(t)
	demo, err := os.ReadFile("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := n.up(string(demo), "--timeout", "6s")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// The client reached the web container over localhost, the page came
	// from the shared emptyDir, and the tailer read the web container's log
	// file through the other emptyDir.
	for _, want := range []string{
		"client | hello from demo, served over localhost",
		"log-tailer | request window 1",
		"web | web: stopping",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, c := range []string{"web", "client", "log-tailer"} {
		if !strings.Contains(errOut, c+": Running") {
			t.Errorf("stderr lacks %s: Running:\n%s", c, errOut)
		}
	}
	if row := tableRow(t, out, "demo"); row[1] != "0/3" || row[2] != "Completed" {
		t.Errorf("final row = %v", row)
	}
}

func TestUp_ExitCodes(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: fails}
spec:
  restartPolicy: Never
  containers:
  - {name: ok, image: busybox, command: ["true"]}
  - {name: bad, image: busybox, command: ["sh", "-c", "exit 3"]}
`)
	if code == 0 {
		t.Fatalf("exit 0 for a failed pod:\n%s\n%s", out, errOut)
	}
	if !strings.Contains(errOut, "bad: Terminated: Error (exit code 3)") || !strings.Contains(errOut, "ok: Terminated: Completed (exit code 0)") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if row := tableRow(t, out, "fails"); row[2] != "Error" {
		t.Errorf("final row = %v", row)
	}

	out, errOut, code = n.up(`
apiVersion: v1
kind: Pod
metadata: {name: works}
spec:
  restartPolicy: OnFailure
  containers:
  - {name: one, image: busybox, command: ["true"]}
`)
	if code != 0 {
		t.Fatalf("exit %d for a pod that succeeded:\n%s\n%s", code, out, errOut)
	}
	if row := tableRow(t, out, "works"); row[2] != "Completed" {
		t.Errorf("final row = %v", row)
	}
}

// A container that ignores SIGTERM is killed once the grace period is over;
// one that handles it stops at once.
func TestUp_GracePeriodThenSIGKILL(t *testing.T) {
	n := newNode(t)
	start := time.Now()
	out, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: ignores
    image: busybox
    command: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"]
  - name: obeys
    image: busybox
    command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"]
`, "--timeout", "1s")
	elapsed := time.Since(start)
	if !strings.Contains(errOut, "ignores: Terminated: Error (exit code 137)") {
		t.Errorf("the TERM-ignoring container was not SIGKILLed:\n%s", errOut)
	}
	if !strings.Contains(out, "obeys | got TERM") || !strings.Contains(errOut, "obeys: Terminated: Completed (exit code 0)") {
		t.Errorf("the TERM-handling container did not stop on TERM:\n%s\n%s", out, errOut)
	}
	if elapsed < 1*time.Second+3*time.Second {
		t.Errorf("stopped after %s, before the 3s grace period ran out", elapsed)
	}
}

// The image's entrypoint, cmd, env and working dir apply unless the pod
// overrides them; the hostname is the pod's name; the container sees only
// its own processes and not the host's files.
func TestUp_ImageConfigAndIsolation(t *testing.T) {
	withConfig := func(bb v1.Image) (string, v1.Image) {
		cf, err := bb.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		c.Entrypoint = []string{"sh", "-c", `echo "entry:$0:$1:$GREETING:$(pwd)"`}
		c.Cmd = []string{"img-cmd", "img-arg"}
		c.Env = append(c.Env, "GREETING=from-image")
		c.WorkingDir = "/tmp"
		img, err := mutate.Config(bb, c)
		if err != nil {
			t.Fatal(err)
		}
		return "example.com/configured:1", img
	}
	n := newNode(t, withConfig)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: iso}
spec:
  restartPolicy: Never
  containers:
  - {name: image-defaults, image: example.com/configured:1}
  - name: args-only
    image: example.com/configured:1
    args: ["my-arg0", "my-arg1"]
    env: [{name: GREETING, value: from-pod}]
  - name: command
    image: example.com/configured:1
    command: ["sh", "-c", "echo cmd:$0:$(pwd)", "x"]
    workingDir: /etc
  - name: isolation
    image: busybox
    command: ["sh", "-c", "echo host:$(hostname); echo pids:$(ls /proc | grep -c '^[0-9]'); echo pid1:$(cat /proc/1/comm); test -e /work && echo sees-host-fs || echo no-host-fs"]
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"image-defaults | entry:img-cmd:img-arg:from-image:/tmp",
		"args-only | entry:my-arg0:my-arg1:from-pod:/tmp",
		"command | cmd:x:/etc",
		"isolation | host:iso",
		"isolation | pid1:sh",
		"isolation | no-host-fs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`isolation \| pids:(\d+)`).FindStringSubmatch(out); m == nil || m[1] == "0" || len(m[1]) > 1 {
		t.Errorf("container sees too many processes: %v\n%s", m, out)
	}
}

// Bad input is rejected, naming the field, before anything starts.
func TestUp_StrictManifest(t *testing.T) {
	n := newNode(t)
	_, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: typo}
spec:
  containers:
  - {name: a, image: busybox, imagee: busybox}
`)
	if code == 0 || !strings.Contains(errOut, `unknown field "spec.containers[0].imagee"`) {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	_, errOut, code = n.up(`
apiVersion: v1
kind: Pod
metadata: {name: invalid}
spec:
  containers:
  - {name: a, image: busybox, volumeMounts: [{name: nope, mountPath: /x}]}
`)
	if code == 0 || !strings.Contains(errOut, `spec.containers[0].volumeMounts[0].name: Not found: "nope"`) {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}

// emptyDir volumes: shared between containers, memory-backed ones are a
// tmpfs of sizeLimit, readOnly mounts refuse writes, subPath mounts a
// directory inside the volume.
func TestUp_EmptyDirVolumes(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: vols}
spec:
  restartPolicy: Never
  initContainers: []
  containers:
  - name: writer
    image: busybox
    command: ["sh", "-c", "echo shared > /data/file; mkdir -p /data/sub; echo in-sub > /data/sub/f; df -k /mem | tail -1 | awk '{print \"memsize:\" $2}'; grep ' /mem ' /proc/mounts | cut -d' ' -f3 | sed 's/^/memfs:/'"]
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: mem, mountPath: /mem}
  - name: reader
    image: busybox
    command: ["sh", "-c", "until [ -f /ro/file ] && [ -f /sub/f ]; do sleep 0.1; done; cat /ro/file /sub/f; touch /ro/x 2>/dev/null && echo ro-writable || echo ro-refused"]
    volumeMounts:
    - {name: data, mountPath: /ro, readOnly: true}
    - {name: data, mountPath: /sub, subPath: sub}
  volumes:
  - name: data
    emptyDir: {}
  - name: mem
    emptyDir: {medium: Memory, sizeLimit: 8Mi}
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"reader | shared", "reader | in-sub", "reader | ro-refused", "writer | memfs:tmpfs", "writer | memsize:8192"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

// Several pods from standard input run side by side, prefixed by pod name.
func TestUp_SeveralPodsFromStdin(t *testing.T) {
	n := newNode(t)
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, append(append([]string{}, n.flags...), "up", "-f", "-", "--image-pull=never"), Streams{In: strings.NewReader(`
apiVersion: v1
kind: Pod
metadata: {name: one}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: ["echo", "from one"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: ["echo", "from two"]}]
`), Out: &out, Err: &errOut})
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"one/c | from one", "two/c | from two"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	for _, pod := range []string{"one", "two"} {
		if row := tableRow(t, out.String(), pod); row[2] != "Completed" {
			t.Errorf("row %v", row)
		}
	}
}

// events reads the lines the containers of a test pod appended to the
// shared "events" file, in order, from the log-printing cat container.
func events(out, container string) []string {
	var ev []string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, container+" | "); ok {
			ev = append(ev, rest)
		}
	}
	return ev
}

// Init containers run one at a time in order; a native sidecar starts in
// its place, before the next init container and the main container, keeps
// running, and is stopped after the main container finished (Job-style
// completion); the pod Succeeds on the main container's exit code alone.
func TestUp_InitAndSidecarOrder(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: order}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  initContainers:
  - name: init-1
    image: busybox
    command: ["sh", "-c", "echo init-1 >> /ev/log"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  - name: sidecar
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "echo sidecar-start >> /ev/log; trap 'echo sidecar-stop >> /ev/log; cat /ev/log; exit 1' TERM; sleep 3600 & wait"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  - name: init-2
    image: busybox
    command: ["sh", "-c", "grep -q sidecar-start /ev/log && echo init-2-saw-sidecar >> /ev/log"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo main >> /ev/log; sleep 0.5; echo main-done >> /ev/log"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  volumes:
  - {name: ev, emptyDir: {}}
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	want := []string{"init-1", "sidecar-start", "init-2-saw-sidecar", "main", "main-done", "sidecar-stop"}
	if got := events(out, "sidecar"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events = %v, want %v\nstderr:\n%s", got, want, errOut)
	}
	if row := tableRow(t, out, "order"); row[1] != "0/2" || row[2] != "Completed" {
		t.Errorf("final row = %v", row)
	}
}

// Under restartPolicy Never a failed init container fails the pod and no
// regular container starts; under OnFailure only the failed init container
// runs again (and the pod goes on once it succeeds).
func TestUp_InitFailure(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: never}
spec:
  restartPolicy: Never
  initContainers:
  - {name: init, image: busybox, command: ["sh", "-c", "exit 2"]}
  containers:
  - {name: main, image: busybox, command: ["echo", "main ran"]}
`)
	if code == 0 || strings.Contains(out, "main ran") || strings.Contains(errOut, "main: Running") {
		t.Errorf("exit %d, main must not run:\n%s\n%s", code, out, errOut)
	}
	if row := tableRow(t, out, "never"); row[2] != "Init:Error" {
		t.Errorf("final row = %v", row)
	}

	// The first init container runs once; the second fails on its first
	// run only (it leaves a mark in the emptyDir) and is re-run at once
	// (the first restart has no backoff).
	out, errOut, code = n.up(`
apiVersion: v1
kind: Pod
metadata: {name: onfailure}
spec:
  restartPolicy: OnFailure
  initContainers:
  - {name: first, image: busybox, command: ["sh", "-c", "echo first >> /ev/log"], volumeMounts: [{name: ev, mountPath: /ev}]}
  - {name: flaky, image: busybox, command: ["sh", "-c", "echo flaky >> /ev/log; [ -f /ev/mark ] || { touch /ev/mark; exit 1; }"], volumeMounts: [{name: ev, mountPath: /ev}]}
  containers:
  - {name: main, image: busybox, command: ["cat", "/ev/log"], volumeMounts: [{name: ev, mountPath: /ev}]}
  volumes:
  - {name: ev, emptyDir: {}}
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	if got := strings.Join(events(out, "main"), ","); got != "first,flaky,flaky" {
		t.Errorf("init runs = %s, want first,flaky,flaky", got)
	}
	if !strings.Contains(errOut, "flaky: Terminated: Error (exit code 1)") {
		t.Errorf("the failed run of flaky was not reported:\n%s", errOut)
	}
	// kubectl counts init restarts only until the pod is initialized.
	if row := tableRow(t, out, "onfailure"); row[2] != "Completed" || row[3] != "0" {
		t.Errorf("final row = %v (want Completed, 0)", row)
	}
}

// Two native sidecars: a sidecar that exits is restarted (whatever the
// pod's restartPolicy) while the main container runs; when the main
// container is done the sidecars are stopped after it, the later one first.
func TestUp_SidecarRestartAndReverseStop(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: sidecars}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  initContainers:
  - name: first
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "trap 'echo first-stop >> /ev/log; sleep 0.3; cat /ev/log; exit 0' TERM; sleep 3600 & wait"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  - name: second
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "if [ ! -f /ev/restarted ]; then touch /ev/restarted; echo second-exits >> /ev/log; exit 0; fi; echo second-again >> /ev/log; trap 'echo second-stop >> /ev/log; exit 0' TERM; sleep 3600 & wait"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "until grep -q second-again /ev/log; do sleep 0.1; done; echo main-done >> /ev/log"]
    volumeMounts: [{name: ev, mountPath: /ev}]
  volumes:
  - {name: ev, emptyDir: {}}
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	want := []string{"second-exits", "second-again", "main-done", "second-stop", "first-stop"}
	if got := events(out, "first"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events = %v, want %v\nstderr:\n%s", got, want, errOut)
	}
	if row := tableRow(t, out, "sidecars"); row[2] != "Completed" || !strings.HasPrefix(row[3], "1") {
		t.Errorf("final row = %v (want Completed with the sidecar's restart counted)", row)
	}
}

// A main container that keeps failing under restartPolicy Always keeps the
// pod Running, goes into CrashLoopBackOff, and its restarts are counted.
func TestUp_CrashLoopBackOff(t *testing.T) {
	n := newNode(t)
	out, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: crashy}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: crash, image: busybox, command: ["sh", "-c", "echo boom; exit 1"]}
  - {name: steady, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}
`, "--timeout", "4s")
	if !strings.Contains(errOut, "crash: Waiting: CrashLoopBackOff: back-off 10s restarting failed container=crash pod=crashy_default(") {
		t.Errorf("no CrashLoopBackOff:\n%s", errOut)
	}
	// The first restart is immediate, the next waits 10 s: two runs in 4 s.
	if got := strings.Count(out, "crash | boom"); got != 2 {
		t.Errorf("crash ran %d times, want 2:\n%s", got, out)
	}
	// RESTARTS reads "1 (Ns ago)": three fields once split on spaces.
	if row := tableRow(t, out, "crashy"); row[2] != "CrashLoopBackOff" || row[3] != "1" || !strings.HasPrefix(row[4], "(") {
		t.Errorf("final row = %v", row)
	}
}

// Escape probes (testenv.EscapePods) under up: a default container and one
// without NET_RAW under RuntimeDefault seccomp reach nothing of the host; a
// privileged pod with the host's namespaces reaches all of it, which shows
// each probe works.
func TestUp_EscapeProbes(t *testing.T) {
	n := newNode(t)
	key := filepath.Join(n.root, "pki", "serving.key")
	if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := n.up(testenv.EscapePods(key, "busybox"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	for c := range testenv.EscapeWant {
		for _, bad := range testenv.CheckEscape(c, out) {
			t.Error(bad)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
