//go:build integration

package cli

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// A container's environment is built the kubelet's way from a ConfigMap and
// a Secret given in the same file: envFrom with a prefix, each valueFrom
// kind, $(VAR) in env and args, and the image's env underneath.
func TestUp_Env(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data:
  mode: fast
  level: "3"
  has space: skipped
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
data:
  password: czNjcmV0
---
apiVersion: v1
kind: Pod
metadata:
  name: envpod
  labels: {app: envtest}
  annotations: {example.com/owner: team-a}
spec:
  restartPolicy: Never
  containers:
  - name: show
    image: busybox
    resources:
      limits: {memory: 64Mi}
      requests: {cpu: 250m}
    envFrom:
    - {prefix: CFG_, configMapRef: {name: app-config}}
    - secretRef: {name: app-secret}
    - configMapRef: {name: absent, optional: true}
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: OWNER, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['example.com/owner']"}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: CPU_M, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
    - {name: CPU_LIMIT, valueFrom: {resourceFieldRef: {containerName: show, resource: limits.cpu}}}
    - {name: LEVEL, valueFrom: {configMapKeyRef: {name: app-config, key: level}}}
    - {name: PASS, valueFrom: {secretKeyRef: {name: app-secret, key: password}}}
    - {name: OPT, valueFrom: {configMapKeyRef: {name: app-config, key: absent, optional: true}}}
    - {name: GREETING, value: "$(POD_NAME)/$(POD_NS) at $(CFG_mode) $$(POD_NAME) $(LATER) $(PATH)"}
    - {name: LATER, value: later}
    command: ["sh", "-c", "echo \"mode=$CFG_mode level=$LEVEL pass=$PASS secret=$password pod=$POD_NAME ns=$POD_NS app=$APP owner=$OWNER mem=$MEM_MI cpu=$CPU_M opt=${OPT-unset}\"; echo \"cpulimit=$CPU_LIMIT uid=${#POD_UID}\"; echo \"greeting=$GREETING\"; echo \"args=$0,$1,$2\"; echo \"path=${PATH:+set}\"; env | grep -c skipped || true"]
    args: ["$(LEVEL)", "$(CFG_mode)-$(PASS)", "$$(LEVEL)"]
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"show | mode=fast level=3 pass=s3cret secret=s3cret pod=envpod ns=default app=envtest owner=team-a mem=64 cpu=250 opt=unset",
		"show | cpulimit=" + strconv.Itoa(runtime.NumCPU()) + " uid=",
		// Only the pod's own variables defined so far are expanded; the
		// image's PATH is not one of them.
		"show | greeting=envpod/default at fast $(POD_NAME) $(LATER) $(PATH)",
		"show | args=3,fast-s3cret,$(LEVEL)",
		"show | path=set",
		"show | 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "uid=0") {
		t.Errorf("metadata.uid is empty:\n%s", out)
	}
}

// A missing key of a ConfigMap that exists holds the container back with
// CreateContainerConfigError, the kubelet's message included.
func TestUp_EnvMissingKey(t *testing.T) {
	n := newNode(t)
	out, errOut, _ := n.up(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {present: "1"}
---
apiVersion: v1
kind: Pod
metadata: {name: broken}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo started"]
    env:
    - {name: X, valueFrom: {configMapKeyRef: {name: cfg, key: missing}}}
`, "--timeout", "3s")
	if want := "c: Waiting: CreateContainerConfigError: couldn't find key missing in ConfigMap default/cfg"; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	if strings.Contains(out, "started") {
		t.Errorf("the container ran:\n%s", out)
	}
}
