package volume

import (
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

const emptyDirPlugin = "kubernetes.io~empty-dir"

// setUpEmptyDir makes the directory (mode 0777, as the kubelet does) and, for
// medium Memory, mounts a tmpfs on it sized by sizeLimit.
func setUpEmptyDir(podDir, name string, src *corev1.EmptyDirVolumeSource) (string, error) {
	path := filepath.Join(Dir(podDir), emptyDirPlugin, name)
	if err := mkdirMode(path, 0o777); err != nil {
		return "", err
	}
	switch src.Medium {
	case corev1.StorageMediumDefault:
		return path, nil
	case corev1.StorageMediumMemory:
	default:
		return "", fmt.Errorf("emptyDir medium %q not supported", src.Medium)
	}
	opts := "mode=0777"
	if src.SizeLimit != nil && !src.SizeLimit.IsZero() {
		opts += fmt.Sprintf(",size=%d", src.SizeLimit.Value())
	}
	return path, mountTmpfs(path, opts)
}
