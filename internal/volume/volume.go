// Package volume sets up a pod's volumes on the host, each type in its own
// file, and tears them down. The agent passes the resulting host paths to
// the runtime as bind mounts; a volume is shared by every container of the
// pod that mounts it and lives as long as the pod.
package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// Dir is where a pod's volumes live: <podDir>/volumes/<plugin>/<name>, the
// kubelet's layout.
func Dir(podDir string) string { return filepath.Join(podDir, "volumes") }

// SetUp prepares every volume of pod under podDir and returns the host path
// of each, by volume name. It is idempotent.
func SetUp(podDir string, pod *corev1.Pod) (map[string]string, error) {
	paths := make(map[string]string, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		var (
			path string
			err  error
		)
		switch {
		case v.EmptyDir != nil:
			path, err = setUpEmptyDir(podDir, v.Name, v.EmptyDir)
		default:
			err = errors.New("volume type not supported yet")
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		paths[v.Name] = path
	}
	return paths, nil
}

// TearDown unmounts and removes every volume under podDir. It is
// idempotent and safe after a crash.
func TearDown(podDir string) error {
	dir := Dir(podDir)
	plugins, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range plugins {
		if p.Name() == emptyDirPlugin {
			errs = append(errs, tearDownEmptyDirs(filepath.Join(dir, p.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
