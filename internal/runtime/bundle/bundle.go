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
	"maps"
	"path"

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
		WithSeccomp(c.Security.Seccomp),
		WithRlimits(in.Host.NofileHard, in.Host.NprocHard),
		WithHostname(hostname),
		WithDefaultMounts(in.Host.CgroupMode),
		WithMounts(c.Mounts),
		WithMaskedPaths(),
		WithNamespaces(pidSandbox(in.Sandbox, c.Security.PIDNamespaceOf), c.Security.SharePID || c.Security.PIDNamespaceOf != ""),
		WithCgroupsPath(in.CgroupsPath),
		WithDefaultDevices(),
		WithResources(c.Resources, in.Host.MemorySwap),
		WithSysctls(c.Security.Sysctls),
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

// WithHostname sets the hostname. The container joins the sandbox's UTS
// namespace, where the sandbox already set this name; crun and runc then
// write the same value again, which is harmless.
func WithHostname(name string) Opt {
	return func(s *specs.Spec) error {
		s.Hostname = name
		return nil
	}
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

// WithSysctls sets namespaced sysctls in the container's namespaces.
func WithSysctls(sysctls map[string]string) Opt {
	return func(s *specs.Spec) error {
		if len(sysctls) == 0 {
			return nil
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.Sysctl = maps.Clone(sysctls)
		return nil
	}
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
