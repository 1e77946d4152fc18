package apiserver

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// kubectlEnv drives the real kubectl against an in-process server.
type kubectlEnv struct {
	t          *testing.T
	dir        string
	kubeconfig string
}

func newKubectl(t *testing.T) *kubectlEnv {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not on PATH")
	}
	srv, cs := startServer(t)
	bootstrapped(t, cs)
	dir := t.TempDir()
	k := &kubectlEnv{t: t, dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := srv.WriteKubeconfig(k.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *kubectlEnv) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "kubectl", append([]string{"--cache-dir", filepath.Join(k.dir, "cache")}, args...)...)
	c.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig, "HOME="+k.dir)
	c.Dir = k.dir
	return c
}

// run runs kubectl and returns stdout+stderr; wantErr says whether it must fail.
func (k *kubectlEnv) run(wantErr bool, args ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := k.cmd(ctx, args...).CombinedOutput()
	if (err != nil) != wantErr {
		k.t.Fatalf("kubectl %s: err=%v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (k *kubectlEnv) ok(args ...string) string { k.t.Helper(); return k.run(false, args...) }

func (k *kubectlEnv) write(name, content string) string {
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		k.t.Fatal(err)
	}
	return p
}

func wantMatch(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s: output does not match %q:\n%s", what, p, out)
		}
	}
}

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports: [{containerPort: 80}]
`

func TestKubectl(t *testing.T) {
	k := newKubectl(t)
	wantMatch(t, "version", k.ok("version"), `Server Version: v1\.32\.`)
	wantMatch(t, "get pods (empty)", k.ok("get", "pods"), `^No resources found in default namespace\.\n$`)

	pod := k.write("pod.yaml", podYAML)
	wantMatch(t, "apply", k.ok("apply", "-f", pod), `^pod/web created\n$`)
	wantMatch(t, "get pods", k.ok("get", "pods"),
		`^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n`, `\nweb\s+0/1\s+Pending\s+0\s+\d+s\n$`)
	wantMatch(t, "get -o yaml", k.ok("get", "pod", "web", "-o", "yaml"),
		`kind: Pod`, `uid: `, `resourceVersion: "\d+"`, `kubectl.kubernetes.io/last-applied-configuration`,
		`imagePullPolicy: IfNotPresent`, `protocol: TCP`, `phase: Pending`)
	wantMatch(t, "apply unchanged", k.ok("apply", "-f", pod), `^pod/web unchanged\n$`)
	wantMatch(t, "apply --server-side", k.ok("apply", "--server-side", "-f", pod), `^pod/web serverside-applied\n$`)
	wantMatch(t, "managedFields", k.ok("get", "pod", "web", "-o", "yaml", "--show-managed-fields"),
		`manager: kubectl\n\s+operation: Apply`)
	bad := k.write("bad.yaml", strings.Replace(podYAML, "image: nginx:1.27", "image: nginx:1.27\n    bogus: 1", 1))
	wantMatch(t, "apply --validate=strict", k.run(true, "apply", "--validate=strict", "-f", bad),
		`strict decoding error: unknown field "spec\.containers\[0\]\.bogus"`)
	// The OpenAPI documents: explain, and kubectl's own refusal of what
	// the server does not serve.
	wantMatch(t, "explain", k.ok("explain", "pod.spec.initContainers.restartPolicy"),
		`KIND:\s+Pod\nVERSION:\s+v1\n`, `FIELD: restartPolicy <string>`, `RestartPolicy defines the restart behavior of individual containers`)
	wantMatch(t, "explain deployment", k.ok("explain", "deployments.spec.strategy"), `GROUP:\s+apps\n`, `FIELD: strategy <DeploymentStrategy>`)
	wantMatch(t, "explain --output=plaintext-openapiv2", k.ok("explain", "pod.spec.restartPolicy", "--output=plaintext-openapiv2"), `FIELD:\s+restartPolicy <string>`)
	unknown := k.write("cron.yaml", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {schedule: '* * * * *', jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: x}]}}}}}\n")
	wantMatch(t, "apply of a kind not served", k.run(true, "apply", "--validate=false", "-f", unknown), `no matches for kind "CronJob" in version "batch/v1"`)
	wantMatch(t, "client-side validation", k.run(true, "create", "--validate=true", "-f", bad), `unknown field "spec\.containers\[0\]\.bogus"`)
	wantMatch(t, "get -A --show-labels", k.ok("get", "pods", "-A", "--show-labels"), `\ndefault\s+web\s+0/1\s+Pending\s+0\s+\S+\s+app=web\n`)

	wantMatch(t, "create configmap", k.ok("create", "configmap", "x", "--from-literal=a=b"), `^configmap/x created\n$`)
	wantMatch(t, "create configmap again", k.run(true, "create", "configmap", "x", "--from-literal=a=b"), `configmaps "x" already exists`)
	wantMatch(t, "get cm", k.ok("get", "cm"), `^NAME\s+DATA\s+AGE\n`, `\nkube-root-ca\.crt\s+1\s+`, `\nx\s+1\s+`)
	wantMatch(t, "label", k.ok("label", "cm", "x", "l=v"), `^configmap/x labeled\n$`)
	wantMatch(t, "annotate", k.ok("annotate", "cm", "x", "n=v"), `^configmap/x annotated\n$`)
	wantMatch(t, "patch merge", k.ok("patch", "cm", "x", "--type=merge", "-p", `{"data":{"m":"1"}}`), `^configmap/x patched\n$`)
	wantMatch(t, "patch json", k.ok("patch", "cm", "x", "--type=json", "-p", `[{"op":"add","path":"/data/j","value":"2"}]`), `^configmap/x patched\n$`)
	wantMatch(t, "patch strategic", k.ok("patch", "cm", "x", "--type=strategic", "-p", `{"data":{"s":"3"}}`), `^configmap/x patched\n$`)
	wantMatch(t, "patched", k.ok("get", "cm", "x", "-o", "jsonpath={.data} {.metadata.labels} {.metadata.annotations}"),
		`^\{"a":"b","j":"2","m":"1","s":"3"\} \{"l":"v"\} \{"n":"v"\}$`)
	wantMatch(t, "delete cm", k.ok("delete", "configmap", "x"), `^configmap "x" deleted\n$`)
	wantMatch(t, "get deleted", k.run(true, "get", "cm", "x"), `Error from server \(NotFound\): configmaps "x" not found`)

	// get -w sees an update made while it watches.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var watchOut bytes.Buffer
	w := k.cmd(ctx, "get", "pods", "-w", "--output-watch-events")
	w.Stdout, w.Stderr = &watchOut, &watchOut
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	eventuallyOut(t, &watchOut, `ADDED\s+web`)
	k.ok("label", "pod", "web", "tier=front")
	eventuallyOut(t, &watchOut, `MODIFIED\s+web\s+0/1\s+Pending`)
	w.Process.Kill()
	w.Wait()

	wantMatch(t, "get ns", k.ok("get", "ns"), `\ndefault\s+Active\s+`, `\nkube-node-lease\s+Active`, `\nkube-public\s+Active`, `\nkube-system\s+Active`)
	wantMatch(t, "get sa", k.ok("get", "sa"), `\ndefault\s+0\s+`)
	wantMatch(t, "get svc kubernetes", k.ok("get", "svc", "kubernetes"), `\nkubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443/TCP\s+`)
	wantMatch(t, "api-resources", k.ok("api-resources"), `\npods\s+po\s+v1\s+true\s+Pod\n`, `\nconfigmaps\s+cm\s+v1\s+true\s+ConfigMap\n`, `\nnamespaces\s+ns\s+v1\s+false\s+Namespace\n`)
	wantMatch(t, "delete --force", k.ok("delete", "pod", "web", "--grace-period=0", "--force"), `pod "web" force deleted`)
	wantMatch(t, "get pods (gone)", k.ok("get", "pods"), `No resources found in default namespace\.`)

	// A namespace with a pod on a node stays Terminating until the node
	// agent deletes the pod.
	k.ok("create", "ns", "x")
	k.write("bound.yaml", strings.Replace(podYAML, "spec:\n", "spec:\n  nodeName: node1\n", 1))
	k.ok("apply", "-n", "x", "-f", filepath.Join(k.dir, "bound.yaml"))
	wantMatch(t, "delete ns", k.ok("delete", "ns", "x", "--wait=false"), `namespace "x" deleted`)
	wantMatch(t, "ns terminating", k.ok("get", "ns", "x"), `\nx\s+Terminating\s+`)
	wantMatch(t, "pod terminating", k.ok("get", "pods", "-n", "x"), `\nweb\s+0/1\s+Terminating\s+`)
	k.ok("delete", "pod", "web", "-n", "x", "--grace-period=0", "--force")
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := k.cmd(context.Background(), "get", "ns", "x").CombinedOutput()
		if strings.Contains(string(out), `namespaces "x" not found`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("namespace x not removed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventuallyOut waits until buf matches pattern.
func eventuallyOut(t *testing.T, buf *bytes.Buffer, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if re.MatchString(buf.String()) {
			return
		}
	}
	t.Fatalf("no %q in:\n%s", pattern, buf.String())
}

func TestKubectl_DefaultsComeBack(t *testing.T) {
	k := newKubectl(t)
	wantMatch(t, "delete cm --all", k.ok("delete", "cm", "--all"), `configmap "kube-root-ca.crt" deleted`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := k.cmd(context.Background(), "get", "cm", "kube-root-ca.crt").CombinedOutput()
		if strings.Contains(string(out), "kube-root-ca.crt   1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-root-ca.crt not recreated:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
