package conmon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// cgroupHierarchies lists the mount points of every cgroup (v1) and cgroup2
// hierarchy: the OCI runtime creates a container's cgroup in each.
func cgroupHierarchies() ([]string, error) {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "cgroup" && m.FSType != "cgroup2", false
	})
	if err != nil {
		return nil, fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	var out []string
	for _, m := range mounts {
		if !slices.Contains(out, m.Mountpoint) {
			out = append(out, m.Mountpoint)
		}
	}
	return out, nil
}

// removeCgroup removes rel (relative to each hierarchy) and everything
// below it, children first. A cgroup whose last process just exited can
// stay busy for a moment, so EBUSY is retried until a deadline.
func (r *Runtime) removeCgroup(rel string) error {
	var errs []error
	for _, h := range r.hierarchies {
		top := filepath.Join(h, rel)
		var dirs []string
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Deepest first.
		slices.SortFunc(dirs, func(a, b string) int {
			return strings.Count(b, "/") - strings.Count(a, "/")
		})
		for _, d := range dirs {
			if err := rmdirRetry(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func rmdirRetry(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// joinCgroup moves pid into rel in every hierarchy, creating it. A new v1
// cpuset cgroup starts with no CPUs or memory nodes and refuses tasks, so
// each level created gets its parent's, as the OCI runtimes do.
func (r *Runtime) joinCgroup(rel string, pid int) error {
	for _, h := range r.hierarchies {
		dir := h
		for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create cgroup %s: %w", dir, err)
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if err := inheritCgroupFile(parent, dir, f); err != nil {
					return err
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("move %d to cgroup %s: %w", pid, dir, err)
		}
	}
	return nil
}

// inheritCgroupFile copies parent's value of file into dir when dir has the
// file and it is empty.
func inheritCgroupFile(parent, dir, file string) error {
	cur, err := os.ReadFile(filepath.Join(dir, file))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || len(bytes.TrimSpace(cur)) > 0 {
		return err
	}
	v, err := os.ReadFile(filepath.Join(parent, file))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, file), v, 0o644); err != nil {
		return fmt.Errorf("set %s of cgroup %s: %w", file, dir, err)
	}
	return nil
}

// killCgroup sends SIGKILL to every process in rel (in any hierarchy, and
// below it) until none is left, for a few seconds at most: for a container
// that neither the runtime nor a conmon can reach any more (its create was
// cut short, its conmon killed), so its processes do not outlive it. An
// exiting process leaves its cgroup before it is reaped.
func (r *Runtime) killCgroup(rel string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := 0
		for _, h := range r.hierarchies {
			_ = filepath.WalkDir(filepath.Join(h, rel), func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
						left++
						_ = unix.Kill(pid, unix.SIGKILL)
					}
				}
				return nil
			})
		}
		if left == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
