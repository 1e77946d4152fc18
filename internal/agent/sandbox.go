package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"peapod/internal/network"
	"peapod/internal/runtime"
	"peapod/internal/volume"
)

// setUp creates the sandbox and starts its network attachment, which runs
// while the volumes are set up and the first container is created (the
// bridge and IPAM plugins take tens of milliseconds, as much as a create);
// networkReady takes its result and writes the pod's IP into the managed
// files, in place, before any container starts.
func (w *worker) setUp(ctx context.Context) error {
	spec := w.pod.Spec
	hostname, domain := podHostname(w.pod)
	kernelName, err := kernelHostname(w.pod, hostname, domain)
	if err != nil {
		return err
	}
	sb, err := w.cfg.Runtime.CreateSandbox(ctx, runtime.SandboxSpec{
		ID: string(w.pod.UID), Name: w.pod.Name, Namespace: w.pod.Namespace, UID: string(w.pod.UID), Hostname: kernelName,
		SharePID:    spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace,
		HostNetwork: spec.HostNetwork, HostIPC: spec.HostIPC, HostPID: spec.HostPID,
	})
	if err != nil {
		return fmt.Errorf("pod %s/%s: create sandbox: %w", w.pod.Namespace, w.pod.Name, err)
	}
	w.sandbox = sb
	if err := os.MkdirAll(w.podDir(), 0o750); err != nil {
		return err
	}
	n := w.cfg.Network
	if n != nil {
		// With hostNetwork the pod's IP is the node's, as the kubelet has it.
		w.hostIPs = []string{n.HostIP().String()}
	}
	attach := n != nil && !sb.HostNetwork // an address of the pod's own
	if !attach {
		w.podIPs = w.hostIPs
	}
	// Written at once, without the IP if it is still to come: a container
	// created meanwhile mounts the files, which networkReady rewrites.
	if w.files, err = writePodFiles(w.podDir(), w.pod, sb.Hostname, w.podIPs, w.cfg.ClusterDNS); err != nil || !attach {
		return err
	}
	ch := make(chan attachment, 1)
	w.attached = ch
	ports := network.PortMappings(w.pod)
	go func() {
		ips, err := n.Attach(ctx, sb.ID, sb.NetNS, ports)
		ch <- attachment{ips, err}
	}()
	return nil
}

// attachment is the outcome of a sandbox's network attachment.
type attachment struct {
	ips []net.IP
	err error
}

// networkReady waits for the attachment setUp started, if it has not yet,
// and writes the pod's managed files with its IPs; once it has failed, it
// returns that failure.
func (w *worker) networkReady(ctx context.Context) error {
	if w.attached == nil {
		return w.attachErr
	}
	var a attachment
	select {
	case a = <-w.attached:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.attached = nil
	if a.err != nil {
		w.attachErr = fmt.Errorf("pod %s/%s: %w", w.pod.Namespace, w.pod.Name, a.err)
		return w.attachErr
	}
	w.podIPs = nil
	for _, ip := range a.ips {
		w.podIPs = append(w.podIPs, ip.String())
	}
	var err error
	w.files, err = writePodFiles(w.podDir(), w.pod, w.sandbox.Hostname, w.podIPs, w.cfg.ClusterDNS)
	return err
}

// mountVolumes sets up the pod's volumes; w.volumes stays nil on failure.
func (w *worker) mountVolumes() error {
	// A nil Objects converts to a nil volume.Objects, which finds nothing.
	vols, err := volume.SetUp(w.podDir(), w.pod, w.volumeSource())
	if err != nil {
		return fmt.Errorf("MountVolume.SetUp failed: %w", err)
	}
	w.volumes = vols
	return nil
}

// cleanup removes the pod's containers, network attachment, sandbox and
// volumes (TearDown, as for a pod collected by the node); logs stay.
func (w *worker) cleanup() error {
	w.probes.Close()
	w.waitWG.Wait()
	w.followWG.Wait()
	if w.attached != nil {
		<-w.attached // an attachment still in flight ends before its DEL
		w.attached = nil
	}
	if w.sandbox == nil {
		return removePodDir(w.podDir())
	}
	if err := TearDown(context.Background(), w.cfg, w.sandbox); err != nil {
		return fmt.Errorf("pod %s/%s: %w", w.pod.Namespace, w.pod.Name, err)
	}
	return nil
}

// TearDown removes everything the node holds of sandbox sb (a pod's): its
// containers, a running one killed at once (MinGracePeriod), its network
// attachment, the sandbox, its volumes and pod dir; logs stay. The worker
// ends its pods with it, and the node collects with it the sandboxes of
// pods that no longer exist.
//
// Once the containers have exited the sandbox is stopped first: its
// namespaces unpinned, the kernel frees the network namespace and the
// pod's veth with it in the background, so the network DEL, which then
// goes without a namespace, only releases the address and hostPort rules
// (without ipMasq the bridge plugin has nothing else to undo), and it runs
// beside the containers' removal. Nothing goes after a container that could
// not be removed: the next collection tries again, and the sandbox is still
// listed for it.
func TearDown(ctx context.Context, cfg Config, sb *runtime.Sandbox) error {
	rt, id := cfg.Runtime, sb.ID
	list, err := rt.ListContainers(ctx, id)
	if err != nil {
		return err
	}
	if err := eachContainer(list, func(c *runtime.ContainerStatus) error {
		if c.State != runtime.StateRunning {
			return nil
		}
		return rt.StopContainer(ctx, runtime.StopRequest{ID: c.ID, Timeout: MinGracePeriod})
	}); err != nil {
		return err
	}
	if err := rt.StopSandbox(ctx, id); err != nil {
		return err
	}
	var detach error
	var wg sync.WaitGroup
	if cfg.Network != nil && sb.NetNS != "" && !sb.HostNetwork {
		wg.Add(1)
		go func() {
			defer wg.Done()
			detach = cfg.Network.Detach(ctx, id, sb.NetNS)
		}()
	}
	err = eachContainer(list, func(c *runtime.ContainerStatus) error { return rt.RemoveContainer(ctx, c.ID) })
	wg.Wait()
	if err := errors.Join(err, detach); err != nil {
		return err
	}
	if err := rt.RemoveSandbox(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	if err := removePodDir(filepath.Join(cfg.PodsDir, id)); err != nil {
		return err
	}
	if cfg.Tokens != nil {
		cfg.Tokens.DeleteServiceAccountToken(types.UID(sb.UID))
	}
	return nil
}

// eachContainer runs f for every container at once and joins the errors;
// a container that is gone already is no error.
func eachContainer(list []*runtime.ContainerStatus, f func(*runtime.ContainerStatus) error) error {
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(c); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// removePodDir tears the pod's volumes down and removes its directory.
func removePodDir(dir string) error {
	if err := volume.TearDown(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
