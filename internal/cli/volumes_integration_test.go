//go:build integration

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configMap (a dir and one key by subPath), secret, downwardAPI and
// hostPath volumes, with the objects in the same YAML as the pod.
func TestUp_ProjectedVolumes(t *testing.T) {
	n := newNode(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "from-host"), []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := n.up(fmt.Sprintf(`
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data:
  nginx.conf: "worker_processes 1;\n"
  index.html: "<h1>hi</h1>\n"
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData:
  password: hunter2
---
apiVersion: v1
kind: Pod
metadata:
  name: projections
  labels: {app: web, tier: front}
spec:
  restartPolicy: Never
  containers:
  - name: show
    image: busybox
    command:
    - sh
    - -c
    - |
      echo "conf:$(cat /etc/nginx/nginx.conf)"
      echo "dir:$(cat /cfg/index.html)"
      echo "link:$(readlink /cfg/index.html)"
      echo "secret:$(cat /secret/password)"
      echo "secmode:$(stat -L -c %%a /secret/password)"
      echo "secfs:$(grep ' /secret ' /proc/mounts | cut -d' ' -f3)"
      echo "labels:$(cat /info/labels | tr '\n' ' ')"
      echo "host:$(cat /host/from-host)"
      echo written > /host/from-pod
      touch /cfg/x 2>/dev/null && echo cfg-writable || echo cfg-refused
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: cfg, mountPath: /etc/nginx/nginx.conf, subPath: nginx.conf}
    - {name: sec, mountPath: /secret}
    - {name: info, mountPath: /info}
    - {name: host, mountPath: /host}
  volumes:
  - name: cfg
    configMap: {name: web-config}
  - name: sec
    secret: {secretName: creds, defaultMode: 0400}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
  - name: host
    hostPath: {path: %s, type: Directory}
`, host))
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"show | conf:worker_processes 1;",
		"show | dir:<h1>hi</h1>",
		"show | link:..data/index.html",
		"show | secret:hunter2",
		"show | secmode:400",
		"show | secfs:tmpfs",
		`show | labels:app="web" tier="front"`,
		"show | host:host data",
		"show | cfg-refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if data, err := os.ReadFile(filepath.Join(host, "from-pod")); err != nil || string(data) != "written\n" {
		t.Errorf("hostPath write: %q, %v", data, err)
	}
}

// A missing non-optional ConfigMap fails the pod's volume setup with an
// error naming the volume and the object.
func TestUp_MissingConfigMap(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: nocm}
spec:
  restartPolicy: Never
  containers:
  - {name: a, image: busybox, command: ["true"], volumeMounts: [{name: cfg, mountPath: /cfg}]}
  volumes:
  - name: cfg
    configMap: {name: absent}
`, "--timeout", "5s")
	// As the kubelet: the pod waits in ContainerCreating with FailedMount
	// warnings, retrying, until it is stopped.
	if code == 0 || !strings.Contains(errOut, `nocm: Warning FailedMount: MountVolume.SetUp failed: volume "cfg": configmap "absent" not found`) ||
		!strings.Contains(errOut, "a: Waiting: ContainerCreating") {
		t.Errorf("exit %d:\n%s\n%s", code, out, errOut)
	}
	if row := tableRow(t, out, "nocm"); row[2] != "ContainerCreating" {
		t.Errorf("final row = %v", row)
	}
}
