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

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// Dir is where a pod's volumes live: <podDir>/volumes/<plugin>/<name>, the
// kubelet's layout.
func Dir(podDir string) string { return filepath.Join(podDir, "volumes") }

// Objects looks up the API objects volumes project. A missing object is an
// apierrors NotFound error. It matches agent.Objects, which volume must not
// import.
type Objects interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	Secret(namespace, name string) (*corev1.Secret, error)
}

// Source is what volumes are made from besides the pod itself.
type Source struct {
	// Objects serves ConfigMaps and Secrets; nil finds nothing.
	Objects Objects
	// Allocatable is the node's allocatable resources, which downwardAPI
	// resourceFieldRefs report for unset limits.
	Allocatable corev1.ResourceList
	// Tokens issues serviceAccountToken projections' tokens (the
	// kubelet's token manager, caching and renewing them); nil: none.
	Tokens Tokens
}

// Tokens gets a service account's token through the TokenRequest API.
type Tokens interface {
	GetServiceAccountToken(namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
	// DeleteServiceAccountToken forgets the pod's tokens, once its
	// projected volumes are torn down (the kubelet's projected plugin
	// does it there; they would be kept until they expire).
	DeleteServiceAccountToken(podUID types.UID)
}

// SetUp prepares every volume of pod under podDir and returns the host path
// of each, by volume name. It is idempotent: calling it again re-projects
// configMap, secret, downwardAPI and projected volumes, as Update does.
func SetUp(podDir string, pod *corev1.Pod, src Source) (map[string]string, error) {
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
		case v.HostPath != nil:
			path, err = setUpHostPath(v.HostPath)
		default:
			path, err = project(podDir, pod, v, &src)
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		paths[v.Name] = path
	}
	return paths, nil
}

// Update re-projects the pod's configMap, secret, downwardAPI and projected
// volumes from the current objects and pod metadata. A changed volume's
// ..data link is swapped atomically, so a container never sees a mix of old
// and new files; subPath mounts keep the data they resolved at start, as
// with the kubelet.
func Update(podDir string, pod *corev1.Pod, src Source) error {
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.EmptyDir != nil || v.HostPath != nil {
			continue
		}
		if _, err := project(podDir, pod, v, &src); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}

// project sets up or refreshes a volume made by the atomic writer.
func project(podDir string, pod *corev1.Pod, v *corev1.Volume, src *Source) (string, error) {
	switch {
	case v.ConfigMap != nil:
		return setUpConfigMap(podDir, pod, v.Name, v.ConfigMap, src)
	case v.Secret != nil:
		return setUpSecret(podDir, pod, v.Name, v.Secret, src)
	case v.DownwardAPI != nil:
		return setUpDownwardAPI(podDir, pod, v.Name, v.DownwardAPI, src)
	case v.Projected != nil:
		return setUpProjected(podDir, pod, v.Name, v.Projected, src)
	}
	return "", errors.New("volume type not supported yet")
}

// configMap looks a ConfigMap up; a nil Objects finds nothing. NotFound
// is reported as the kubelet's object managers do: `configmap "x" not found`.
func (s *Source) configMap(ns, name string) (*corev1.ConfigMap, error) {
	if s.Objects == nil {
		return nil, apierrors.NewNotFound(corev1.Resource("configmap"), name)
	}
	cm, err := s.Objects.ConfigMap(ns, name)
	if apierrors.IsNotFound(err) || (err == nil && cm == nil) {
		return nil, apierrors.NewNotFound(corev1.Resource("configmap"), name)
	}
	return cm, err
}

// secret is configMap for Secrets.
func (s *Source) secret(ns, name string) (*corev1.Secret, error) {
	if s.Objects == nil {
		return nil, apierrors.NewNotFound(corev1.Resource("secret"), name)
	}
	sec, err := s.Objects.Secret(ns, name)
	if apierrors.IsNotFound(err) || (err == nil && sec == nil) {
		return nil, apierrors.NewNotFound(corev1.Resource("secret"), name)
	}
	return sec, err
}

// mkdirMode makes dir with exactly mode, whatever the umask.
func mkdirMode(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// mountTmpfs mounts a tmpfs on dir unless one is there already.
func mountTmpfs(dir, opts string) error {
	if mounted, err := mountinfo.Mounted(dir); err != nil || mounted {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// ReadOnly reports whether a volume path returned by SetUp must be mounted
// read-only whatever the volumeMount says: the kubelet forces it for
// configMap, secret, downwardAPI and projected volumes, whose contents the
// atomic writer owns.
func ReadOnly(path string) bool {
	switch filepath.Base(filepath.Dir(path)) {
	case configMapPlugin, secretPlugin, downwardAPIPlugin, projectedPlugin:
		return true
	}
	return false
}

// TearDown unmounts and removes every volume under podDir. It is
// idempotent and safe after a crash. hostPath volumes are not under podDir
// and are left alone.
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
		switch p.Name() {
		case emptyDirPlugin, secretPlugin, projectedPlugin: // tmpfs-backed
			errs = append(errs, unmountEach(filepath.Join(dir, p.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // never RemoveAll through a mount still in place
	}
	return os.RemoveAll(dir)
}

// unmountEach unmounts whatever is mounted on the entries of dir.
func unmountEach(dir string) error {
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
