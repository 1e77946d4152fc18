package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// setUpHostPath checks the host path against its type as the kubelet does
// (pkg/volume/hostpath checkType), creating it for the *OrCreate types, and
// returns it. Symlinks are followed, as the kubelet's os.Stat does.
func setUpHostPath(src *corev1.HostPathVolumeSource) (string, error) {
	p := src.Path
	typ := corev1.HostPathUnset
	if src.Type != nil {
		typ = *src.Type
	}
	fail := func(what string) error {
		return fmt.Errorf("hostPath type check failed: %s %s (type %q)", p, what, typ)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("hostPath %q must be an absolute path", p)
	}
	info, err := os.Stat(p)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("hostPath %s: %w", p, err)
	}
	mode := fs.FileMode(0)
	if exists {
		mode = info.Mode()
	}
	switch typ {
	case corev1.HostPathUnset:
		// No check. The CRI runtimes (containerd, CRI-O) create a missing
		// bind source as a directory; crun would refuse it.
		if !exists {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", fmt.Errorf("hostPath %s: %w", p, err)
			}
		}
	case corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory:
		if !exists && typ == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", fmt.Errorf("hostPath %s (type %q): %w", p, typ, err)
			}
			return p, nil
		}
		switch {
		case !exists:
			return "", fail("does not exist")
		case !mode.IsDir():
			return "", fail("is not a directory")
		}
	case corev1.HostPathFileOrCreate, corev1.HostPathFile:
		if !exists && typ == corev1.HostPathFileOrCreate {
			// Like the kubelet, the parent must exist.
			f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return "", fmt.Errorf("hostPath %s (type %q): %w", p, typ, err)
			}
			return p, f.Close()
		}
		switch {
		case !exists:
			return "", fail("does not exist")
		case !mode.IsRegular():
			return "", fail("is not a file")
		}
	case corev1.HostPathSocket:
		if mode&fs.ModeSocket == 0 {
			return "", fail("is not a socket file")
		}
	case corev1.HostPathCharDev:
		if mode&fs.ModeCharDevice == 0 || mode&fs.ModeDevice == 0 {
			return "", fail("is not a character device")
		}
	case corev1.HostPathBlockDev:
		if mode&fs.ModeDevice == 0 || mode&fs.ModeCharDevice != 0 {
			return "", fail("is not a block device")
		}
	default:
		return "", fmt.Errorf("hostPath %s: %q is an invalid volume type", p, typ)
	}
	return p, nil
}
