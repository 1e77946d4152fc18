package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"peapod/internal/runtime"
)

// allowed reports whether the filter allows name without conditions.
func allowed(f *specs.LinuxSeccomp, name string) bool {
	for _, sc := range f.Syscalls {
		if sc.Action == specs.ActAllow && len(sc.Args) == 0 && slices.Contains(sc.Names, name) {
			return true
		}
	}
	return false
}

func TestWithSeccomp(t *testing.T) {
	build := func(p *runtime.Seccomp, capAdd ...string) (*specs.Spec, error) {
		s := &specs.Spec{}
		for _, o := range []Opt{WithCapabilities(capAdd, nil, 0), WithSeccomp(p)} {
			if err := o(s); err != nil {
				return s, err
			}
		}
		return s, nil
	}
	s, err := build(nil)
	if err != nil || (s.Linux != nil && s.Linux.Seccomp != nil) {
		t.Fatalf("no profile: %v, %+v", err, s.Linux)
	}
	s, err = build(&runtime.Seccomp{RuntimeDefault: true})
	if err != nil {
		t.Fatal(err)
	}
	f := s.Linux.Seccomp
	if f == nil || f.DefaultAction != specs.ActErrno || !allowed(f, "read") || allowed(f, "mount") || allowed(f, "kexec_load") {
		t.Fatalf("RuntimeDefault: %+v", f)
	}
	// The default profile follows the capabilities, as Docker's does.
	if s, err = build(&runtime.Seccomp{RuntimeDefault: true}, "SYS_ADMIN"); err != nil || !allowed(s.Linux.Seccomp, "mount") {
		t.Fatalf("RuntimeDefault with SYS_ADMIN does not allow mount: %v", err)
	}

	dir := t.TempDir()
	local := filepath.Join(dir, "deny-mkdir.json")
	if err := os.WriteFile(local, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = build(&runtime.Seccomp{LocalhostPath: local})
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Linux.Seccomp; f.DefaultAction != specs.ActAllow || len(f.Syscalls) != 1 || f.Syscalls[0].Action != specs.ActErrno {
		t.Fatalf("Localhost: %+v", f)
	}
	missing := filepath.Join(dir, "missing.json")
	if _, err := build(&runtime.Seccomp{LocalhostPath: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing Localhost profile: %v", err)
	}
}
