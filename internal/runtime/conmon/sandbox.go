package conmon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"peapod/internal/runtime"
)

// Sandboxes are pinned namespaces, not an infra process: a thread unshares
// net/ipc/uts, sets the hostname, brings lo up and bind-mounts its namespace
// files; the namespaces then live as long as the bind mounts. Nothing runs,
// nothing can die, and nothing needs reaping.

var sandboxNamespaces = []string{"net", "ipc", "uts"}

func (r *Runtime) sandboxDir(id string) string {
	return filepath.Join(r.cfg.RunRoot, "sandboxes", id)
}

func (r *Runtime) podCgroup(id string) string {
	return "/" + r.cfg.CgroupRoot + "/pod-" + id
}

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
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.Name
	}
	dir := r.sandboxDir(spec.ID)
	nsDir := filepath.Join(dir, "ns")
	sb := &runtime.Sandbox{
		ID: spec.ID, Name: spec.Name, Namespace: spec.Namespace, UID: spec.UID,
		Hostname: hostname, Labels: spec.Labels, CreatedAt: time.Now().UTC(),
		NetNS:        filepath.Join(nsDir, "net"),
		IPCNS:        filepath.Join(nsDir, "ipc"),
		UTSNS:        filepath.Join(nsDir, "uts"),
		CgroupParent: r.podCgroup(spec.ID),
	}
	if err := os.MkdirAll(nsDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", spec.ID, err)
	}
	if err := pinNamespaces(nsDir, hostname); err != nil {
		return nil, errors.Join(fmt.Errorf("sandbox %s: %w", spec.ID, err), r.RemoveSandbox(ctx, spec.ID))
	}
	// The metadata is written last: a sandbox with metadata is complete.
	if err := writeJSON(filepath.Join(dir, "sandbox.json"), sb); err != nil {
		return nil, errors.Join(fmt.Errorf("sandbox %s: %w", spec.ID, err), r.RemoveSandbox(ctx, spec.ID))
	}
	return sb, nil
}

// pinNamespaces runs on a thread of its own, which it leaves in the new
// namespaces: the goroutine exits still locked, so Go ends the thread
// rather than hand it, in the wrong namespaces, to other goroutines.
func pinNamespaces(nsDir, hostname string) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if err := unix.Sethostname([]byte(hostname)); err != nil {
				return fmt.Errorf("sethostname %q: %w", hostname, err)
			}
			// netlink's package handle opens its socket in the calling
			// thread's network namespace: this one.
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return fmt.Errorf("find lo: %w", err)
			}
			if err := netlink.LinkSetUp(lo); err != nil {
				return fmt.Errorf("bring lo up: %w", err)
			}
			for _, ns := range sandboxNamespaces {
				target := filepath.Join(nsDir, ns)
				f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o400)
				if err != nil {
					return err
				}
				f.Close()
				if err := unix.Mount("/proc/thread-self/ns/"+ns, target, "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("pin %s namespace: %w", ns, err)
				}
			}
			return nil
		}()
	}()
	return <-errc
}

// RemoveSandbox unpins the namespaces and removes the pod cgroup.
func (r *Runtime) RemoveSandbox(_ context.Context, id string) error {
	if err := validID(id); err != nil {
		return fmt.Errorf("remove sandbox: %w", err)
	}
	dir := r.sandboxDir(id)
	var errs []error
	for _, ns := range sandboxNamespaces {
		p := filepath.Join(dir, "ns", ns)
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unpin %s namespace: %w", ns, err))
		}
	}
	if err := r.removeCgroup(r.podCgroup(id)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	return nil
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
