package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

const emptyDirPlugin = "kubernetes.io~empty-dir"

// setUpEmptyDir makes the directory (mode 0777, as the kubelet does) and, for
// medium Memory, mounts a tmpfs on it sized by sizeLimit.
func setUpEmptyDir(podDir, name string, src *corev1.EmptyDirVolumeSource) (string, error) {
	path := filepath.Join(Dir(podDir), emptyDirPlugin, name)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return "", err
	}
	if err := os.Chmod(path, 0o777); err != nil { // MkdirAll honours the umask
		return "", err
	}
	switch src.Medium {
	case corev1.StorageMediumDefault:
		return path, nil
	case corev1.StorageMediumMemory:
	default:
		return "", fmt.Errorf("emptyDir medium %q not supported", src.Medium)
	}
	if mounted, err := mountinfo.Mounted(path); err != nil || mounted {
		return path, err
	}
	opts := "mode=0777"
	if src.SizeLimit != nil && !src.SizeLimit.IsZero() {
		opts += fmt.Sprintf(",size=%d", src.SizeLimit.Value())
	}
	if err := unix.Mount("tmpfs", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return "", fmt.Errorf("mount tmpfs on %s: %w", path, err)
	}
	return path, nil
}

// tearDownEmptyDirs unmounts the tmpfs of memory-backed emptyDirs under dir.
func tearDownEmptyDirs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if mounted, err := mountinfo.Mounted(path); err != nil || !mounted {
			errs = append(errs, err)
			continue
		}
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", path, err))
		}
	}
	return errors.Join(errs...)
}
