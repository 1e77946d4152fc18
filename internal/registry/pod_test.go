package registry

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/manifest"
)

func TestDefaultPod(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers: []corev1.Container{{
				Name: "app", Image: "busybox:1.36",
				Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
			}},
			Volumes: []corev1.Volume{
				{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}},
				{Name: "dapi", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}},
				{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
				{Name: "mode", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: ptr(int32(0o400))}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	DefaultPod(pod)
	s := pod.Spec
	checks := []struct {
		what      string
		got, want any
	}{
		{"namespace", pod.Namespace, "default"},
		{"restartPolicy", s.RestartPolicy, corev1.RestartPolicyAlways},
		{"dnsPolicy", s.DNSPolicy, corev1.DNSClusterFirst},
		{"terminationGracePeriodSeconds", *s.TerminationGracePeriodSeconds, int64(30)},
		{"schedulerName", s.SchedulerName, "default-scheduler"},
		{"securityContext set", s.SecurityContext != nil, true},
		{"enableServiceLinks", *s.EnableServiceLinks, true},
		{"init imagePullPolicy", s.InitContainers[0].ImagePullPolicy, corev1.PullAlways},
		{"init terminationMessagePath", s.InitContainers[0].TerminationMessagePath, "/dev/termination-log"},
		{"imagePullPolicy", s.Containers[0].ImagePullPolicy, corev1.PullIfNotPresent},
		{"terminationMessagePath", s.Containers[0].TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", s.Containers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"ports[0].protocol", s.Containers[0].Ports[0].Protocol, corev1.ProtocolTCP},
		{"ports[1].protocol kept", s.Containers[0].Ports[1].Protocol, corev1.ProtocolUDP},
		{"configMap defaultMode", *s.Volumes[0].ConfigMap.DefaultMode, int32(0o644)},
		{"secret defaultMode", *s.Volumes[1].Secret.DefaultMode, int32(0o644)},
		{"downwardAPI defaultMode", *s.Volumes[2].DownwardAPI.DefaultMode, int32(0o644)},
		{"projected defaultMode", *s.Volumes[3].Projected.DefaultMode, int32(0o644)},
		{"explicit defaultMode kept", *s.Volumes[4].ConfigMap.DefaultMode, int32(0o400)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestDefaultPod_KeepsSetFields(t *testing.T) {
	grace := int64(5)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{{Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullNever}},
		},
	}
	DefaultPod(pod)
	if pod.Namespace != "prod" || pod.Spec.RestartPolicy != corev1.RestartPolicyNever ||
		*pod.Spec.TerminationGracePeriodSeconds != 5 || pod.Spec.Containers[0].ImagePullPolicy != corev1.PullNever {
		t.Errorf("DefaultPod overwrote set fields: ns=%q policy=%q grace=%d pull=%q", pod.Namespace,
			pod.Spec.RestartPolicy, *pod.Spec.TerminationGracePeriodSeconds, pod.Spec.Containers[0].ImagePullPolicy)
	}
}

func TestDefaultPod_ImagePullPolicy(t *testing.T) {
	cases := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"busybox", corev1.PullAlways},
		{"busybox:latest", corev1.PullAlways},
		{"busybox:1.36", corev1.PullIfNotPresent},
		{"docker.io/library/busybox", corev1.PullAlways},
		{"docker.io/library/busybox:1.36", corev1.PullIfNotPresent},
		{"localhost:5000/x", corev1.PullAlways},
		{"localhost:5000/x:latest", corev1.PullAlways},
		{"localhost:5000/x:v2", corev1.PullIfNotPresent},
		{"localhost:5000/team/x", corev1.PullAlways},
		{"busybox@sha256:4b6ad3a68d34da29bf7c8ccb5d355ba8b4babcad1f99798204e7abb43e54ee3d", corev1.PullIfNotPresent},
		{"localhost:5000/x@sha256:4b6ad3a68d34da29bf7c8ccb5d355ba8b4babcad1f99798204e7abb43e54ee3d", corev1.PullIfNotPresent},
		{"busybox:1.36@sha256:4b6ad3a68d34da29bf7c8ccb5d355ba8b4babcad1f99798204e7abb43e54ee3d", corev1.PullIfNotPresent},
		// The API server parses the tag first: an explicit :latest pins
		// nothing even with a digest.
		{"busybox:latest@sha256:4b6ad3a68d34da29bf7c8ccb5d355ba8b4babcad1f99798204e7abb43e54ee3d", corev1.PullAlways},
	}
	for _, tc := range cases {
		t.Run(tc.image, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: tc.image}}}}
			DefaultPod(pod)
			if got := pod.Spec.Containers[0].ImagePullPolicy; got != tc.want {
				t.Errorf("imagePullPolicy(%q) = %s, want %s", tc.image, got, tc.want)
			}
		})
	}
}

// validPod is a defaulted pod that passes validation; cases mutate it.
func validPod() *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
			Containers: []corev1.Container{{
				Name:         "app",
				Image:        "busybox:1.36",
				Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:          []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "app/sub"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	DefaultPod(pod)
	return pod
}

func ptr[T any](v T) *T { return &v }

func TestValidatePod(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   string // the StatusError message; "" for valid
	}{
		{name: "valid", mutate: func(*corev1.Pod) {}},
		{name: "sidecar with probes is valid", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = &always
			p.Spec.InitContainers[0].StartupProbe = probe
			p.Spec.InitContainers[0].ReadinessProbe = probe
		}},
		{
			name:   "missing name",
			mutate: func(p *corev1.Pod) { p.Name = "" },
			want:   `Pod "" is invalid: metadata.name: Required value: name or generateName is required`,
		},
		{
			name:   "bad name",
			mutate: func(p *corev1.Pod) { p.Name = "Web_1" },
			want:   `Pod "Web_1" is invalid: metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		},
		{
			name:   "missing image",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			want:   `Pod "web" is invalid: spec.containers[0].image: Required value`,
		},
		{
			name:   "no containers",
			mutate: func(p *corev1.Pod) { p.Spec.Containers = nil },
			want:   `Pod "web" is invalid: spec.containers: Required value`,
		},
		{
			name: "duplicate container name across init and regular",
			mutate: func(p *corev1.Pod) {
				p.Spec.InitContainers[0].Name = "app"
			},
			want: `Pod "web" is invalid: spec.initContainers[0].name: Duplicate value: "app"`,
		},
		{
			name: "duplicate regular container name",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullAlways})
			},
			want: `Pod "web" is invalid: spec.containers[1].name: Duplicate value: "app"`,
		},
		{
			name:   "bad restartPolicy",
			mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			want:   `Pod "web" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`,
		},
		{
			name: "init container restartPolicy other than Always",
			mutate: func(p *corev1.Pod) {
				p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicy("OnFailure"))
			},
			want: `Pod "web" is invalid: spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`,
		},
		{
			name: "restartPolicy on a regular container",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].RestartPolicy = &always
			},
			want: `Pod "web" is invalid: spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers`,
		},
		{
			name:   "readinessProbe on a plain init container",
			mutate: func(p *corev1.Pod) { p.Spec.InitContainers[0].ReadinessProbe = probe },
			want:   `Pod "web" is invalid: spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always`,
		},
		{
			// Three errors, in the API server's order (liveness, readiness,
			// startup) every time.
			name: "all probes on a plain init container",
			mutate: func(p *corev1.Pod) {
				p.Spec.InitContainers[0].LivenessProbe = probe
				p.Spec.InitContainers[0].ReadinessProbe = probe
				p.Spec.InitContainers[0].StartupProbe = probe
			},
			want: `Pod "web" is invalid: [` +
				`spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always, ` +
				`spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always, ` +
				`spec.initContainers[0].startupProbe: Forbidden: may not be set for init containers without restartPolicy=Always]`,
		},
		{
			name:   "volumeMount to an unknown volume",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "cache" },
			want:   `Pod "web" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "cache"`,
		},
		{
			name:   "relative mountPath is accepted",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "data" },
			// kube-apiserver accepts it: a mountPath need not be absolute
		},
		{
			name: "duplicate mountPath",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
			},
			want: `Pod "web" is invalid: spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique`,
		},
		{
			name:   "subPath with ..",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "a/../../etc" },
			want:   `Pod "web" is invalid: spec.containers[0].volumeMounts.subPath: Invalid value: "a/../../etc": must not contain '..'`,
		},
		{
			name:   "subPath that is ..",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = ".." },
			want:   `Pod "web" is invalid: spec.containers[0].volumeMounts.subPath: Invalid value: "..": must not contain '..'`,
		},
		{
			name:   "subPath with a dotted name is fine",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "a..b/..c" },
		},
		{
			name:   "absolute subPath",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "/etc" },
			want:   `Pod "web" is invalid: spec.containers[0].volumeMounts.subPath: Invalid value: "/etc": must be a relative path`,
		},
		{
			name:   "subPath and subPathExpr",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPathExpr = "$(POD_NAME)" },
			want:   `Pod "web" is invalid: spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: "$(POD_NAME)": subPathExpr and subPath are mutually exclusive`,
		},
		{
			name: "duplicate volume names",
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			},
			want: `Pod "web" is invalid: spec.volumes[1].name: Duplicate value: "data"`,
		},
		{
			name:   "volume with no source is an emptyDir",
			mutate: func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = nil },
			// kube-apiserver accepts it: a volume with no source is defaulted to emptyDir
		},
		{
			name: "volume with two sources",
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/srv"}
			},
			want: `Pod "web" is invalid: [spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type, spec.containers[0].volumeMounts[0].name: Not found: "data"]`,
		},
		{
			name:   "port out of range",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			want:   `Pod "web" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
		},
		{
			name:   "port missing",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 },
			want:   `Pod "web" is invalid: spec.containers[0].ports[0].containerPort: Required value`,
		},
		{
			name: "duplicate port names",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 8081, Protocol: corev1.ProtocolTCP})
			},
			want: `Pod "web" is invalid: spec.containers[0].ports[1].name: Duplicate value: "http"`,
		},
		{
			name:   "bad env name",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "MODE=1" },
			want:   `Pod "web" is invalid: spec.containers[0].env[0].name: Invalid value: "MODE=1": a valid environment variable name must consist only of printable ASCII characters other than '='`,
		},
		{
			name:   "empty env name is reported once",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "" },
			want:   `Pod "web" is invalid: spec.containers[0].env[0].name: Required value`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := validPod()
			tc.mutate(pod)
			DefaultPod(pod) // as the API server decodes
			err := ValidatePod(pod)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ValidatePod: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidatePod = nil, want %s", tc.want)
			}
			var se *apierrors.StatusError
			if !errors.As(err, &se) || !apierrors.IsInvalid(err) {
				t.Fatalf("ValidatePod returned %T (%v), want an Invalid StatusError", err, err)
			}
			if se.ErrStatus.Details == nil || se.ErrStatus.Details.Kind != "Pod" || se.ErrStatus.Details.Name != pod.Name {
				t.Errorf("details = %+v, want kind Pod name %q", se.ErrStatus.Details, pod.Name)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("message:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestValidatePod_Examples: the repository's examples and the seed pods (as
// a user would write them) decode, default and validate.
func TestValidatePod_Examples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, seeds...)
	if len(files) < 8 {
		t.Fatalf("found only %d example files: %v", len(files), files)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var objs manifest.Objects
			if err := objs.Decode(f, file); err != nil {
				t.Fatal(err)
			}
			if len(objs.Pods)+len(objs.Services) == 0 { // a file may hold only the Services of another
				t.Fatal("no pod and no service in file")
			}
			for _, pod := range objs.Pods {
				DefaultPod(pod)
				if err := ValidatePod(pod); err != nil {
					t.Errorf("%s: %v", pod.Name, err)
				}
			}
		})
	}
}

// Privileged containers are allowed, as kube-apiserver --allow-privileged.
func TestValidatePod_Privileged(t *testing.T) {
	pod := validPod()
	yes := true
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
	DefaultPod(pod)
	if err := ValidatePod(pod); err != nil {
		t.Fatal(err)
	}
}
