package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoGenericAPIServer keeps what every peapod process initializes
// small: these packages come only through k8s.io/cloud-provider/options
// (one constant, see hack/third-party.sh) and, linked, cost ~10 ms of
// start-up and 5 MiB of every process's memory; serve runs its own API
// server.
func TestLinksNoGenericAPIServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	if !deps["k8s.io/kubernetes/pkg/apis/core/validation"] {
		t.Fatal("go list -deps does not list k8s.io/kubernetes/pkg/apis/core/validation: the list is not this binary's")
	}
	for _, p := range []string{
		"k8s.io/apiserver/pkg/server",
		"k8s.io/apiserver/pkg/server/options",
		"k8s.io/cloud-provider/app/config",
		"github.com/google/cel-go/cel",
		"k8s.io/client-go/kubernetes/fake",
	} {
		if deps[p] {
			t.Errorf("peapod links %s", p)
		}
	}
}
