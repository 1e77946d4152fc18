package bundle

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"peapod/internal/runtime"
)

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

// WithMaskedPaths hides and write-protects the usual /proc and /sys paths.
func WithMaskedPaths() Opt {
	return func(s *specs.Spec) error {
		l := linux(s)
		l.MaskedPaths = append([]string(nil), DefaultMaskedPaths...)
		l.ReadonlyPaths = append([]string(nil), DefaultReadonlyPaths...)
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
