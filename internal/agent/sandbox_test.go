package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
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
