//go:build integration

package conmon_test

import (
	"debug/elf"
	"path/filepath"
	"testing"

	"peapod/internal/runtime/conmon"
)

// `make deps` builds crun statically (hack/build-crun.sh) and peapod runs
// that build: Debian's dynamically linked crun spends most of each start,
// three per container and one per exec probe, in the dynamic loader.
func TestIntegration_CrunIsTheStaticBuild(t *testing.T) {
	if ociRuntime() != "crun" {
		t.Skipf("PEAPOD_TEST_RUNTIME=%s", ociRuntime())
	}
	p, err := conmon.LookRuntime("crun")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(conmon.LibexecDir, "crun"); p != want {
		t.Fatalf("crun resolves to %s, want %s (hack/build-crun.sh)", p, want)
	}
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader", p)
		}
	}
	if f.Type != elf.ET_DYN {
		t.Errorf("%s is %v, want a position-independent executable (static-pie)", p, f.Type)
	}
}
