package agent

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/runtime"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": "", "REF": "$(A)", "DOLLAR": "$$"}
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(A)$(A)", "aa"},
		{"$(EMPTY)", ""},
		{"<$(EMPTY)>", "<>"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"x$(UNKNOWN)$(A)", "x$(UNKNOWN)a"},
		{"$()", "$()"},
		{"$$", "$"},
		{"$$$$", "$$"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$$$(A)", "$$(A)"},
		{"$", "$"},
		{"a$", "a$"},
		{"$$$", "$$"},
		{"$A", "$A"},
		{"${A}", "${A}"},
		{"$x$(A)", "$xa"},
		{"$(", "$("},
		{"$(A", "$(A"},
		{"x$(A$", "x$(A$"},
		{"$(A$(B", "$(A$(B"},
		{"$($(A)", "$($(A)"},     // the name is "$(A": unknown
		{"$(A$(B))", "$(A$(B))"}, // the name is "A$(B": unknown, then ")"
		{"$(A)$(B", "a$(B"},
		{"$(a b)", "$(a b)"},
		{"$(REF)", "$(A)"},    // values are not expanded again
		{"$(DOLLAR)", "$$"},   // nor unescaped
		{"é$(A)€$é", "éa€$é"}, // bytes, not runes, are copied
		{"(A)", "(A)"},
		{"A)", "A)"},
	}
	for _, tc := range cases {
		if got := expand(tc.in, lookup); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := expand("$(A)$$", nil); got != "$(A)$" {
		t.Errorf("expand with no lookup = %q", got)
	}
}

// FuzzExpand checks properties any input must keep: no panic, escaping
// every $ as $$ gives the input back whatever the variables, and a lookup
// that knows nothing changes nothing but $$.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "$(A)", "$$(A)", "$(", "$(A$(B))", "a$b$$c$(d)e$("} {
		f.Add(s)
	}
	all := func(name string) (string, bool) { return "<" + name + ">", true }
	none := func(string) (string, bool) { return "", false }
	f.Fuzz(func(t *testing.T, s string) {
		escaped := strings.ReplaceAll(s, "$", "$$")
		if got := expand(escaped, all); got != s {
			t.Errorf("expand(%q) = %q, want %q", escaped, got, s)
		}
		got := expand(s, none)
		if !strings.Contains(s, "$") && got != s {
			t.Errorf("expand(%q) without $ = %q", s, got)
		}
		if len(got) > len(s) || strings.Count(got, "$") < strings.Count(s, "$")/2 {
			t.Errorf("expand(%q) with no variables = %q", s, got)
		}
		if got := expand(s, all); strings.Count(got, "$") > strings.Count(s, "$") {
			t.Errorf("expand(%q) added a $: %q", s, got)
		}
	})
}

func TestExpandSubPathExpr(t *testing.T) {
	env := []corev1.EnvVar{{Name: "POD", Value: "p1"}, {Name: "NS", Value: "ns"}, {Name: "EMPTY"}}
	got, err := expandSubPathExpr("logs/$(NS)/$(POD)/$$(X)", env)
	if err != nil || got != "logs/ns/p1/$(X)" {
		t.Errorf("= %q, %v", got, err)
	}
	if _, err := expandSubPathExpr("$(NOPE)/$(EMPTY)/$(POD)", env); err == nil || err.Error() != "missing value for EMPTY, NOPE" {
		t.Errorf("err = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func envPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "shop", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"example.com/owner": "team-a"},
		},
		Spec: corev1.PodSpec{ServiceAccountName: "sa"},
	}
}

func envObjects() *StaticObjects {
	return &StaticObjects{
		ConfigMaps: []*corev1.ConfigMap{
			{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "shop"}, Data: map[string]string{"mode": "fast", "level": "3", "bad key": "x", "1st": "y"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "more", Namespace: "shop"}, Data: map[string]string{"mode": "slow", "extra": "e"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "other"}, Data: map[string]string{"mode": "wrong-namespace"}},
		},
		Secrets: []*corev1.Secret{
			{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "shop"}, Data: map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cret")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "shop"}, Data: map[string][]byte{"k": []byte("old")}, StringData: map[string]string{"k": "new"}},
		},
	}
}

func cmRef(name string, optional bool) *corev1.ConfigMapEnvSource {
	s := &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}
	if optional {
		s.Optional = ptr(true)
	}
	return s
}

func TestPodEnv_Assembly(t *testing.T) {
	cases := []struct {
		name    string
		envFrom []corev1.EnvFromSource
		env     []corev1.EnvVar
		want    []corev1.EnvVar
		wantErr string
	}{
		{name: "nothing", want: []corev1.EnvVar{}},
		{
			name:    "envFrom keys sorted, invalid names skipped, prefix",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: cmRef("cfg", false)}, {Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}},
			want:    []corev1.EnvVar{{Name: "level", Value: "3"}, {Name: "mode", Value: "fast"}, {Name: "DB_pass", Value: "s3cret"}, {Name: "DB_user", Value: "admin"}},
		},
		{
			name:    "a prefix can make a key valid",
			envFrom: []corev1.EnvFromSource{{Prefix: "K", ConfigMapRef: cmRef("cfg", false)}},
			want:    []corev1.EnvVar{{Name: "K1st", Value: "y"}, {Name: "Klevel", Value: "3"}, {Name: "Kmode", Value: "fast"}},
		},
		{
			name:    "later sources override, keeping the first position",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: cmRef("cfg", false)}, {ConfigMapRef: cmRef("more", false)}},
			want:    []corev1.EnvVar{{Name: "level", Value: "3"}, {Name: "mode", Value: "slow"}, {Name: "extra", Value: "e"}},
		},
		{
			name:    "env overrides envFrom, new names appended in order",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: cmRef("more", false)}},
			env:     []corev1.EnvVar{{Name: "Z", Value: "1"}, {Name: "mode", Value: "env"}, {Name: "A", Value: "2"}, {Name: "Z", Value: "3"}},
			want:    []corev1.EnvVar{{Name: "extra", Value: "e"}, {Name: "mode", Value: "env"}, {Name: "Z", Value: "3"}, {Name: "A", Value: "2"}},
		},
		{
			name:    "missing optional sources are skipped",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: cmRef("nope", true)}, {SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}}, {ConfigMapRef: cmRef("more", true)}},
			want:    []corev1.EnvVar{{Name: "extra", Value: "e"}, {Name: "mode", Value: "slow"}},
		},
		{name: "missing ConfigMap", envFrom: []corev1.EnvFromSource{{ConfigMapRef: cmRef("nope", false)}}, wantErr: `configmap "nope" not found`},
		{name: "missing Secret", envFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}, wantErr: `secret "nope" not found`},
		{name: "optional false is not optional", envFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(false)}}}, wantErr: `secret "nope" not found`},
		{
			name:    "stringData over data",
			envFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "plain"}}}},
			want:    []corev1.EnvVar{{Name: "k", Value: "new"}},
		},
		{
			name:    "expansion sees envFrom and earlier env only",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: cmRef("more", false)}},
			env: []corev1.EnvVar{
				{Name: "FIRST", Value: "$(mode)-$(LATER)-$(extra)"},
				{Name: "mode", Value: "[$(mode)]"},
				{Name: "SECOND", Value: "$(FIRST)|$(mode)|$$(mode)|$(PATH)"},
				{Name: "LATER", Value: "late"},
				{Name: "EMPTY", Value: ""},
				{Name: "USE_EMPTY", Value: "<$(EMPTY)>"},
			},
			want: []corev1.EnvVar{
				{Name: "extra", Value: "e"}, {Name: "mode", Value: "[slow]"},
				{Name: "FIRST", Value: "slow-$(LATER)-e"},
				{Name: "SECOND", Value: "slow-$(LATER)-e|[slow]|$(mode)|$(PATH)"},
				{Name: "LATER", Value: "late"}, {Name: "EMPTY", Value: ""}, {Name: "USE_EMPTY", Value: "<>"},
			},
		},
		{
			name: "valueFrom values are not expanded",
			env: []corev1.EnvVar{
				{Name: "A", Value: "a"},
				{Name: "L", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['example.com/owner']"}}},
			},
			want: []corev1.EnvVar{{Name: "A", Value: "a"}, {Name: "L", Value: "team-a"}},
		},
		{
			name:    "an omitted optional var leaves an earlier definition alone",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: cmRef("more", false)}},
			env: []corev1.EnvVar{{Name: "mode", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "mode", Optional: ptr(true)}}}},
			want: []corev1.EnvVar{{Name: "extra", Value: "e"}, {Name: "mode", Value: "slow"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "c", EnvFrom: tc.envFrom, Env: tc.env}
			got, err := podEnv(containerInput{Pod: envPod(), Container: c, Objects: envObjects()})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("podEnv =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}

func TestPodEnv_KeyRefs(t *testing.T) {
	cmKey := func(name, key string, optional *bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: optional}}
	}
	secKey := func(name, key string, optional *bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: optional}}
	}
	cases := []struct {
		name    string
		src     *corev1.EnvVarSource
		want    string
		omitted bool
		wantErr string
	}{
		{name: "configmap key", src: cmKey("cfg", "mode", nil), want: "fast"},
		{name: "configmap key, optional present", src: cmKey("cfg", "level", ptr(true)), want: "3"},
		{name: "configmap key missing", src: cmKey("cfg", "nope", nil), wantErr: "couldn't find key nope in ConfigMap shop/cfg"},
		{name: "configmap key missing, optional", src: cmKey("cfg", "nope", ptr(true)), omitted: true},
		{name: "configmap missing", src: cmKey("nope", "mode", nil), wantErr: `configmap "nope" not found`},
		{name: "configmap missing, optional", src: cmKey("nope", "mode", ptr(true)), omitted: true},
		{name: "secret key", src: secKey("creds", "pass", nil), want: "s3cret"},
		{name: "secret stringData key", src: secKey("plain", "k", nil), want: "new"},
		{name: "secret key missing", src: secKey("creds", "nope", ptr(false)), wantErr: "couldn't find key nope in Secret shop/creds"},
		{name: "secret key missing, optional", src: secKey("creds", "nope", ptr(true)), omitted: true},
		{name: "secret missing", src: secKey("nope", "k", nil), wantErr: `secret "nope" not found`},
		{name: "secret missing, optional", src: secKey("nope", "k", ptr(true)), omitted: true},
		{name: "empty source", src: &corev1.EnvVarSource{}, want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "V", ValueFrom: tc.src}}}
			got, err := podEnv(containerInput{Pod: envPod(), Container: c, Objects: envObjects()})
			switch {
			case tc.wantErr != "":
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case tc.omitted:
				if len(got) != 0 {
					t.Errorf("got %q, want the variable omitted", got)
				}
			case !reflect.DeepEqual(got, []corev1.EnvVar{{Name: "V", Value: tc.want}}):
				t.Errorf("got %q, want V=%q", got, tc.want)
			}
		})
	}
	// Without a source of objects, a reference is an error, not a panic.
	c := &corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("cfg", "mode", ptr(true))}}}
	if _, err := podEnv(containerInput{Pod: envPod(), Container: c}); err == nil {
		t.Error("no error without Objects")
	}
}

func TestFieldRefValue(t *testing.T) {
	pod := envPod()
	cases := []struct {
		path, version string
		podIPs        []string
		want, wantErr string
	}{
		{path: "metadata.name", want: "web"},
		{path: "metadata.name", version: "v1", want: "web"},
		{path: "metadata.namespace", want: "shop"},
		{path: "metadata.uid", want: "uid-1"},
		{path: "metadata.labels['app']", want: "web"},
		{path: "metadata.labels['missing']", want: ""},
		{path: "metadata.annotations['example.com/owner']", want: "team-a"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "spec.nodeName", want: ""},
		{path: "spec.serviceAccountName", want: "sa"},
		{path: "status.podIP", want: ""},
		{path: "status.podIPs", want: ""},
		{path: "status.podIP", podIPs: []string{"10.0.0.5", "fd00::5"}, want: "10.0.0.5"},
		{path: "status.podIPs", podIPs: []string{"10.0.0.5", "fd00::5"}, want: "10.0.0.5,fd00::5"},
		{path: "status.hostIP", want: "192.168.1.2"},
		{path: "status.hostIPs", want: "192.168.1.2,fe80::2"},
		{path: "metadata.name", version: "v2", wantErr: "unsupported pod version: v2"},
		{path: "spec.terminationGracePeriodSeconds", wantErr: "field label not supported: spec.terminationGracePeriodSeconds"},
		{path: "status.phase", wantErr: "unsupported fieldPath: status.phase"},
		{path: "metadata.name['x']", wantErr: "field label does not support subscript: metadata.name['x']"},
		{path: "metadata.labels['bad key']", wantErr: "invalid key subscript in metadata.labels['bad key']"},
		{path: "", wantErr: "field label not supported: "},
	}
	for _, tc := range cases {
		got, err := fieldRefValue(&corev1.ObjectFieldSelector{APIVersion: tc.version, FieldPath: tc.path}, pod, tc.podIPs, []string{"192.168.1.2", "fe80::2"})
		if tc.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.path, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

func TestResourceFieldValue(t *testing.T) {
	q := resource.MustParse
	allocatable := corev1.ResourceList{corev1.ResourceCPU: q("4"), corev1.ResourceMemory: q("8Gi"), corev1.ResourceEphemeralStorage: q("100Gi")}
	pod := envPod()
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}}}
	pod.Spec.Containers = []corev1.Container{
		{Name: "c", Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1500m"), corev1.ResourceMemory: q("100M"), "hugepages-2Mi": q("4Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m"), corev1.ResourceMemory: q("64Mi"), corev1.ResourceEphemeralStorage: q("1G")},
		}},
		{Name: "other", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q("0")}}},
	}
	c := &pod.Spec.Containers[0]
	cases := []struct {
		res, container, divisor string
		want, wantErr           string
	}{
		{res: "limits.cpu", want: "2"}, // 1.5 cores round up
		{res: "limits.cpu", divisor: "1m", want: "1500"},
		{res: "requests.cpu", want: "1"},
		{res: "requests.cpu", divisor: "1m", want: "250"},
		{res: "requests.cpu", divisor: "100m", want: "3"},
		{res: "limits.memory", want: "100000000"},
		{res: "limits.memory", divisor: "1Mi", want: "96"}, // 95.37 up
		{res: "limits.memory", divisor: "1M", want: "100"},
		{res: "requests.memory", divisor: "1Mi", want: "64"},
		{res: "requests.memory", divisor: "1Gi", want: "1"},
		{res: "requests.memory", divisor: "1m", want: "67108864"},      // a milli divisor is 1 byte
		{res: "limits.ephemeral-storage", divisor: "1Gi", want: "100"}, // unset: allocatable
		{res: "requests.ephemeral-storage", divisor: "1k", want: "1000000"},
		{res: "limits.hugepages-2Mi", divisor: "1Mi", want: "4"},
		{res: "requests.hugepages-2Mi", want: "0"},
		{res: "limits.cpu", container: "other", want: "4"},
		{res: "limits.memory", container: "other", divisor: "1Gi", want: "8"}, // a zero limit is unset
		{res: "requests.cpu", container: "other", want: "0"},
		{res: "requests.cpu", container: "init", divisor: "1m", want: "100"},
		{res: "limits.cpu", container: "init", want: "0"}, // init containers' limits are not defaulted
		{res: "limits.cpu", container: "nope", wantErr: "container nope not found"},
		{res: "limits.gpu", wantErr: "unsupported container resource : limits.gpu"},
		{res: "cpu", wantErr: "unsupported container resource : cpu"},
		{res: "limits.cpu", divisor: "-1", wantErr: "invalid resource divisor"},
	}
	for _, tc := range cases {
		fs := &corev1.ResourceFieldSelector{Resource: tc.res, ContainerName: tc.container}
		if tc.divisor != "" {
			fs.Divisor = q(tc.divisor)
		}
		got, err := resourceFieldValue(fs, pod, c, allocatable)
		if tc.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("%s/%s: err = %v, want %q", tc.container, tc.res, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s/%s /%s = %q, %v; want %q", tc.container, tc.res, tc.divisor, got, err, tc.want)
		}
	}

	// Pod-level limits stand in for allocatable where they are set.
	pod.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("2")}}
	for res, want := range map[string]string{"limits.cpu": "2", "limits.memory": "8"} {
		fs := &corev1.ResourceFieldSelector{Resource: res, ContainerName: "other", Divisor: q("1Gi")}
		if res == "limits.cpu" {
			fs.Divisor = q("1")
		}
		if got, err := resourceFieldValue(fs, pod, c, allocatable); err != nil || got != want {
			t.Errorf("pod-level %s = %q, %v; want %q", res, got, err, want)
		}
	}
	if allocatable.Cpu().String() != "4" {
		t.Error("resourceFieldValue modified allocatable")
	}
}

func TestContainerSpec_EnvAndCommand(t *testing.T) {
	in := func(c *corev1.Container) containerInput {
		return containerInput{
			Pod: envPod(), Container: c, Sandbox: &runtime.Sandbox{ID: "sb"}, Objects: envObjects(),
			Config: v1.Config{Entrypoint: []string{"/entry", "$(MODE)"}, Cmd: []string{"$(MODE)"}, Env: []string{"PATH=/bin", "MODE=image"}},
		}
	}
	c := &corev1.Container{
		Name:    "c",
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: cmRef("cfg", false)}},
		Env: []corev1.EnvVar{
			{Name: "MODE", Value: "$(CFG_mode)"},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "P", Value: "$(PATH)"},
		},
		Command: []string{"echo", "$(MODE)", "$(POD)", "$(PATH)", "$$(MODE)", "$(LATER)"},
		Args:    []string{"$(CFG_level)"},
	}
	spec, err := containerSpec(in(c))
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []string{"PATH=/bin", "MODE=fast", "CFG_1st=y", "CFG_level=3", "CFG_mode=fast", "POD=web", "P=$(PATH)"}
	if !reflect.DeepEqual(spec.Env, wantEnv) {
		t.Errorf("Env = %q, want %q", spec.Env, wantEnv)
	}
	// The image's env is not visible to $(VAR): only the pod's own variables.
	wantArgs := []string{"echo", "fast", "web", "$(PATH)", "$(MODE)", "$(LATER)", "3"}
	if !reflect.DeepEqual(spec.Args, wantArgs) {
		t.Errorf("Args = %q, want %q", spec.Args, wantArgs)
	}

	// Only the pod's command and args are expanded, not the image's.
	c.Command = nil
	if spec, err := containerSpec(in(c)); err != nil || !reflect.DeepEqual(spec.Args, []string{"/entry", "$(MODE)", "3"}) {
		t.Errorf("Args = %q, %v", spec.Args, err)
	}
	c.Args = nil
	if spec, err := containerSpec(in(c)); err != nil || !reflect.DeepEqual(spec.Args, []string{"/entry", "$(MODE)", "$(MODE)"}) {
		t.Errorf("Args = %q, %v", spec.Args, err)
	}

	c.Env = append(c.Env, corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "absent"}}})
	_, err = containerSpec(in(c))
	var ce configError
	if !errors.As(err, &ce) || err.Error() != "couldn't find key absent in ConfigMap shop/cfg" {
		t.Errorf("err = %v (%T), want a configError", err, err)
	}
}

func TestNodeAllocatable(t *testing.T) {
	a := nodeAllocatable(t.TempDir())
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := a[r]; !ok || q.Sign() <= 0 {
			t.Errorf("%s = %v", r, a[r])
		}
	}
}

func TestServiceLinks(t *testing.T) {
	svc := func(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	objs := &StaticObjects{Services: []*corev1.Service{
		svc("shop", "web-api", "10.96.0.5",
			corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
			corev1.ServicePort{Name: "metrics", Port: 9113, Protocol: corev1.ProtocolUDP}),
		svc("shop", "db", "10.96.0.6", corev1.ServicePort{Port: 5432}),
		svc("shop", "headless", "None", corev1.ServicePort{Port: 80}),
		svc("default", "kubernetes", "10.96.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}),
		svc("default", "elsewhere", "10.96.0.7", corev1.ServicePort{Port: 80}),
	}}
	db := []corev1.EnvVar{
		{Name: "DB_SERVICE_HOST", Value: "10.96.0.6"},
		{Name: "DB_SERVICE_PORT", Value: "5432"},
		{Name: "DB_PORT", Value: "tcp://10.96.0.6:5432"},
		{Name: "DB_PORT_5432_TCP", Value: "tcp://10.96.0.6:5432"},
		{Name: "DB_PORT_5432_TCP_PROTO", Value: "tcp"},
		{Name: "DB_PORT_5432_TCP_PORT", Value: "5432"},
		{Name: "DB_PORT_5432_TCP_ADDR", Value: "10.96.0.6"},
	}
	kubernetes := []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: "10.96.0.1"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: "443"},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: "443"},
		{Name: "KUBERNETES_PORT", Value: "tcp://10.96.0.1:443"},
		{Name: "KUBERNETES_PORT_443_TCP", Value: "tcp://10.96.0.1:443"},
		{Name: "KUBERNETES_PORT_443_TCP_PROTO", Value: "tcp"},
		{Name: "KUBERNETES_PORT_443_TCP_PORT", Value: "443"},
		{Name: "KUBERNETES_PORT_443_TCP_ADDR", Value: "10.96.0.1"},
	}
	webAPI := []corev1.EnvVar{
		{Name: "WEB_API_SERVICE_HOST", Value: "10.96.0.5"},
		{Name: "WEB_API_SERVICE_PORT", Value: "80"},
		{Name: "WEB_API_SERVICE_PORT_HTTP", Value: "80"},
		{Name: "WEB_API_SERVICE_PORT_METRICS", Value: "9113"},
		{Name: "WEB_API_PORT", Value: "tcp://10.96.0.5:80"},
		{Name: "WEB_API_PORT_80_TCP", Value: "tcp://10.96.0.5:80"},
		{Name: "WEB_API_PORT_80_TCP_PROTO", Value: "tcp"},
		{Name: "WEB_API_PORT_80_TCP_PORT", Value: "80"},
		{Name: "WEB_API_PORT_80_TCP_ADDR", Value: "10.96.0.5"},
		{Name: "WEB_API_PORT_9113_UDP", Value: "udp://10.96.0.5:9113"},
		{Name: "WEB_API_PORT_9113_UDP_PROTO", Value: "udp"},
		{Name: "WEB_API_PORT_9113_UDP_PORT", Value: "9113"},
		{Name: "WEB_API_PORT_9113_UDP_ADDR", Value: "10.96.0.5"},
	}
	without := func(list []corev1.EnvVar, name string) []corev1.EnvVar {
		return slices.DeleteFunc(slices.Clone(list), func(e corev1.EnvVar) bool { return e.Name == name })
	}
	cases := []struct {
		name      string
		namespace string
		links     *bool
		env       []corev1.EnvVar
		objects   Objects
		want      []corev1.EnvVar
	}{
		{name: "namespace's services and default/kubernetes, by name", links: nil, objects: objs,
			want: slices.Concat(db, kubernetes, webAPI)},
		{name: "enableServiceLinks false keeps kubernetes", links: ptr(false), objects: objs, want: kubernetes},
		{name: "in default", namespace: "default", links: ptr(true), objects: objs,
			want: slices.Concat([]corev1.EnvVar{
				{Name: "ELSEWHERE_SERVICE_HOST", Value: "10.96.0.7"},
				{Name: "ELSEWHERE_SERVICE_PORT", Value: "80"},
				{Name: "ELSEWHERE_PORT", Value: "tcp://10.96.0.7:80"},
				{Name: "ELSEWHERE_PORT_80_TCP", Value: "tcp://10.96.0.7:80"},
				{Name: "ELSEWHERE_PORT_80_TCP_PROTO", Value: "tcp"},
				{Name: "ELSEWHERE_PORT_80_TCP_PORT", Value: "80"},
				{Name: "ELSEWHERE_PORT_80_TCP_ADDR", Value: "10.96.0.7"},
			}, kubernetes)},
		{name: "no services", objects: &StaticObjects{}, want: []corev1.EnvVar{}},
		{name: "env expands service variables and overrides them", links: ptr(false), objects: objs,
			env: []corev1.EnvVar{
				{Name: "API", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
				{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"},
				{Name: "NOPE", Value: "$(DB_SERVICE_HOST)"},
			},
			want: slices.Concat([]corev1.EnvVar{
				{Name: "API", Value: "https://10.96.0.1:443"},
				{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"},
				{Name: "NOPE", Value: "$(DB_SERVICE_HOST)"},
			}, without(kubernetes, "KUBERNETES_SERVICE_PORT"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := envPod()
			if tc.namespace != "" {
				pod.Namespace = tc.namespace
			}
			pod.Spec.EnableServiceLinks = tc.links
			c := &corev1.Container{Name: "c", Env: tc.env}
			got, err := podEnv(containerInput{Pod: pod, Container: c, Objects: tc.objects})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("podEnv =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
	// Commands see the service variables like any other.
	env, err := podEnv(containerInput{Pod: envPod(), Container: &corev1.Container{Name: "c"}, Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if got := expandCommand([]string{"wget", "$(WEB_API_SERVICE_HOST):$(WEB_API_SERVICE_PORT_HTTP)"}, env); got[1] != "10.96.0.5:80" {
		t.Errorf("expanded command %q", got)
	}
}
