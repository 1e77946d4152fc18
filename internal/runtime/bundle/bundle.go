// Package bundle turns a resolved container spec into an OCI runtime spec.
//
// It is pure: everything it needs about the host (rlimit ceilings, cgroup
// mode) arrives in Input, so the same input always yields the same spec and
// the output can be golden-tested. The spec is built the containerd way, by
// applying small With... options to an empty spec in the order written in
// Spec.
package bundle

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"peapod/internal/runtime"
)

// CgroupMode is how the host mounts cgroups.
type CgroupMode string

const (
	CgroupV1     CgroupMode = "v1"
	CgroupHybrid CgroupMode = "hybrid" // v1 controllers plus an empty cgroup2 at unified/
	CgroupV2     CgroupMode = "v2"
)

// Host carries the facts about the machine the caller read for us.
type Host struct {
	// NofileHard and NprocHard are the hard RLIMIT_NOFILE/RLIMIT_NPROC of
	// the runtime's process: without CAP_SYS_RESOURCE the OCI runtime
	// cannot raise a limit past them. Zero means "do not set".
	NofileHard uint64
	NprocHard  uint64
	CgroupMode CgroupMode
	// MemorySwap is true when the host accounts swap (memory.memsw on v1,
	// memory.swap.max on v2), so a swap limit can be written.
	MemorySwap bool
	// CapBounding is the runtime's capability bounding set (bit n is
	// capability n, as CapBnd in /proc/self/status): the OCI runtime's
	// capset fails for any capability outside it. Zero means unknown: all.
	CapBounding uint64
}

// Input is everything a container's spec is built from.
type Input struct {
	Container   runtime.ContainerSpec
	Sandbox     runtime.Sandbox
	RootfsPath  string // the mounted rootfs, absolute
	CgroupsPath string // e.g. /peapod/pod-<sandbox>/<container>
	Host        Host
}

// Opt changes a spec. Each one takes only the values it needs.
type Opt func(*specs.Spec) error

// wantRlimit is what a container gets when the host allows it; the usual
// container default.
const wantRlimit = 1048576

// OCIVersion is the runtime-spec version written into config.json. crun 1.8
// and runc 1.1 (Debian bookworm) refuse anything newer than 1.1.
const OCIVersion = "1.1.0"

// Spec builds the OCI spec for in. The order of the options is the order
// the spec is assembled in; later options may rely on earlier ones (mounts
// before the user mounts that replace them, capabilities before privileged
// overrides).
func Spec(in Input) (*specs.Spec, error) {
	c := in.Container
	if len(c.Args) == 0 {
		return nil, errors.New("container has no args")
	}
	// Without a UTS namespace of its own the runtime may not set a
	// hostname; the node's applies.
	hostname := in.Sandbox.Hostname
	if in.Sandbox.HostNetwork {
		hostname = ""
	}
	priv := c.Security.Privileged
	opts := []Opt{
		WithRoot(in.RootfsPath, c.Security.ReadOnlyRootfs),
		WithProcessArgs(c.Args, c.Env, c.WorkingDir),
		WithTerminal(c.Tty),
		WithUser(c.User),
		WithCapabilities(c.Security.CapAdd, c.Security.CapDrop, in.Host.CapBounding),
		WithNoNewPrivileges(c.Security.NoNewPrivileges),
		WithRlimits(in.Host.NofileHard, in.Host.NprocHard),
		WithHostname(hostname),
		WithDefaultMounts(in.Host.CgroupMode),
		WithMounts(c.Mounts),
		WithMaskedPaths(),
		WithNamespaces(pidSandbox(in.Sandbox, c.Security.PIDNamespaceOf), c.Security.SharePID || c.Security.PIDNamespaceOf != ""),
		WithCgroupsPath(in.CgroupsPath),
		WithDefaultDevices(),
		WithResources(c.Resources, in.Host.MemorySwap),
	}
	if priv {
		opts = append(opts, WithPrivileged(in.Host.CapBounding))
	}
	s := &specs.Spec{Version: OCIVersion}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// WithRoot sets the rootfs path.
func WithRoot(rootfs string, readonly bool) Opt {
	return func(s *specs.Spec) error {
		if !path.IsAbs(rootfs) {
			return fmt.Errorf("rootfs %q is not absolute", rootfs)
		}
		s.Root = &specs.Root{Path: rootfs, Readonly: readonly}
		return nil
	}
}

// WithProcessArgs sets argv, the environment and the working directory.
func WithProcessArgs(args, env []string, cwd string) Opt {
	return func(s *specs.Spec) error {
		if cwd == "" {
			cwd = "/"
		}
		if !path.IsAbs(cwd) {
			return fmt.Errorf("working directory %q is not absolute", cwd)
		}
		p := process(s)
		p.Args = append([]string(nil), args...)
		p.Env = append([]string(nil), env...)
		p.Cwd = cwd
		return nil
	}
}

// WithTerminal allocates a terminal for the process.
func WithTerminal(tty bool) Opt {
	return func(s *specs.Spec) error {
		process(s).Terminal = tty
		return nil
	}
}

// WithUser sets the numeric identity of the process.
func WithUser(u runtime.User) Opt {
	return func(s *specs.Spec) error {
		process(s).User = specs.User{
			UID:            u.UID,
			GID:            u.GID,
			AdditionalGids: append([]uint32(nil), u.AdditionalGids...),
		}
		return nil
	}
}

// DefaultCapabilities is the containerd/Docker default set.
var DefaultCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
}

// AllCapabilities is every capability Linux 5.9+ defines, in number order.
var AllCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// WithCapabilities starts from DefaultCapabilities, removes drop ("ALL"
// removes every default) and then adds add ("ALL" adds every capability
// the bounding set holds). Names may be written with or without the CAP_
// prefix, in any case. Adding one outside the bounding set is an error
// naming it, rather than the OCI runtime's bare EPERM.
func WithCapabilities(add, drop []string, bounding uint64) Opt {
	return func(s *specs.Spec) error {
		known := map[string]bool{}
		for _, c := range AllCapabilities {
			known[c] = true
		}
		norm := func(names []string) ([]string, error) {
			var out []string
			for _, n := range names {
				c := strings.ToUpper(strings.TrimSpace(n))
				if c == "ALL" {
					out = append(out, c)
					continue
				}
				if !strings.HasPrefix(c, "CAP_") {
					c = "CAP_" + c
				}
				if !known[c] {
					return nil, fmt.Errorf("unknown capability %q", n)
				}
				out = append(out, c)
			}
			return out, nil
		}
		adds, err := norm(add)
		if err != nil {
			return err
		}
		drops, err := norm(drop)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, c := range DefaultCapabilities {
			have[c] = true
		}
		for _, c := range drops {
			if c == "ALL" {
				have = map[string]bool{}
				break
			}
			delete(have, c)
		}
		for _, c := range adds {
			if c == "ALL" {
				for _, a := range boundedCapabilities(bounding) {
					have[a] = true
				}
				break
			}
			if !slices.Contains(boundedCapabilities(bounding), c) {
				return fmt.Errorf("capability %s is not in the node's bounding set", c)
			}
			have[c] = true
		}
		// Emit in the kernel's order so the spec is deterministic.
		var caps []string
		for _, c := range AllCapabilities {
			if have[c] {
				caps = append(caps, c)
			}
		}
		process(s).Capabilities = capSet(caps)
		return nil
	}
}

// boundedCapabilities is AllCapabilities within bounding (0: all).
func boundedCapabilities(bounding uint64) []string {
	if bounding == 0 {
		return AllCapabilities
	}
	var out []string
	for i, c := range AllCapabilities {
		if bounding&(1<<i) != 0 {
			out = append(out, c)
		}
	}
	return out
}

func capSet(caps []string) *specs.LinuxCapabilities {
	cp := func() []string { return append([]string(nil), caps...) }
	// Inheritable stays empty (containerd since 1.6.18): a non-root
	// process must not inherit capabilities across execve of a file
	// with inheritable file caps.
	return &specs.LinuxCapabilities{Bounding: cp(), Effective: cp(), Permitted: cp()}
}

// WithNoNewPrivileges sets no_new_privs.
func WithNoNewPrivileges(on bool) Opt {
	return func(s *specs.Spec) error {
		process(s).NoNewPrivileges = on
		return nil
	}
}

// WithRlimits sets RLIMIT_NOFILE and RLIMIT_NPROC to the usual container
// value, lowered to what the host's hard limits allow: an OCI runtime
// without CAP_SYS_RESOURCE fails with EPERM past them.
func WithRlimits(nofileHard, nprocHard uint64) Opt {
	return func(s *specs.Spec) error {
		p := process(s)
		for _, l := range []struct {
			typ  string
			hard uint64
		}{{"RLIMIT_NOFILE", nofileHard}, {"RLIMIT_NPROC", nprocHard}} {
			if l.hard == 0 {
				continue
			}
			v := min(uint64(wantRlimit), l.hard)
			p.Rlimits = append(p.Rlimits, specs.POSIXRlimit{Type: l.typ, Hard: v, Soft: v})
		}
		return nil
	}
}

// WithHostname sets the hostname. The container joins the sandbox's UTS
// namespace, where the sandbox already set this name; crun and runc then
// write the same value again, which is harmless.
func WithHostname(name string) Opt {
	return func(s *specs.Spec) error {
		s.Hostname = name
		return nil
	}
}

// WithDefaultMounts adds the mounts every container gets, as containerd.
// /dev/shm is a per-container tmpfs for now (the pod's IPC namespace is
// shared, its shm mount is not).
func WithDefaultMounts(mode CgroupMode) Opt {
	return func(s *specs.Spec) error {
		cgroupType := "cgroup"
		if mode == CgroupV2 {
			cgroupType = "cgroup2"
		}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			specs.Mount{Destination: "/sys/fs/cgroup", Type: cgroupType, Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		)
		return nil
	}
}

// WithMounts adds the user's bind and tmpfs mounts. A user mount replaces
// a default mount at the same destination (e.g. a pod-wide /dev/shm).
func WithMounts(mounts []runtime.Mount) Opt {
	return func(s *specs.Spec) error {
		dest := map[string]bool{}
		var add []specs.Mount
		for _, m := range mounts {
			if !path.IsAbs(m.Destination) {
				return fmt.Errorf("mount destination %q is not absolute", m.Destination)
			}
			d := path.Clean(m.Destination)
			dest[d] = true
			var opts []string
			switch m.Type {
			case "", "bind":
				if !path.IsAbs(m.Source) {
					return fmt.Errorf("bind mount %s: source %q is not absolute", d, m.Source)
				}
				prop, err := propagation(m.Propagation)
				if err != nil {
					return fmt.Errorf("bind mount %s: %w", d, err)
				}
				opts = append(opts, "rbind", prop)
				if m.ReadOnly {
					opts = append(opts, "ro")
				} else {
					opts = append(opts, "rw")
				}
				opts = append(opts, m.Options...)
				add = append(add, specs.Mount{Destination: d, Type: "bind", Source: m.Source, Options: opts})
			case "tmpfs":
				opts = append(opts, "nosuid", "nodev")
				if m.ReadOnly {
					opts = append(opts, "ro")
				}
				opts = append(opts, m.Options...)
				add = append(add, specs.Mount{Destination: d, Type: "tmpfs", Source: "tmpfs", Options: opts})
			default:
				return fmt.Errorf("mount %s: unsupported type %q", d, m.Type)
			}
		}
		kept := s.Mounts[:0]
		for _, m := range s.Mounts {
			if !dest[m.Destination] {
				kept = append(kept, m)
			}
		}
		s.Mounts = append(kept, add...)
		return nil
	}
}

func propagation(p string) (string, error) {
	switch p {
	case "", "private", "rprivate":
		return "rprivate", nil
	case "rslave", "slave":
		return "rslave", nil
	case "rshared", "shared":
		return "rshared", nil
	}
	return "", fmt.Errorf("unknown propagation %q", p)
}

// DefaultMaskedPaths and DefaultReadonlyPaths are containerd's.
var (
	DefaultMaskedPaths = []string{
		"/proc/acpi",
		"/proc/asound",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	DefaultReadonlyPaths = []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
)

// WithMaskedPaths hides and write-protects the usual /proc and /sys paths.
func WithMaskedPaths() Opt {
	return func(s *specs.Spec) error {
		l := linux(s)
		l.MaskedPaths = append([]string(nil), DefaultMaskedPaths...)
		l.ReadonlyPaths = append([]string(nil), DefaultReadonlyPaths...)
		return nil
	}
}

// WithNamespaces joins the sandbox's network, IPC and UTS namespaces, or
// stays in the host's where the sandbox uses the host's (no entry), and
// creates the container's own mount and cgroup namespaces. The PID namespace
// is the host's with HostPID, the sandbox's with sharePID, else a new one.
func WithNamespaces(sb runtime.Sandbox, sharePID bool) Opt {
	return func(s *specs.Spec) error {
		var ns []specs.LinuxNamespace
		join := func(typ specs.LinuxNamespaceType, p string, host bool) error {
			if host {
				return nil
			}
			if !path.IsAbs(p) {
				return fmt.Errorf("sandbox %s namespace path %q is not absolute", typ, p)
			}
			ns = append(ns, specs.LinuxNamespace{Type: typ, Path: p})
			return nil
		}
		if err := join(specs.NetworkNamespace, sb.NetNS, sb.HostNetwork); err != nil {
			return err
		}
		if err := join(specs.IPCNamespace, sb.IPCNS, sb.HostIPC); err != nil {
			return err
		}
		// hostNetwork implies the node's UTS namespace, as in CRI.
		if err := join(specs.UTSNamespace, sb.UTSNS, sb.HostNetwork); err != nil {
			return err
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.MountNamespace})
		switch {
		case sb.HostPID:
		case sharePID:
			if sb.PIDNS == "" {
				return errors.New("shareProcessNamespace: the sandbox has no shared PID namespace")
			}
			if err := join(specs.PIDNamespace, sb.PIDNS, false); err != nil {
				return err
			}
		default:
			ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}
		linux(s).Namespaces = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
		return nil
	}
}

// pidSandbox is sb with the PID namespace at ns, if set, as shared: a
// container joining another's PID namespace (kubectl debug --target)
// joins it as it would the sandbox's.
func pidSandbox(sb runtime.Sandbox, ns string) runtime.Sandbox {
	if ns != "" {
		sb.PIDNS, sb.HostPID = ns, false
	}
	return sb
}

// WithCgroupsPath places the container's cgroup explicitly: without one,
// crun puts it at the root of every hierarchy.
func WithCgroupsPath(p string) Opt {
	return func(s *specs.Spec) error {
		if !path.IsAbs(p) {
			return fmt.Errorf("cgroups path %q is not absolute", p)
		}
		linux(s).CgroupsPath = p
		return nil
	}
}

func ptr[T any](v T) *T { return &v }

// defaultDevices is the cgroup allowlist containerd gives every container.
func defaultDevices() []specs.LinuxDeviceCgroup {
	dev := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		d := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			d.Major = ptr(major)
		}
		if minor >= 0 {
			d.Minor = ptr(minor)
		}
		return d
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev("c", -1, -1, "m"), // mknod any char device
		dev("b", -1, -1, "m"), // mknod any block device
		dev("c", 1, 3, "rwm"), // /dev/null
		dev("c", 1, 8, "rwm"), // /dev/random
		dev("c", 1, 7, "rwm"), // /dev/full
		dev("c", 5, 0, "rwm"), // /dev/tty
		dev("c", 1, 5, "rwm"), // /dev/zero
		dev("c", 1, 9, "rwm"), // /dev/urandom
		dev("c", 5, 1, "rwm"), // /dev/console
		dev("c", 136, -1, "rwm"),
		dev("c", 5, 2, "rwm"),    // /dev/ptmx
		dev("c", 10, 200, "rwm"), // /dev/net/tun
	}
}

// WithDefaultDevices sets the device cgroup allowlist.
func WithDefaultDevices() Opt {
	return func(s *specs.Spec) error {
		resources(s).Devices = defaultDevices()
		return nil
	}
}

// WithResources sets memory, CPU and pids limits; zero values stay unset.
// With swap accounting, swap is limited to the memory limit (no swap), as
// the kubelet does.
func WithResources(r runtime.Resources, swap bool) Opt {
	return func(s *specs.Spec) error {
		if r.MemoryLimitBytes < 0 || r.CPUQuota < 0 || r.PidsLimit < 0 {
			return fmt.Errorf("negative resource limit in %+v", r)
		}
		res := resources(s)
		if r.MemoryLimitBytes > 0 {
			res.Memory = &specs.LinuxMemory{Limit: ptr(r.MemoryLimitBytes)}
			if swap {
				res.Memory.Swap = ptr(r.MemoryLimitBytes)
			}
		}
		if r.CPUShares > 0 || r.CPUQuota > 0 || r.CPUPeriod > 0 {
			res.CPU = &specs.LinuxCPU{}
			if r.CPUShares > 0 {
				res.CPU.Shares = ptr(r.CPUShares)
			}
			if r.CPUQuota > 0 {
				res.CPU.Quota = ptr(r.CPUQuota)
			}
			if r.CPUPeriod > 0 {
				res.CPU.Period = ptr(r.CPUPeriod)
			}
		}
		if r.PidsLimit > 0 {
			res.Pids = &specs.LinuxPids{Limit: ptr(r.PidsLimit)}
		}
		return nil
	}
}

// WithPrivileged gives every capability the bounding set holds (as
// containerd does), every device (the cgroup allows all and the host's /dev
// is bound in) and unmasks /proc and /sys; /sys and /sys/fs/cgroup become
// writable.
func WithPrivileged(bounding uint64) Opt {
	return func(s *specs.Spec) error {
		process(s).Capabilities = capSet(boundedCapabilities(bounding))
		l := linux(s)
		l.MaskedPaths = nil
		l.ReadonlyPaths = nil
		resources(s).Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i, m := range s.Mounts {
			switch m.Destination {
			case "/dev":
				s.Mounts[i] = specs.Mount{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind", "rprivate", "rw"}}
			case "/sys", "/sys/fs/cgroup":
				var opts []string
				for _, o := range m.Options {
					if o != "ro" {
						opts = append(opts, o)
					}
				}
				s.Mounts[i].Options = append(opts, "rw")
			}
		}
		return nil
	}
}

func process(s *specs.Spec) *specs.Process {
	if s.Process == nil {
		s.Process = &specs.Process{}
	}
	return s.Process
}

func linux(s *specs.Spec) *specs.Linux {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	return s.Linux
}

func resources(s *specs.Spec) *specs.LinuxResources {
	l := linux(s)
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{}
	}
	return l.Resources
}
