package bundle

import (
	"fmt"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"peapod/internal/runtime"
)

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
