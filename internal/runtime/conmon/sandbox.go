package conmon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"peapod/internal/runtime"
)

// Sandboxes are pinned namespaces, not an infra process: a thread unshares
// net/ipc/uts, sets the hostname, brings lo up and bind-mounts its namespace
// files; the namespaces then live as long as the bind mounts. Nothing runs,
// nothing can die, and nothing needs reaping.
//
// The exception is shareProcessNamespace: a PID namespace ends with its
// init, so that sandbox gets one infra process, catatonit in pause mode, as
// PID 1 of a new PID namespace (it also reaps the orphans of every
// container). It is started from the pinning thread, so it sits in the
// pod's other namespaces too, and in the pod cgroup. It is a session leader
// of its own and outlives a peapod restart; its PID is kept in the sandbox
// directory and checked against the pinned namespace before it is killed.

// infraBinary is the pause process of a shared PID namespace: static,
// ~0.7 MB RSS, reaps zombies, exits on SIGTERM/SIGINT.
const infraBinary = "catatonit"

const infraPidFile = "infra.pid"

func (r *Runtime) sandboxDir(id string) string {
	return filepath.Join(r.cfg.RunRoot, "sandboxes", id)
}

func (r *Runtime) podCgroup(id string) string {
	return "/" + r.cfg.CgroupRoot + "/pod-" + id
}

// infraKey names a sandbox's infra among the reaped children; container IDs
// are hex, so they cannot collide.
func infraKey(id string) string { return "sandbox/" + id }

// CreateSandbox pins the pod's namespaces. It is idempotent: an existing
// sandbox is returned as is.
func (r *Runtime) CreateSandbox(ctx context.Context, spec runtime.SandboxSpec) (*runtime.Sandbox, error) {
	if err := validID(spec.ID); err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	if sb, err := r.loadSandbox(spec.ID); err == nil {
		return sb, nil
	} else if !errors.Is(err, runtime.ErrNotFound) {
		return nil, err
	}
	if spec.SharePID && spec.HostPID {
		return nil, fmt.Errorf("sandbox %s (pod %s/%s): shareProcessNamespace and hostPID exclude each other", spec.ID, spec.Namespace, spec.Name)
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.Name
	}
	if spec.HostNetwork {
		// The node's UTS namespace: its name is the pod's, as with the
		// kubelet.
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("sandbox %s: %w", spec.ID, err)
		}
		hostname = h
	}
	dir := r.sandboxDir(spec.ID)
	nsDir := filepath.Join(dir, "ns")
	sb := &runtime.Sandbox{
		ID: spec.ID, Name: spec.Name, Namespace: spec.Namespace, UID: spec.UID,
		Hostname: hostname, Labels: spec.Labels, CreatedAt: time.Now().UTC(),
		HostNetwork: spec.HostNetwork, HostIPC: spec.HostIPC, HostPID: spec.HostPID,
		CgroupParent: r.podCgroup(spec.ID),
	}
	p := pinPlan{nsDir: nsDir, hostname: hostname}
	if !spec.HostNetwork {
		sb.NetNS, sb.UTSNS = filepath.Join(nsDir, "net"), filepath.Join(nsDir, "uts")
		p.flags |= unix.CLONE_NEWNET | unix.CLONE_NEWUTS
		p.pin = append(p.pin, "net", "uts")
	}
	if !spec.HostIPC {
		sb.IPCNS = filepath.Join(nsDir, "ipc")
		p.flags |= unix.CLONE_NEWIPC
		p.pin = append(p.pin, "ipc")
	}
	if spec.SharePID {
		bin, err := exec.LookPath(infraBinary)
		if err != nil {
			return nil, fmt.Errorf("sandbox %s (pod %s/%s): shareProcessNamespace needs %s (apt-get install catatonit): %w", spec.ID, spec.Namespace, spec.Name, infraBinary, err)
		}
		sb.PIDNS = filepath.Join(nsDir, "pid")
		p.infra = bin
	}
	if err := os.MkdirAll(nsDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", spec.ID, err)
	}
	cleanup := func(err error) error {
		return errors.Join(fmt.Errorf("sandbox %s (pod %s/%s): %w", spec.ID, spec.Namespace, spec.Name, err), r.RemoveSandbox(ctx, spec.ID))
	}
	pid, err := pinNamespaces(p)
	if pid > 0 {
		r.reap(infraKey(spec.ID), pid)
		// Written before anything can fail, so RemoveSandbox finds it.
		if werr := os.WriteFile(filepath.Join(dir, infraPidFile), []byte(strconv.Itoa(pid)), 0o600); werr != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		return nil, cleanup(err)
	}
	if pid > 0 {
		if err := r.joinCgroup(sb.CgroupParent, pid); err != nil {
			return nil, cleanup(fmt.Errorf("infra process: %w", err))
		}
	}
	// The metadata is written last: a sandbox with metadata is complete.
	if err := writeJSON(filepath.Join(dir, "sandbox.json"), sb); err != nil {
		return nil, cleanup(err)
	}
	return sb, nil
}

// pinPlan says which namespaces a sandbox makes and pins.
type pinPlan struct {
	nsDir    string
	flags    int      // CLONE_NEW* to unshare
	pin      []string // names under /proc/thread-self/ns to pin
	hostname string   // set when the UTS namespace is new
	infra    string   // with a shared PID namespace, the infra binary
}

// pinNamespaces runs on a locked thread of its own, which it moves into the
// new namespaces and back. Should the way back fail, the goroutine exits
// still locked, so Go ends the thread rather than hand it, in the wrong
// namespaces, to other goroutines. (Relying on that alone is not enough:
// Go never ends the main thread, it parks it, and a parked main thread
// would hold the pod's namespaces forever.) It returns the infra's PID when
// it started one, even on a later error.
func pinNamespaces(p pinPlan) (int, error) {
	if p.flags == 0 && p.infra == "" {
		return 0, nil // all the node's: nothing to make
	}
	type result struct {
		pid int
		err error
	}
	resc := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		restore, err := saveNamespaces(p.flags)
		if err != nil {
			resc <- result{0, err}
			return
		}
		var pid int
		err = func() error {
			if p.flags != 0 {
				if err := unix.Unshare(p.flags); err != nil {
					return fmt.Errorf("unshare: %w", err)
				}
			}
			if p.flags&unix.CLONE_NEWUTS != 0 {
				if err := unix.Sethostname([]byte(p.hostname)); err != nil {
					return fmt.Errorf("sethostname %q: %w", p.hostname, err)
				}
			}
			if p.flags&unix.CLONE_NEWNET != 0 {
				// netlink's package handle opens its socket in the
				// calling thread's network namespace: this one.
				lo, err := netlink.LinkByName("lo")
				if err != nil {
					return fmt.Errorf("find lo: %w", err)
				}
				if err := netlink.LinkSetUp(lo); err != nil {
					return fmt.Errorf("bring lo up: %w", err)
				}
			}
			for _, ns := range p.pin {
				if err := bindNS("/proc/thread-self/ns/"+ns, filepath.Join(p.nsDir, ns)); err != nil {
					return fmt.Errorf("pin %s namespace: %w", ns, err)
				}
			}
			if p.infra == "" {
				return nil
			}
			// Forked from this thread, the infra inherits its namespaces.
			cmd := exec.Command(p.infra, "-P")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID, Setsid: true}
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("start infra process: %w", err)
			}
			pid = cmd.Process.Pid
			// Reaped by PID with wait4 (see reap), not through os/exec.
			_ = cmd.Process.Release()
			if err := bindNS(fmt.Sprintf("/proc/%d/ns/pid", pid), filepath.Join(p.nsDir, "pid")); err != nil {
				return fmt.Errorf("pin pid namespace: %w", err)
			}
			return nil
		}()
		if restore() {
			goruntime.UnlockOSThread()
		}
		resc <- result{pid, err}
	}()
	res := <-resc
	return res.pid, res.err
}

// saveNamespaces opens the calling thread's namespaces that flags will
// replace and returns a func that moves the thread back into them,
// reporting whether it could.
func saveNamespaces(flags int) (restore func() bool, err error) {
	type saved struct {
		f    *os.File
		kind int
	}
	var all []saved
	closeAll := func() {
		for _, s := range all {
			s.f.Close()
		}
	}
	for _, ns := range []struct {
		name string
		flag int
	}{{"net", unix.CLONE_NEWNET}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}} {
		if flags&ns.flag == 0 {
			continue
		}
		f, err := os.Open("/proc/thread-self/ns/" + ns.name)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open %s namespace: %w", ns.name, err)
		}
		all = append(all, saved{f, ns.flag})
	}
	return func() bool {
		defer closeAll()
		for _, s := range all {
			if err := unix.Setns(int(s.f.Fd()), s.kind); err != nil {
				return false
			}
		}
		return true
	}, nil
}

func bindNS(src, target string) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o400)
	if err != nil {
		return err
	}
	f.Close()
	return unix.Mount(src, target, "", unix.MS_BIND, "")
}

// StopSandbox ends the infra process and any process left in the pod
// cgroup (a created container's init, still waiting for its start; one of
// a container whose state was lost, which would hold the namespaces and
// the cgroup for ever), then unpins the namespaces. The kernel removes a
// network namespace's interfaces when it frees it, in the background and
// in batches, so a pod's veth need not be deleted one by one on the way
// out.
func (r *Runtime) StopSandbox(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return fmt.Errorf("stop sandbox: %w", err)
	}
	var errs []error
	if err := r.stopInfra(ctx, id); err != nil {
		errs = append(errs, err)
	}
	r.killCgroup(r.podCgroup(id))
	for _, ns := range []string{"net", "ipc", "uts", "pid"} {
		p := filepath.Join(r.sandboxDir(id), "ns", ns)
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unpin %s namespace: %w", ns, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop sandbox %s: %w", id, err)
	}
	r.stopped.Store(id, true)
	return nil
}

// RemoveSandbox stops the sandbox and removes the pod cgroup and the
// sandbox's directory.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	// The mark goes now: should the removal fail, its retry kills again.
	if _, stopped := r.stopped.LoadAndDelete(id); !stopped {
		if err := r.StopSandbox(ctx, id); err != nil {
			return fmt.Errorf("remove sandbox: %w", err)
		}
		r.stopped.Delete(id)
	}
	if err := r.removeCgroup(r.podCgroup(id)); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	if err := os.RemoveAll(r.sandboxDir(id)); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	return nil
}

// stopInfra kills the sandbox's infra process, if it has one and it is
// still the one whose PID namespace is pinned (its PID may have been
// reused), and waits until it has exited: by our reaper when it is our
// child, else through a pidfd while whoever inherited it reaps it.
func (r *Runtime) stopInfra(ctx context.Context, id string) error {
	dir := r.sandboxDir(id)
	pid, err := readPid(filepath.Join(dir, infraPidFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("infra process: %w", err)
	}
	var pinned, cur unix.Stat_t
	pinErr := unix.Stat(filepath.Join(dir, "ns", "pid"), &pinned)
	curErr := unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &cur)
	// Without the pin (a create that failed before it) the PID was
	// written a moment ago and is the infra's.
	ours := curErr == nil && (pinErr != nil || (pinned.Ino == cur.Ino && pinned.Dev == cur.Dev))
	if ours {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill infra process %d: %w", pid, err)
		}
	}
	r.mu.Lock()
	done := r.exits[infraKey(id)]
	r.mu.Unlock()
	if done != nil {
		select {
		case <-done:
			return nil
		case <-time.After(10 * time.Second):
			return fmt.Errorf("infra process %d did not exit", pid)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !ours {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := waitGone(wctx, pid); err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("infra process %d did not exit", pid)
		}
		return fmt.Errorf("infra process %d: %w", pid, err)
	}
	return nil
}

// removeUnfinishedSandboxes removes the sandboxes without metadata, whose
// create or remove a kill cut short: at start none is in flight. Nothing
// else would: they are not listed, and a new create under the same ID
// would pin its namespaces over the old pins.
func (r *Runtime) removeUnfinishedSandboxes() error {
	entries, err := os.ReadDir(filepath.Join(r.cfg.RunRoot, "sandboxes"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var errs []error
	for _, e := range entries {
		if _, err := r.loadSandbox(e.Name()); errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, r.RemoveSandbox(context.Background(), e.Name()))
		}
	}
	return errors.Join(errs...)
}

// ListSandboxes reads every complete sandbox's metadata.
func (r *Runtime) ListSandboxes(context.Context) ([]*runtime.Sandbox, error) {
	entries, err := os.ReadDir(filepath.Join(r.cfg.RunRoot, "sandboxes"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var out []*runtime.Sandbox
	for _, e := range entries {
		sb, err := r.loadSandbox(e.Name())
		if errors.Is(err, runtime.ErrNotFound) {
			continue // half-created or half-removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sb)
	}
	return out, nil
}

func (r *Runtime) loadSandbox(id string) (*runtime.Sandbox, error) {
	var sb runtime.Sandbox
	if err := readJSON(filepath.Join(r.sandboxDir(id), "sandbox.json"), &sb); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sandbox %s: %w", id, runtime.ErrNotFound)
		}
		return nil, fmt.Errorf("sandbox %s: %w", id, err)
	}
	return &sb, nil
}

// validID keeps IDs usable as one path element.
func validID(id string) error {
	if id == "" || id == "." || id == ".." || filepath.Base(id) != id || len(id) > 128 {
		return fmt.Errorf("invalid ID %q", id)
	}
	return nil
}

// writeJSON replaces file atomically, so a crash never leaves half a file.
func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
