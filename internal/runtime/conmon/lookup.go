package conmon

import (
	"os/exec"
	"path/filepath"
	"strings"
)

// LibexecDir is where `make deps` installs the builds of helpers peapod
// prefers to the distribution's: a statically linked crun
// (hack/build-crun.sh), which starts in half the CPU time of Debian's.
const LibexecDir = "/usr/local/libexec/peapod"

// LookRuntime resolves an OCI runtime name as New does: a path is taken
// as it is, a bare name is looked up in LibexecDir, then in PATH.
func LookRuntime(name string) (string, error) {
	return lookIn(LibexecDir, name)
}

func lookIn(dir, name string) (string, error) {
	if !strings.Contains(name, "/") {
		// LookPath checks a path as it checks each PATH entry.
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return exec.LookPath(name)
}
