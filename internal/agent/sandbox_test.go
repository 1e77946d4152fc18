package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/network"
	"peapod/internal/runtime"
	"peapod/internal/runtime/runtimetest"
	"peapod/internal/volume"
)

// detachRecorder is a Network that records, at each Detach, whether the
// sandbox was stopped and which of its containers were still there.
type detachRecorder struct {
	rt *runtimetest.Fake
	mu sync.Mutex
	// stopped[i] is whether the sandbox was stopped at the i-th Detach.
	stopped []bool
}

func (d *detachRecorder) Attach(context.Context, string, string, []network.PortMapping) ([]net.IP, error) {
	return []net.IP{net.IPv4(10, 0, 0, 2)}, nil
}

func (d *detachRecorder) Detach(_ context.Context, sandboxID, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = append(d.stopped, d.rt.Stopped(sandboxID))
	return nil
}

func (d *detachRecorder) HostIP() net.IP { return net.IPv4(10, 0, 0, 1) }

// TearDown stops the sandbox, so that the kernel takes the pod's
// interface with its network namespace, before the network DEL, and leaves
// nothing of the pod: every container, running or not, and the sandbox.
func TestTearDown_StopsTheSandboxBeforeTheNetworkDEL(t *testing.T) {
	ctx := context.Background()
	rt := runtimetest.NewFake()
	podNet := &detachRecorder{rt: rt}
	dir := t.TempDir()
	cfg := Config{Runtime: rt, Network: podNet, PodsDir: dir}
	sb, err := rt.CreateSandbox(ctx, runtime.SandboxSpec{ID: "sb1", Name: "p", Namespace: "default", UID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sidecar", "main", "done"} {
		id, err := rt.CreateContainer(ctx, runtime.ContainerSpec{SandboxID: sb.ID, Name: name, Args: []string{"run"}})
		if err != nil {
			t.Fatal(err)
		}
		if name == "done" {
			continue // created, never started
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := TearDown(ctx, cfg, sb); err != nil {
		t.Fatalf("TearDown: %v", err)
	}
	if len(podNet.stopped) != 1 || !podNet.stopped[0] {
		t.Errorf("Detach calls saw the sandbox stopped: %v, want [true]", podNet.stopped)
	}
	if left, _ := rt.ListContainers(ctx, sb.ID); len(left) != 0 {
		t.Errorf("%d containers left after TearDown", len(left))
	}
	if left, _ := rt.ListSandboxes(ctx); len(left) != 0 {
		t.Errorf("sandboxes left after TearDown: %v", left)
	}
}

// volumeWaiter is a Network whose Attach returns only once the pod's
// emptyDir "www" exists: it attaches while the volumes are set up.
type volumeWaiter struct {
	detachRecorder
	volume string
}

func (v *volumeWaiter) Attach(ctx context.Context, _, _ string, _ []network.PortMapping) ([]net.IP, error) {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(v.volume); err == nil {
			return []net.IP{net.IPv4(10, 0, 0, 2)}, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the volumes were not set up while the network was attached")
		}
	}
}

// The network attachment and the volume set-up run at once, and no
// container starts before the pod has its IP.
func TestWorker_AttachesWhileTheVolumesAreSetUp(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	rt := runtimetest.NewFake()
	pod := scriptedPod(corev1.RestartPolicyNever, map[string]string{runtimetest.LabelRunFor + ".main": "0s"}, nil, []corev1.Container{ctr("main")})
	pod.Spec.Volumes = []corev1.Volume{{Name: "www", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	podNet := &volumeWaiter{detachRecorder: detachRecorder{rt: rt}, volume: filepath.Join(volume.Dir(filepath.Join(dir, "pods", string(pod.UID))), "kubernetes.io~empty-dir", "www")}
	cfg := Config{Runtime: rt, Network: podNet, Images: fakeImages{}, PodsDir: dir + "/pods", LogsDir: dir + "/logs", Pull: PullMissing, Reporter: rec}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Run(ctx, cfg, pod, nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, st := range rec.statuses {
		if len(st.ContainerStatuses) > 0 && st.ContainerStatuses[0].State.Waiting == nil && st.PodIP != "10.0.0.2" {
			t.Fatalf("container %s with pod IP %q, want 10.0.0.2", st.ContainerStatuses[0].Name, st.PodIP)
		}
	}
	if ran := rec.last(func(st corev1.PodStatus) bool { return st.Phase == corev1.PodSucceeded && st.PodIP == "10.0.0.2" }); ran == nil {
		t.Errorf("no Succeeded status with the pod IP; statuses %+v", rec.statuses)
	}
}

// orderRuntime is a Fake that records what each container had at its
// create (its environment) and at its start (its /etc/hosts).
type orderRuntime struct {
	*runtimetest.Fake
	mu           sync.Mutex
	specs        map[string]runtime.ContainerSpec // by ID
	hostsAtStart map[string]string                // by container name
}

func (o *orderRuntime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	id, err := o.Fake.CreateContainer(ctx, spec)
	if err == nil {
		o.mu.Lock()
		o.specs[id] = spec
		o.mu.Unlock()
	}
	return id, err
}

func (o *orderRuntime) StartContainer(ctx context.Context, id string) error {
	o.mu.Lock()
	spec := o.specs[id]
	for _, m := range spec.Mounts {
		if m.Destination == "/etc/hosts" {
			b, _ := os.ReadFile(m.Source)
			o.hostsAtStart[spec.Name] = string(b)
		}
	}
	o.mu.Unlock()
	return o.Fake.StartContainer(ctx, id)
}

// createWaiter is a Network whose Attach returns only once a container of
// the sandbox has been created: it attaches while the first container is.
type createWaiter struct {
	detachRecorder
}

func (c *createWaiter) Attach(ctx context.Context, sandboxID, _ string, _ []network.PortMapping) ([]net.IP, error) {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if cs, _ := c.rt.ListContainers(ctx, sandboxID); len(cs) > 0 {
			if cs[0].State != runtime.StateCreated {
				return nil, errors.New("a container started before the network was attached")
			}
			return []net.IP{net.IPv4(10, 0, 0, 2)}, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("no container was created while the network was attached")
		}
	}
}

// The first container is created while the network is attached and
// started once it is, its /etc/hosts then holding the pod's IP; one whose
// environment takes the pod IP is created only once the IP is known.
func TestWorker_CreatesWhileTheNetworkIsAttached(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	fake := runtimetest.NewFake()
	rt := &orderRuntime{Fake: fake, specs: map[string]runtime.ContainerSpec{}, hostsAtStart: map[string]string{}}
	withIP := ctr("with-ip")
	withIP.Env = []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}
	pod := scriptedPod(corev1.RestartPolicyNever, map[string]string{runtimetest.LabelRunFor + ".main": "0s", runtimetest.LabelRunFor + ".with-ip": "0s"}, nil, []corev1.Container{ctr("main"), withIP})
	podNet := &createWaiter{detachRecorder: detachRecorder{rt: fake}}
	cfg := Config{Runtime: rt, Network: podNet, Images: fakeImages{}, PodsDir: dir + "/pods", LogsDir: dir + "/logs", Pull: PullMissing, Reporter: rec}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Run(ctx, cfg, pod, nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, name := range []string{"main", "with-ip"} {
		if h, ok := rt.hostsAtStart[name]; !ok || !strings.Contains(h, "10.0.0.2") {
			t.Errorf("%s started with /etc/hosts %q, want the pod IP in it", name, h)
		}
	}
	for _, spec := range rt.specs {
		if spec.Name == "with-ip" && !slices.Contains(spec.Env, "POD_IP=10.0.0.2") {
			t.Errorf("with-ip created with env %v, want POD_IP=10.0.0.2", spec.Env)
		}
	}
	if done := rec.last(func(st corev1.PodStatus) bool { return st.Phase == corev1.PodSucceeded && st.PodIP == "10.0.0.2" }); done == nil {
		t.Errorf("no Succeeded status with the pod IP; statuses %+v", rec.statuses)
	}
}

// failingNet is a Network whose attachments fail.
type failingNet struct{ detachRecorder }

func (*failingNet) Attach(context.Context, string, string, []network.PortMapping) ([]net.IP, error) {
	return nil, errors.New("no address left")
}

// A failed attachment ends the worker with its error (the node retries
// the pod) and no container is started; what was created is removed.
func TestWorker_FailedAttachmentStartsNothing(t *testing.T) {
	dir := t.TempDir()
	fake := runtimetest.NewFake()
	rt := &orderRuntime{Fake: fake, specs: map[string]runtime.ContainerSpec{}, hostsAtStart: map[string]string{}}
	pod := scriptedPod(corev1.RestartPolicyNever, nil, nil, []corev1.Container{ctr("main")})
	cfg := Config{Runtime: rt, Network: &failingNet{detachRecorder{rt: fake}}, Images: fakeImages{}, PodsDir: dir + "/pods", LogsDir: dir + "/logs", Pull: PullMissing, Reporter: &recorder{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Run(ctx, cfg, pod, nil); err == nil || !strings.Contains(err.Error(), "no address left") {
		t.Fatalf("Run: %v, want the attachment's error", err)
	}
	if len(rt.hostsAtStart) != 0 {
		t.Errorf("containers started: %v", rt.hostsAtStart)
	}
	if left, _ := fake.ListSandboxes(ctx); len(left) != 0 {
		t.Errorf("sandboxes left: %v", left)
	}
}
