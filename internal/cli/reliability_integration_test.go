//go:build integration

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Short variants of make reliability's scenarios (hack/reliability); the
// node's leak check (newNode) runs after each. (Scenario 2's is
// TestServe_KillNineKeepsPods.)

// Create/delete cycles of 3-container pods leave no pod directory, no log
// directory and (the node's check) nothing on the host.
func TestServe_Churn(t *testing.T) {
	s := newServer(t)
	var manifest strings.Builder
	for i := range 3 {
		fmt.Fprintf(&manifest, "---\n%s", strings.Replace(podYAML(fmt.Sprintf("c%d", i), "", "Always", "echo a; sleep 3600"),
			"  containers:\n", "  containers:\n  - {name: b, image: busybox:1.36, command: [sleep, \"3600\"]}\n  - {name: c, image: busybox:1.36, command: [sleep, \"3600\"]}\n", 1))
	}
	for range 5 {
		s.apply(manifest.String())
		s.mustKubectl("wait", "--for=condition=Ready", "pods", "--all", "--timeout=60s")
		s.mustKubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s")
	}
	for _, d := range []string{"pods", "logs"} {
		eventually(t, 30*time.Second, d+" emptied", func() (bool, string) {
			ents, _ := os.ReadDir(filepath.Join(s.n.root, d))
			return len(ents) == 0, fmt.Sprint(ents)
		})
	}
}
