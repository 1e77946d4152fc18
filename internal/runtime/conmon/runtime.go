// Package conmon is the real runtime.Runtime: pod sandboxes are namespaces
// pinned to files, containers are OCI bundles on an overlayfs rootfs, run by
// crun (or runc) under one conmon each, the way CRI-O does it.
//
// Everything a restarted peapod needs is on disk: sandbox and container
// metadata as JSON, conmon's exit and oom files, the OCI runtime's state.
package conmon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"peapod/internal/runtime"
	"peapod/internal/runtime/bundle"
)

// Config says where the runtime keeps its state and which programs it runs.
type Config struct {
	// Root holds persistent per-container state: bundles, rootfs
	// upper/work dirs, exit files. E.g. /var/lib/peapod/containers.
	Root string
	// RunRoot holds what dies with the machine: pinned namespaces, the OCI
	// runtime's --root state, attach sockets. E.g. /run/peapod.
	RunRoot string
	// Runtime is "crun" (default), "runc", or a path to either; a name is
	// resolved by LookRuntime.
	Runtime string
	// ConmonPath defaults to "conmon" looked up in PATH.
	ConmonPath string
	// CgroupRoot is the cgroup, relative to every hierarchy, under which
	// pods live. Default "peapod".
	CgroupRoot string
}

// Runtime runs sandboxes and containers with conmon and an OCI runtime.
type Runtime struct {
	cfg         Config
	runtimePath string
	// runtimeExe is what executes runtimePath: its sealed copy (sealed.go).
	runtimeExe string
	conmonPath string
	host       bundle.Host
	// hierarchies are the mount points of every cgroup hierarchy.
	hierarchies []string

	mu sync.Mutex
	// exits holds, per container whose conmon is our child, a channel
	// closed when that conmon has been reaped.
	exits map[string]chan struct{}
	// watch tells waiters of containers that are not our children when
	// their exit file appears.
	watch dirWatch

	// sandboxOf maps container IDs to their sandbox's, which never
	// changes: listing one sandbox's containers then reads only their
	// metadata, not every container's on the node.
	sandboxOf sync.Map
	// stopped holds the IDs of the sandboxes this process stopped, so
	// that their removal does not walk their cgroups for processes again.
	stopped sync.Map
	// metas and configs keep containers' meta.json and config.json
	// decoded (decoded.go).
	metas   decodedFiles[meta]
	configs decodedFiles[specs.Spec]
}

var _ runtime.Runtime = (*Runtime)(nil)

// New checks that the OCI runtime and conmon can work on this host and
// makes peapod the reaper of the conmons it starts.
func New(cfg Config) (*Runtime, error) {
	if cfg.Root == "" || cfg.RunRoot == "" {
		return nil, errors.New("conmon runtime: Root and RunRoot are required")
	}
	if cfg.Runtime == "" {
		cfg.Runtime = "crun"
	}
	if cfg.ConmonPath == "" {
		cfg.ConmonPath = "conmon"
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "peapod"
	}
	cfg.CgroupRoot = strings.Trim(cfg.CgroupRoot, "/")
	rtPath, err := LookRuntime(cfg.Runtime)
	if err != nil {
		return nil, fmt.Errorf("OCI runtime %q not found (install crun or runc, or pass --runtime): %w", cfg.Runtime, err)
	}
	conmonPath, err := exec.LookPath(cfg.ConmonPath)
	if err != nil {
		return nil, fmt.Errorf("conmon %q not found (apt-get install conmon): %w", cfg.ConmonPath, err)
	}
	host, err := readHost()
	if err != nil {
		return nil, err
	}
	if filepath.Base(rtPath) == "crun" && host.CgroupMode == bundle.CgroupHybrid {
		b, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
		if err != nil {
			return nil, fmt.Errorf("read cgroup2 controllers: %w", err)
		}
		if err := checkHybridCrun(string(b)); err != nil {
			return nil, err
		}
	}
	hier, err := cgroupHierarchies()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.Root, cfg.RunRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("conmon runtime: %w", err)
		}
	}
	if err := removeUnfinished(cfg.Root); err != nil {
		return nil, fmt.Errorf("conmon runtime: %w", err)
	}
	// conmon double-forks: its daemon half is orphaned and, without a
	// subreaper, lingers as a zombie until PID 1 gets to it. As subreaper
	// it becomes our child and we wait for it (see reap).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("conmon runtime: set child subreaper: %w", err)
	}
	startOrphanReaper()
	r := &Runtime{
		cfg:         cfg,
		runtimePath: rtPath,
		runtimeExe:  sealedRuntime(rtPath),
		conmonPath:  conmonPath,
		host:        host,
		hierarchies: hier,
		exits:       map[string]chan struct{}{},
	}
	if err := r.removeUnfinishedSandboxes(); err != nil {
		return nil, fmt.Errorf("conmon runtime: %w", err)
	}
	return r, nil
}

func (r *Runtime) stateRoot() string {
	return filepath.Join(r.cfg.RunRoot, filepath.Base(r.runtimePath))
}

// readHost reads the facts bundle.Spec needs.
func readHost() (bundle.Host, error) {
	var h bundle.Host
	var nofile, nproc unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		return h, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &nproc); err != nil {
		return h, fmt.Errorf("read RLIMIT_NPROC: %w", err)
	}
	h.NofileHard, h.NprocHard = nofile.Max, nproc.Max
	switch {
	case exists("/sys/fs/cgroup/cgroup.controllers"):
		h.CgroupMode = bundle.CgroupV2
	case exists("/sys/fs/cgroup/unified/cgroup.controllers"):
		h.CgroupMode = bundle.CgroupHybrid
	default:
		h.CgroupMode = bundle.CgroupV1
	}
	h.MemorySwap = exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return h, fmt.Errorf("read capability bounding set: %w", err)
	}
	h.CapBounding = capBounding(string(status))
	return h, nil
}

// capBounding parses CapBnd out of /proc/self/status; 0 if absent.
func capBounding(status string) uint64 {
	n, _ := strconv.ParseUint(string(bytes.TrimSpace(statusField([]byte(status), "CapBnd"))), 16, 64)
	return n
}

// checkHybridCrun refuses crun on a hybrid host whose cgroup2 hierarchy
// still holds controllers: crun 1.x would refuse every container.
func checkHybridCrun(unifiedControllers string) error {
	if c := strings.TrimSpace(unifiedControllers); c != "" {
		return fmt.Errorf("crun cannot run on this hybrid cgroup host: cgroup2 at /sys/fs/cgroup/unified holds controllers (%s), "+
			"which crun 1.x rejects; mount hugetlb on its own v1 hierarchy: see hack/prepare-host.sh, or use --runtime=runc", c)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
