package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"peapod/internal/registry"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		name       string
		in         string
		pods       []string // pod names, in order
		configMaps []string
		secrets    []string
		services   []string
	}{
		{
			name: "single pod",
			in: `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: c, image: busybox}]
`,
			pods: []string{"web"},
		},
		{
			name: "multi-document with comments-only and empty documents",
			in: `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1"}
---
# only a comment here
# and another
---
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  containers: [{name: c, image: busybox}]
`,
			pods: []string{"a", "b"}, configMaps: []string{"cfg"}, secrets: []string{"creds"}, services: []string{"svc"},
		},
		{
			name: "kind List",
			in: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: one}
  spec:
    containers: [{name: c, image: busybox}]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cfg}
- apiVersion: v1
  kind: Pod
  metadata: {name: two}
  spec:
    containers: [{name: c, image: busybox}]
`,
			pods: []string{"one", "two"}, configMaps: []string{"cfg"},
		},
		{
			name: "JSON",
			in: `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
 "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "true"]}]}}`,
			pods: []string{"j"},
		},
		{
			name:    "JSON List",
			in:      `{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}]}`,
			secrets: []string{"s"},
		},
		{name: "empty input", in: ""},
		{name: "comments only", in: "# nothing\n# here\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objs Objects
			if err := objs.Decode(strings.NewReader(tc.in), "test.yaml"); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var pods, cms, secrets, svcs []string
			for _, p := range objs.Pods {
				pods = append(pods, p.Name)
			}
			for _, c := range objs.ConfigMaps {
				cms = append(cms, c.Name)
			}
			for _, s := range objs.Secrets {
				secrets = append(secrets, s.Name)
			}
			for _, s := range objs.Services {
				svcs = append(svcs, s.Name)
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"pods", pods, tc.pods}, {"configMaps", cms, tc.configMaps}, {"secrets", secrets, tc.secrets}, {"services", svcs, tc.services}} {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestDecode_Fields(t *testing.T) {
	in := `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c"]
    args: ["echo hi"]
    env: [{name: A, value: "1"}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
data: {token: aGVsbG8=}
`
	var objs Objects
	if err := objs.Decode(strings.NewReader(in), "f.yaml"); err != nil {
		t.Fatal(err)
	}
	p := objs.Pods[0]
	if p.Namespace != "prod" || p.Labels["app"] != "web" || p.Spec.RestartPolicy != "Never" ||
		!reflect.DeepEqual(p.Spec.Containers[0].Command, []string{"sh", "-c"}) ||
		!reflect.DeepEqual(p.Spec.Containers[0].Args, []string{"echo hi"}) ||
		p.Spec.Containers[0].Env[0].Value != "1" {
		t.Errorf("pod decoded wrong: %+v", p)
	}
	s := objs.Secrets[0]
	if string(s.Data["token"]) != "hello" || s.StringData["password"] != "hunter2" {
		t.Errorf("secret decoded wrong: data=%q stringData=%q", s.Data, s.StringData)
	}
}

func TestDecode_Errors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string // substrings of the error
	}{
		{
			name: "unknown field",
			in: `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: c
    imagee: busybox
`,
			want: []string{"pods.yaml", "document 2", `unknown field "spec.containers[0].imagee"`},
		},
		{
			name: "duplicate field",
			in: `apiVersion: v1
kind: Pod
metadata: {name: web}
metadata: {name: web2}
`,
			want: []string{"pods.yaml", "document 1", `"metadata"`},
		},
		{
			name: "unknown field inside a List item",
			in: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: web}
  spec: {containerz: []}
`,
			want: []string{"pods.yaml", "document 1", "items[0]", `unknown field "spec.containerz"`},
		},
		{
			name: "unsupported kind from another group",
			in: `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
`,
			want: []string{"pods.yaml", "document 1", `unsupported kind "Deployment" (apiVersion "apps/v1")`},
		},
		{
			name: "unsupported core kind",
			in: `apiVersion: v1
kind: Namespace
metadata: {name: ns1}
`,
			want: []string{"document 1", `unsupported kind "Namespace" (apiVersion "v1")`},
		},
		{
			name: "unsupported kind in a List",
			in: `apiVersion: v1
kind: List
items:
- {apiVersion: batch/v1, kind: Job, metadata: {name: j}}
`,
			want: []string{"document 1", "items[0]", `unsupported kind "Job"`},
		},
		{
			name: "missing kind",
			in: `apiVersion: v1
metadata: {name: x}
`,
			want: []string{"pods.yaml", "document 1", "Kind"},
		},
		{
			name: "malformed YAML",
			in: `apiVersion: v1
kind: Pod
metadata:
  name: [unclosed
`,
			want: []string{"pods.yaml"},
		},
		{
			name: "wrong type",
			in: `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: c
    image: busybox
    command: 'setup.sh'
`,
			want: []string{"pods.yaml", "document 1", "command"},
		},
		{
			name: "a scalar document",
			in:   "just a string\n",
			want: []string{"pods.yaml", "document 1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objs Objects
			err := objs.Decode(strings.NewReader(tc.in), "pods.yaml")
			if err == nil {
				t.Fatalf("Decode = nil, want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestDecode_Examples: every example in the repository decodes to at least
// one pod that defaults and validates.
func TestDecode_Examples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var objs Objects
		if err := objs.Decode(strings.NewReader(string(data)), file); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(objs.Pods)+len(objs.Services) == 0 { // a file may hold only the Services of another
			t.Errorf("%s: no pods and no services", file)
		}
		for _, p := range objs.Pods {
			registry.DefaultPod(p)
			if err := registry.ValidatePod(p); err != nil {
				t.Errorf("%s: %v", file, err)
			}
		}
	}
}
