// Package internal_test holds the one test of the layering between
// peapod's packages: policy above mechanism, and the pure packages pure.
package internal_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// A rule forbids the packages under from (and their tests) to depend,
// directly or not, on any package under one of the forbidden prefixes.
type rule struct {
	name   string
	from   []string
	forbid []string
}

var rules = []rule{
	{"mechanism never imports policy or wiring",
		[]string{"runtime", "network", "volume", "image", "crilog", "store", "fieldpath"},
		[]string{"agent", "cli", "apiserver", "manifest"}},
	{"the API's per-kind rules do not know the HTTP side",
		[]string{"registry"}, []string{"apiserver", "cli", "agent"}},
	{"the plan is pure: no runtime, network, volume, image or client",
		[]string{"agent/plan"},
		[]string{"runtime/conmon", "network", "volume", "image", "store", "apiserver", "cli", "k8s.io/client-go"}},
	{"the bundle is pure: spec in, OCI spec out",
		[]string{"runtime/bundle"}, []string{"runtime/conmon", "agent", "cli", "image", "network"}},
	{"the agent does not serve the API",
		[]string{"agent"}, []string{"apiserver", "podconnect", "controlplane", "cli"}},
	{"the generic API server knows no kind's streams or controllers",
		[]string{"apiserver"}, []string{"podconnect", "controlplane", "agent", "cli"}},
	{"the control plane and the pod streams are clients or handlers, not the server",
		[]string{"controlplane", "podconnect"}, []string{"apiserver", "agent", "cli", "runtime/conmon", "network"}},
	{"the kubelet API is the node's handler of streams, not the API server or the agent",
		[]string{"kubeletapi"}, []string{"apiserver", "agent", "cli", "runtime/conmon"}},
	{"the binary links no generic API server: k8s.io/cloud-provider/options brought it for one constant (third_party/)",
		[]string{"cli"},
		[]string{"k8s.io/apiserver/pkg/server/options", "k8s.io/apiserver/pkg/admission/plugin", "k8s.io/cloud-provider/app", "github.com/google/cel-go", "k8s.io/client-go/kubernetes/fake"}},
	{"tests' helpers are for tests only",
		[]string{"agent", "apiserver", "cli", "controlplane", "crilog", "fieldpath", "image", "kubeletapi", "manifest", "network", "podconnect", "registry", "runtime", "store", "volume"},
		[]string{"testenv", "runtime/runtimetest"}},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

// internal is a peapod package's path below internal/, or the path itself
// for a module outside peapod.
func internal(path string) string {
	if p, ok := strings.CutPrefix(path, "peapod/internal/"); ok {
		return p
	}
	return path
}

func under(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// TestLayering checks every rule on `go list -deps` of the non-test code
// (the tests of runtime/conmon may well use runtimetest).
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", "peapod/internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		from := internal(p.ImportPath)
		for _, r := range rules {
			if !under(from, r.from) {
				continue
			}
			// A package's own subpackages are not a layer above it
			// (agent/plan under agent), unless the rule names them.
			for _, d := range p.Deps {
				dep := internal(d)
				if under(dep, r.forbid) && !strings.HasPrefix(dep, from+"/") {
					t.Errorf("%s: %s imports %s", r.name, from, dep)
				}
			}
		}
	}
	if seen < 20 {
		t.Fatalf("go list gave %d packages; the test reads nothing", seen)
	}
}

// The rule check itself can fail: a forbidden import is found.
func TestLayering_RuleMatches(t *testing.T) {
	for _, tc := range []struct {
		dep, from string
		forbid    []string
		want      bool
	}{
		{"agent", "runtime/conmon", []string{"agent"}, true},
		{"agent/plan", "network", []string{"agent"}, true},
		{"agentx", "network", []string{"agent"}, false},
		{"k8s.io/client-go/kubernetes", "agent/plan", []string{"k8s.io/client-go"}, true},
		{"k8s.io/api/core/v1", "agent/plan", []string{"k8s.io/client-go"}, false},
	} {
		if got := under(tc.dep, tc.forbid); got != tc.want {
			t.Errorf("%s importing %s against %v: %v, want %v", tc.from, tc.dep, tc.forbid, got, tc.want)
		}
	}
}
