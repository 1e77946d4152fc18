package bundle

import (
	"fmt"
	"os"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"peapod/internal/runtime"
)

// WithSeccomp sets the container's seccomp filter: the runtime's default
// (Docker's and containerd's default profile, which allows more syscalls
// to a process with more capabilities, so it goes after
// WithCapabilities), or a Localhost profile file. nil leaves the process
// unconfined.
func WithSeccomp(p *runtime.Seccomp) Opt {
	return func(s *specs.Spec) error {
		if p == nil {
			return nil
		}
		var (
			filter *specs.LinuxSeccomp
			err    error
		)
		switch {
		case p.RuntimeDefault:
			filter, err = seccomp.GetDefaultProfile(s)
		case p.LocalhostPath != "":
			var body []byte
			if body, err = os.ReadFile(p.LocalhostPath); err == nil {
				filter, err = seccomp.LoadProfile(string(body), s)
			}
			if err != nil {
				err = fmt.Errorf("cannot load seccomp profile %q: %w", p.LocalhostPath, err)
			}
		}
		if err != nil {
			return err
		}
		linux(s).Seccomp = filter
		return nil
	}
}
