package fieldpath

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testPod() *corev1.Pod {
	q := resource.MustParse
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "shop", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": `front"end`},
			Annotations: map[string]string{"example.com/owner": "team-a", "note": "line1\nline2"},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{
				{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}},
				{Name: "both"},
			},
			Containers: []corev1.Container{
				{Name: "c", Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1500m"), corev1.ResourceMemory: q("100M"), "hugepages-2Mi": q("4Mi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m"), corev1.ResourceMemory: q("64Mi"), corev1.ResourceEphemeralStorage: q("1G")},
				}},
				{Name: "other", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q("0")}}},
				{Name: "both"},
			},
		},
	}
}

func TestExtract(t *testing.T) {
	pod := testPod()
	cases := []struct{ path, want, wantErr string }{
		{path: "metadata.name", want: "web"},
		{path: "metadata.namespace", want: "shop"},
		{path: "metadata.uid", want: "uid-1"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\\\"end\""},
		{path: "metadata.annotations", want: "example.com/owner=\"team-a\"\nnote=\"line1\\nline2\""},
		{path: "metadata.labels['app']", want: "web"},
		{path: "metadata.labels['missing']", want: ""},
		{path: "metadata.annotations['example.com/owner']", want: "team-a"},
		{path: "metadata.annotations['Example.com/Owner']", want: ""}, // checked lower-cased, read as written
		{path: "metadata.labels['bad key']", wantErr: "invalid key subscript in metadata.labels['bad key']"},
		{path: "metadata.annotations['bad key']", wantErr: "invalid key subscript in metadata.annotations['bad key']"},
		{path: "metadata.name['x']", wantErr: `fieldPath "metadata.name['x']" does not support subscript`},
		{path: "['x']", wantErr: "unsupported fieldPath: ['x']"},
		{path: "spec.nodeName", wantErr: "unsupported fieldPath: spec.nodeName"},
		{path: "status.phase", wantErr: "unsupported fieldPath: status.phase"},
		{path: "", wantErr: "unsupported fieldPath: "},
	}
	for _, tc := range cases {
		got, err := Extract(pod, tc.path)
		if tc.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.path, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	if v, err := Extract(&corev1.Pod{}, "metadata.namespace"); err != nil || v != "" {
		t.Errorf("empty namespace = %q, %v; want it as written", v, err)
	}
}

func TestSplitSubscript(t *testing.T) {
	cases := []struct {
		path, field, key string
		ok               bool
	}{
		{path: "metadata.labels['a']", field: "metadata.labels", key: "a", ok: true},
		{path: "metadata.labels['a']b']", field: "metadata.labels", key: "a']b", ok: true},
		{path: "metadata.labels['']", field: "metadata.labels", key: "", ok: true},
		{path: "metadata.labels"},
		{path: "metadata.labels['a'"},
		{path: "['a']"},
		{path: "metadata.labels']"},
	}
	for _, tc := range cases {
		field, key, ok := SplitSubscript(tc.path)
		if field != tc.field || key != tc.key || ok != tc.ok {
			t.Errorf("%s = %q, %q, %v; want %q, %q, %v", tc.path, field, key, ok, tc.field, tc.key, tc.ok)
		}
	}
}

func TestFormatMap(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"b": "2", "a": "1"}, "a=\"1\"\nb=\"2\""},
		{map[string]string{"k": "x\ny\"z"}, `k="x\ny\"z"`},
	} {
		if got := FormatMap(tc.m); got != tc.want {
			t.Errorf("FormatMap(%v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}

func TestContainer(t *testing.T) {
	pod := testPod()
	for _, tc := range []struct {
		name string
		want *corev1.Container
		init bool
	}{
		{name: "c", want: &pod.Spec.Containers[0]},
		{name: "init", want: &pod.Spec.InitContainers[0], init: true},
		{name: "both", want: &pod.Spec.Containers[2]}, // regular containers first
		{name: "nope"},
		{name: ""},
	} {
		got, init := Container(pod, tc.name)
		if got != tc.want || init != tc.init {
			t.Errorf("%q = %p, %v; want %p, %v", tc.name, got, init, tc.want, tc.init)
		}
	}
}

func TestContainerResource(t *testing.T) {
	q := resource.MustParse
	allocatable := corev1.ResourceList{corev1.ResourceCPU: q("4"), corev1.ResourceMemory: q("8Gi"), corev1.ResourceEphemeralStorage: q("100Gi")}
	pod := testPod()
	c, other, init := pod.Spec.Containers[0].Resources, pod.Spec.Containers[1].Resources, pod.Spec.InitContainers[0].Resources
	cases := []struct {
		name       string
		res        corev1.ResourceRequirements
		limitsFrom corev1.ResourceList
		resource   string
		divisor    string
		want       string
		wantErr    string
	}{
		{name: "cpu rounds up", res: c, resource: "limits.cpu", want: "2"},
		{name: "cpu in millis", res: c, resource: "limits.cpu", divisor: "1m", want: "1500"},
		{name: "request cpu", res: c, resource: "requests.cpu", want: "1"},
		{name: "request cpu /100m", res: c, resource: "requests.cpu", divisor: "100m", want: "3"},
		{name: "memory", res: c, resource: "limits.memory", want: "100000000"},
		{name: "memory Mi rounds up", res: c, resource: "limits.memory", divisor: "1Mi", want: "96"},
		{name: "memory M", res: c, resource: "limits.memory", divisor: "1M", want: "100"},
		{name: "milli divisor is a byte", res: c, resource: "requests.memory", divisor: "1m", want: "67108864"},
		{name: "request memory Gi", res: c, resource: "requests.memory", divisor: "1Gi", want: "1"},
		{name: "unset ephemeral limit", res: c, limitsFrom: allocatable, resource: "limits.ephemeral-storage", divisor: "1Gi", want: "100"},
		{name: "ephemeral request", res: c, resource: "requests.ephemeral-storage", divisor: "1k", want: "1000000"},
		{name: "hugepages limit", res: c, limitsFrom: allocatable, resource: "limits.hugepages-2Mi", divisor: "1Mi", want: "4"},
		{name: "hugepages request never defaulted", res: c, limitsFrom: allocatable, resource: "requests.hugepages-2Mi", want: "0"},
		{name: "unset cpu limit", res: other, limitsFrom: allocatable, resource: "limits.cpu", want: "4"},
		{name: "zero limit is unset", res: other, limitsFrom: allocatable, resource: "limits.memory", divisor: "1Gi", want: "8"},
		{name: "requests never defaulted", res: other, limitsFrom: allocatable, resource: "requests.cpu", want: "0"},
		{name: "nil limitsFrom defaults none", res: init, resource: "limits.cpu", want: "0"},
		{name: "init request", res: init, resource: "requests.cpu", divisor: "1m", want: "100"},
		{name: "unknown resource", res: c, resource: "limits.gpu", wantErr: "unsupported container resource : limits.gpu"},
		{name: "no kind", res: c, resource: "cpu", wantErr: "unsupported container resource : cpu"},
		{name: "negative divisor", res: c, resource: "limits.cpu", divisor: "-1", wantErr: "invalid resource divisor: must be positive"},
		{name: "negative divisor memory", res: c, resource: "limits.memory", divisor: "-1Mi", wantErr: "invalid resource divisor: must be positive"},
	}
	for _, tc := range cases {
		fs := &corev1.ResourceFieldSelector{Resource: tc.resource}
		if tc.divisor != "" {
			fs.Divisor = q(tc.divisor)
		}
		got, err := ContainerResource(fs, tc.res, tc.limitsFrom)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, ok := c.Limits[corev1.ResourceEphemeralStorage]; ok {
		t.Error("ContainerResource modified the container's limits")
	}
}

func TestContainerResource_Huge(t *testing.T) {
	// Beyond float64's exact integers the quotient still rounds up exactly.
	res := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: *resource.NewQuantity(1<<62+1, resource.BinarySI)}}
	got, err := ContainerResource(&corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("2")}, res, nil)
	if want := "2305843009213693953"; err != nil || got != want {
		t.Errorf("= %q, %v; want %q", got, err, want)
	}
}

func TestPodLimitsOver(t *testing.T) {
	q := resource.MustParse
	allocatable := corev1.ResourceList{corev1.ResourceCPU: q("4"), corev1.ResourceMemory: q("8Gi")}
	pod := testPod()
	if got := PodLimitsOver(allocatable, pod); got.Cpu().String() != "4" || got.Memory().String() != "8Gi" {
		t.Errorf("no pod-level limits: %v", got)
	}
	pod.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{
		corev1.ResourceCPU: q("2"), corev1.ResourceMemory: q("0"), corev1.ResourceEphemeralStorage: q("1Gi"),
	}}
	got := PodLimitsOver(allocatable, pod)
	if got.Cpu().String() != "2" || got.Memory().String() != "8Gi" {
		t.Errorf("pod-level cpu 2, memory 0: %v", got)
	}
	if _, ok := got[corev1.ResourceEphemeralStorage]; ok {
		t.Errorf("ephemeral-storage is not a pod-level resource: %v", got)
	}
	if allocatable.Cpu().String() != "4" {
		t.Error("PodLimitsOver modified allocatable")
	}
}
