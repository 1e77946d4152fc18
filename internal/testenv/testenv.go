// Package testenv holds test-only helpers: skip conditions for tests that
// need root or host binaries, and a leak check for what the real runtime
// leaves behind (mounts, cgroup dirs, processes).
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// RequireBinaries skips the test unless every name is found in PATH.
func RequireBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("needs %s in PATH", n)
		}
	}
}

// Leaks names what a test's runtime owns. Empty fields are not checked.
type Leaks struct {
	Root       string // no mounts under it, no process mentioning it
	RunRoot    string // ditto
	CgroupRoot string // no cgroup dir below it, in any hierarchy
	// EmptyDirs must be empty or absent: per-container and per-pod state
	// that removal must not leave behind.
	EmptyDirs []string
}

// Find lists what is left: mounts under Root/RunRoot, cgroup dirs under
// CgroupRoot, processes whose argv names Root/RunRoot or whose cgroup is
// under CgroupRoot, and zombie children of this process.
func (l Leaks) Find() ([]string, error) {
	var out []string
	roots := slices.DeleteFunc([]string{l.Root, l.RunRoot}, func(s string) bool { return s == "" })
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		for _, r := range roots {
			if m.Mountpoint == r || strings.HasPrefix(m.Mountpoint, r+"/") {
				out = append(out, "mount "+m.Mountpoint+" ("+m.FSType+")")
			}
		}
		if l.CgroupRoot != "" && (m.FSType == "cgroup" || m.FSType == "cgroup2") {
			entries, _ := os.ReadDir(filepath.Join(m.Mountpoint, l.CgroupRoot))
			for _, e := range entries {
				if e.IsDir() {
					out = append(out, "cgroup "+filepath.Join(m.Mountpoint, l.CgroupRoot, e.Name()))
				}
			}
		}
	}
	for _, d := range l.EmptyDirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			out = append(out, "left in "+d+": "+e.Name())
		}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		if why := leakedProcess(pid, self, roots, l.CgroupRoot); why != "" {
			out = append(out, fmt.Sprintf("process %d: %s", pid, why))
		}
	}
	return out, nil
}

func leakedProcess(pid, self int, roots []string, cgroupRoot string) string {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return "" // gone
	}
	// After the ")" of the command name: state, ppid.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(self) {
			return "unreaped zombie child " + string(stat[:i+1])
		}
	}
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	cmd := strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")
	for _, r := range roots {
		if strings.Contains(cmd, r) {
			return cmd
		}
	}
	if cgroupRoot != "" {
		cg, _ := os.ReadFile(dir + "/cgroup")
		if bytes.Contains(cg, []byte(":/"+cgroupRoot+"/")) {
			return "in cgroup /" + cgroupRoot + ": " + cmd
		}
	}
	return ""
}

// CheckNoLeaks fails t if anything of l is left. Runtimes release some
// things asynchronously (a conmon exiting after its container), so it
// polls for a short while before reporting.
func CheckNoLeaks(t testing.TB, l Leaks) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		leaks, err := l.Find()
		if err != nil {
			t.Errorf("leak check: %v", err)
			return
		}
		if len(leaks) == 0 {
			if err := l.removeCgroupRoot(); err != nil {
				t.Errorf("leak check: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left behind:\n  %s", strings.Join(leaks, "\n  "))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroupRoot removes the test's own (now empty) cgroup root from every
// hierarchy: the runtime creates it on first use and, as the node's cgroup,
// never removes it.
func (l Leaks) removeCgroupRoot() error {
	if l.CgroupRoot == "" {
		return nil
	}
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "cgroup" && m.FSType != "cgroup2", false
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		dir := filepath.Join(m.Mountpoint, l.CgroupRoot)
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReapAdoptedZombies reaps the zombie children of this process named comm.
// A test binary that made itself a child subreaper (the conmon runtime
// does) inherits the monitors of a peapod subprocess it killed; nothing
// else would reap them once they exit.
func ReapAdoptedZombies(comm string) {
	self := strconv.Itoa(os.Getpid())
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(stat[end+1:]))
		if string(stat[open+1:end]) == comm && len(f) > 1 && f[0] == "Z" && f[1] == self {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}
