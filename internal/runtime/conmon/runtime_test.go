package conmon

import (
	"strings"
	"testing"
)

func TestCheckHybridCrun(t *testing.T) {
	if err := checkHybridCrun("\n"); err != nil {
		t.Errorf("empty cgroup2: %v", err)
	}
	err := checkHybridCrun("hugetlb\n")
	if err == nil {
		t.Fatal("cgroup2 with hugetlb: no error")
	}
	for _, want := range []string{"hugetlb", "hack/prepare-host.sh", "--runtime=runc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestGlobalArgs(t *testing.T) {
	if got := strings.Join(globalArgs("/usr/sbin/runc", "/run/x"), " "); got != "--root=/run/x" {
		t.Errorf("runc: %q", got)
	}
	if got := strings.Join(globalArgs("/usr/bin/crun", "/run/x"), " "); got != "--root=/run/x --cgroup-manager=cgroupfs" {
		t.Errorf("crun: %q", got)
	}
}

func TestCapBounding(t *testing.T) {
	if got := capBounding("Name:\tx\nCapEff:\t0000000000000001\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n"); got != 0x1fffeffffff {
		t.Errorf("got %#x", got)
	}
	if got := capBounding("Name:\tx\n"); got != 0 {
		t.Errorf("no CapBnd: %#x", got)
	}
}
