package agent

import (
	"context"
	"net"
	"sync"
	"testing"

	"peapod/internal/network"
	"peapod/internal/runtime"
	"peapod/internal/runtime/runtimetest"
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
	net := &detachRecorder{rt: rt}
	dir := t.TempDir()
	cfg := Config{Runtime: rt, Network: net, PodsDir: dir}
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
	if len(net.stopped) != 1 || !net.stopped[0] {
		t.Errorf("Detach calls saw the sandbox stopped: %v, want [true]", net.stopped)
	}
	if left, _ := rt.ListContainers(ctx, sb.ID); len(left) != 0 {
		t.Errorf("%d containers left after TearDown", len(left))
	}
	if left, _ := rt.ListSandboxes(ctx); len(left) != 0 {
		t.Errorf("sandboxes left after TearDown: %v", left)
	}
}
