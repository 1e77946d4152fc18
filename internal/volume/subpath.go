package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// SubPath resolves sub inside the volume at volPath and returns the host
// path to bind-mount. A missing sub is created as a directory with the
// volume dir's mode, as the kubelet does. Symlinks are followed only while
// they stay inside the volume, so a container that planted one in a shared
// volume cannot make another container mount a host path.
func SubPath(volPath, sub string) (string, error) {
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPath %q must be a relative path", sub)
	}
	if slices.Contains(strings.Split(filepath.ToSlash(sub), "/"), "..") {
		return "", fmt.Errorf("subPath %q must not contain '..'", sub)
	}
	root, err := os.OpenRoot(volPath)
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", sub, err)
	}
	defer root.Close()
	info, err := root.Stat(".")
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", sub, err)
	}
	perm := info.Mode().Perm()
	if _, err := root.Stat(sub); errors.Is(err, fs.ErrNotExist) {
		if err := mkdirAllIn(root, sub, perm); err != nil {
			return "", fmt.Errorf("subPath %q: create: %w", sub, err)
		}
	}
	// Not O_PATH: os.Root would then open a final symlink itself instead of
	// following it. O_NONBLOCK keeps a fifo from blocking.
	f, err := root.OpenFile(sub, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", sub, err)
	}
	defer f.Close()
	// The kernel's name for what was opened inside the root: its real
	// path, with every symlink resolved.
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", sub, err)
	}
	return real, nil
}

// mkdirAllIn creates each missing component of sub in root with exactly
// perm.
func mkdirAllIn(root *os.Root, sub string, perm fs.FileMode) error {
	parts := strings.Split(filepath.Clean(sub), string(filepath.Separator))
	for i := range parts {
		p := filepath.Join(parts[:i+1]...)
		if p == "." {
			continue
		}
		err := root.Mkdir(p, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := root.Chmod(p, perm); err != nil { // the umask
			return err
		}
	}
	return nil
}
