package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// objects is an Objects over fixed lists.
type objects struct {
	cms  []*corev1.ConfigMap
	secs []*corev1.Secret
}

func (o *objects) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	for _, cm := range o.cms {
		if cm.Namespace == ns && cm.Name == name {
			return cm, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (o *objects) Secret(ns, name string) (*corev1.Secret, error) {
	for _, s := range o.secs {
		if s.Namespace == ns && s.Name == name {
			return s, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func ptr[T any](v T) *T { return &v }

var testObjects = &objects{
	cms: []*corev1.ConfigMap{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"},
		Data:       map[string]string{"nginx.conf": "events {}", "a": "A"},
		BinaryData: map[string][]byte{"bin": {0, 1, 2}},
	}},
	secs: []*corev1.Secret{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sec"},
		Data:       map[string][]byte{"user": []byte("admin"), "pass": []byte("old")},
		StringData: map[string]string{"pass": "hunter2"},
	}},
}

func testPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "web", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front\"end"},
			Annotations: map[string]string{"note": "line1\nline2"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
				},
			}},
			InitContainers: []corev1.Container{{Name: "init"}},
			Volumes:        vols,
		},
	}
}

var testAllocatable = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("4"),
	corev1.ResourceMemory: resource.MustParse("8Gi"),
}

func TestSetUp_Projections(t *testing.T) {
	cases := []struct {
		name    string
		src     corev1.VolumeSource
		objects Objects
		files   map[string]string
		modes   map[string]os.FileMode
		plugin  string
		wantErr string
	}{
		{
			name:   "configMap, all keys with binaryData",
			src:    corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			files:  map[string]string{"nginx.conf": "events {}", "a": "A", "bin": "\x00\x01\x02"},
			plugin: configMapPlugin,
		},
		{
			name: "configMap items, modes, defaultMode",
			src: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o440)),
				Items: []corev1.KeyToPath{{Key: "nginx.conf", Path: "conf/nginx.conf"}, {Key: "a", Path: "a.txt", Mode: ptr(int32(0o600))}},
			}},
			files:  map[string]string{"conf/nginx.conf": "events {}", "a.txt": "A"},
			modes:  map[string]os.FileMode{"conf/nginx.conf": 0o440, "a.txt": 0o600},
			plugin: configMapPlugin,
		},
		{
			name:    "configMap missing key",
			src:     corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}}},
			wantErr: `volume "v": configmap "cfg" references non-existent config key: nope`,
		},
		{
			name: "configMap optional missing key skipped",
			src: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Optional: ptr(true),
				Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}, {Key: "a", Path: "a"}},
			}},
			files:  map[string]string{"a": "A"},
			plugin: configMapPlugin,
		},
		{
			name:    "configMap missing object",
			src:     corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
			wantErr: `volume "v": configmap "gone" not found`,
		},
		{
			name:    "configMap with no Objects at all",
			src:     corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			objects: Objects(nil),
			wantErr: `configmap "cfg" not found`,
		},
		{
			name:   "configMap optional missing object: empty",
			src:    corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
			files:  map[string]string{},
			plugin: configMapPlugin,
		},
		{
			name:    "configMap key escaping the volume",
			src:     corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a", Path: "../../a"}}}},
			wantErr: "must not contain '..'",
		},
		{
			name:    "secret missing object",
			src:     corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gone"}},
			wantErr: `volume "v": secret "gone" not found`,
		},
		{
			name:    "secret missing key",
			src:     corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}}},
			wantErr: `secret "sec" references non-existent secret key: nope`,
		},
		{
			name: "downwardAPI",
			src: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
				{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}, Mode: ptr(int32(0o400))},
				{Path: "app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
				{Path: "none", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['none']"}},
				{Path: "res/mem-limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
				{Path: "res/cpu-limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu"}},
				{Path: "res/cpu-request", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}},
				{Path: "res/cpu-request-cores", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "requests.cpu"}},
				{Path: "res/init-mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "init", Resource: "limits.memory", Divisor: resource.MustParse("1Gi")}},
				{Path: "res/mem-request", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "requests.memory"}},
			}}},
			files: map[string]string{
				"name": "web", "ns": "ns", "uid": "uid-1",
				"labels":      "app=\"web\"\ntier=\"front\\\"end\"",
				"annotations": `note="line1\nline2"`,
				"app":         "web", "none": "",
				"res/mem-limit": "64", "res/cpu-limit": "4", "res/cpu-request": "250", "res/cpu-request-cores": "1",
				"res/init-mem": "8", "res/mem-request": "0",
			},
			modes:  map[string]os.FileMode{"annotations": 0o400},
			plugin: downwardAPIPlugin,
		},
		{
			name: "downwardAPI bad fields, all reported",
			src: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "node", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
				{Path: "x", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu"}},
				{Path: "y", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.gpu"}},
				{Path: "z"},
			}}},
			wantErr: `downwardAPI item "node": unsupported fieldPath: spec.nodeName
downwardAPI item "x": container "nope" not found
downwardAPI item "y": unsupported container resource : limits.gpu
downwardAPI item "z": neither fieldRef nor resourceFieldRef set`,
		},
		{
			name:    "hostPath relative",
			src:     corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "rel"}},
			wantErr: `hostPath "rel" must be an absolute path`,
		},
		{
			name:    "unsupported type",
			src:     corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{}},
			wantErr: `volume "v": volume type not supported yet`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			podDir := t.TempDir()
			objs := tc.objects
			if objs == nil && !strings.Contains(tc.name, "no Objects") {
				objs = testObjects
			}
			pod := testPod(corev1.Volume{Name: "v", VolumeSource: tc.src})
			paths, err := SetUp(podDir, pod, Source{Objects: objs, Allocatable: testAllocatable})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("SetUp error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(podDir, "volumes", tc.plugin, "v")
			if paths["v"] != dir {
				t.Errorf("path = %s, want %s", paths["v"], dir)
			}
			if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o777 {
				t.Errorf("volume dir: %v, %v; want mode 0777", info, err)
			}
			checkLayout(t, dir, tc.files, tc.modes)
			if err := TearDown(podDir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(podDir, "volumes")); !os.IsNotExist(err) {
				t.Errorf("volumes left after TearDown: %v", err)
			}
		})
	}
}

// requireRoot skips tests that mount tmpfs.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root")
	}
}

func TestSetUp_SecretOnTmpfs(t *testing.T) {
	requireRoot(t)
	podDir := t.TempDir()
	pod := testPod(corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "sec", DefaultMode: ptr(int32(0o400)),
	}}})
	t.Cleanup(func() { _ = TearDown(podDir) })
	paths, err := SetUp(podDir, pod, Source{Objects: testObjects})
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["s"]
	if dir != filepath.Join(podDir, "volumes", secretPlugin, "s") {
		t.Errorf("path = %s", dir)
	}
	if mounted, err := mountinfo.Mounted(dir); err != nil || !mounted {
		t.Fatalf("secret dir not a mount: %v, %v", mounted, err)
	}
	// stringData wins over data, as the API server would merge it.
	checkLayout(t, dir, map[string]string{"user": "admin", "pass": "hunter2"}, map[string]os.FileMode{"user": 0o400, "pass": 0o400})
	// SetUp again (the agent restarting the pod's worker) does not stack mounts.
	if _, err := SetUp(podDir, pod, Source{Objects: testObjects}); err != nil {
		t.Fatal(err)
	}
	if err := TearDown(podDir); err != nil {
		t.Fatal(err)
	}
	if err := TearDown(podDir); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(podDir, "volumes")); !os.IsNotExist(err) {
		t.Errorf("volumes left after TearDown: %v", err)
	}
}

func TestSetUp_Projected(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		name    string
		sources []corev1.VolumeProjection
		files   map[string]string
		modes   map[string]os.FileMode
		wantErr string
	}{
		{
			name: "configMap, secret and downwardAPI",
			sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a", Path: "cfg/a"}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Items: []corev1.KeyToPath{{Key: "user", Path: "sec/user", Mode: ptr(int32(0o400))}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
			},
			files: map[string]string{"cfg/a": "A", "sec/user": "admin", "name": "web"},
			modes: map[string]os.FileMode{"cfg/a": 0o640, "sec/user": 0o400, "name": 0o640},
		},
		{
			name: "missing objects and a token, all reported",
			sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			},
			wantErr: "sources[0]: configmap \"gone\" not found\nsources[1]: secret \"gone\" not found\nsources[2]: serviceAccountToken: no API server to issue tokens",
		},
		{
			name: "optional clusterTrustBundle skipped",
			sources: []corev1.VolumeProjection{
				{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Path: "ca", Optional: ptr(true)}},
			},
			files: map[string]string{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			podDir := t.TempDir()
			t.Cleanup(func() { _ = TearDown(podDir) })
			pod := testPod(corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: tc.sources, DefaultMode: ptr(int32(0o640)),
			}}})
			paths, err := SetUp(podDir, pod, Source{Objects: testObjects})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("SetUp error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mounted, err := mountinfo.Mounted(paths["p"]); err != nil || !mounted {
				t.Errorf("projected dir not a tmpfs mount: %v, %v", mounted, err)
			}
			checkLayout(t, paths["p"], tc.files, tc.modes)
			if err := TearDown(podDir); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	requireRoot(t)
	podDir := t.TempDir()
	t.Cleanup(func() { _ = TearDown(podDir) })
	cm := testObjects.cms[0].DeepCopy()
	sec := testObjects.secs[0].DeepCopy()
	objs := &objects{cms: []*corev1.ConfigMap{cm}, secs: []*corev1.Secret{sec}}
	pod := testPod(
		corev1.Volume{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		}}}},
		corev1.Volume{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	paths, err := SetUp(podDir, pod, Source{Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(paths["e"], "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	oldCM := checkLayout(t, paths["c"], map[string]string{"nginx.conf": "events {}", "a": "A", "bin": "\x00\x01\x02"}, nil)
	oldSec := checkLayout(t, paths["s"], map[string]string{"user": "admin", "pass": "hunter2"}, nil)
	oldD := checkLayout(t, paths["d"], map[string]string{"labels": "app=\"web\"\ntier=\"front\\\"end\""}, nil)

	// A file open through the old ..data keeps reading the old version.
	f, err := os.Open(filepath.Join(paths["c"], "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	cm.Data = map[string]string{"a": "A2", "new": "N"}
	cm.BinaryData = nil
	pod.Labels = map[string]string{"app": "web2"}
	if err := Update(podDir, pod, Source{Objects: objs}); err != nil {
		t.Fatal(err)
	}
	newCM := checkLayout(t, paths["c"], map[string]string{"a": "A2", "new": "N"}, nil)
	if newCM == oldCM {
		t.Error("configMap ..data not swapped")
	}
	for _, gone := range []string{oldCM, "nginx.conf", "bin"} {
		if _, err := os.Lstat(filepath.Join(paths["c"], gone)); !os.IsNotExist(err) {
			t.Errorf("%s still in the configMap volume: %v", gone, err)
		}
	}
	buf := make([]byte, 8)
	if n, _ := f.Read(buf); string(buf[:n]) != "A" {
		t.Errorf("open file reads %q after the update, want the old A", buf[:n])
	}
	if ts := checkLayout(t, paths["s"], map[string]string{"user": "admin", "pass": "hunter2"}, nil); ts != oldSec {
		t.Error("unchanged secret rewritten")
	}
	if ts := checkLayout(t, paths["d"], map[string]string{"labels": `app="web2"`}, nil); ts == oldD {
		t.Error("downwardAPI labels not rewritten")
	}
	if data, err := os.ReadFile(filepath.Join(paths["e"], "keep")); err != nil || string(data) != "x" {
		t.Errorf("Update touched the emptyDir: %q, %v", data, err)
	}

	// The object deleted: a non-optional volume keeps its last data and
	// Update reports the error.
	objs.cms = nil
	if err := Update(podDir, pod, Source{Objects: objs}); err == nil || !strings.Contains(err.Error(), `volume "c": configmap "cfg" not found`) {
		t.Errorf("Update error = %v", err)
	}
	checkLayout(t, paths["c"], map[string]string{"a": "A2", "new": "N"}, nil)
}
