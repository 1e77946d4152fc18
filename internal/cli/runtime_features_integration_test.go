//go:build integration

package cli

import (
	"os"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"

	"peapod/internal/testenv"
)

// wantLines fails t for each line of want missing from out.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// shareProcessNamespace: PID 1 is the infra, the sidecar reads the main
// container's filesystem through /proc/<pid>/root and signals it.
func TestUp_ShareProcessNamespace(t *testing.T) {
	testenv.RequireBinaries(t, "catatonit")
	n := newNode(t)
	out, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  shareProcessNamespace: true
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo $$$$ > /tmp/mark; exec sleep 1000"] # $$ is $(VAR) syntax for $
  - name: side
    image: busybox
    command:
    - sh
    - -c
    - |
      find() { for p in /proc/[0-9]*; do cat $p/root/tmp/mark 2>/dev/null && return; done; return 1; }
      i=0; until m=$(find); do i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.05; done
      echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
      [ "$(tr '\0' ' ' < /proc/$m/cmdline)" = "sleep 1000 " ] && echo found-main && kill -TERM $m
`, "--timeout", "30s")
	if !regexp.MustCompile(`side \| pid1=\S*catatonit -P \n`).MatchString(out) {
		t.Errorf("PID 1 is not the infra:\n%s", out)
	}
	wantLines(t, out, "side | found-main")
	if !strings.Contains(errOut, "main: Terminated: Error (exit code 143)") || !strings.Contains(errOut, "side: Terminated: Completed (exit code 0)") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// hostNetwork/hostIPC/hostPID: the node's namespaces and name, and the
// host-network /etc/hosts with hostAliases.
func TestUp_HostNamespaces(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: onhost}
spec:
  hostNetwork: true
  hostIPC: true
  hostPID: true
  restartPolicy: Never
  hostAliases:
  - {ip: 10.9.8.7, hostnames: [db.example, db]}
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo name=$(hostname); for n in net ipc uts pid; do echo $(readlink /proc/self/ns/$n); done; cat /etc/hosts"]
`)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	host, _ := os.Hostname()
	want := []string{"c | name=" + host, "c | # Kubernetes-managed hosts file (host network).", "c | # Entries added by HostAliases.", "c | 10.9.8.7\tdb.example\tdb"}
	// Not /proc/self: the main thread may be wedged in a sandbox's
	// namespaces (conmon's pinNamespaces); no other thread is.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	for _, ns := range []string{"net", "ipc", "uts", "pid"} {
		l, err := os.Readlink("/proc/thread-self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, "c | "+l)
	}
	wantLines(t, out, want...)
}

// /etc/hosts of a pod with its own network: the kubelet's file with the
// hostAliases, and the subdomain in the hostname file with setHostnameAsFQDN.
func TestUp_EtcHosts(t *testing.T) {
	n := newNode(t)
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: hosts}
spec:
  hostname: web
  subdomain: svc1
  setHostnameAsFQDN: true
  restartPolicy: Never
  hostAliases:
  - {ip: 127.0.0.1, hostnames: [foo.local, bar.local]}
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo name=$(hostname); cat /etc/hosts"]
`)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	wantLines(t, out,
		"c | name=web.svc1.default.svc.cluster.local",
		"c | # Kubernetes-managed hosts file.",
		"c | 127.0.0.1\tlocalhost",
		"c | fe00::2\tip6-allrouters",
		"c | ",
		"c | # Entries added by HostAliases.",
		"c | 127.0.0.1\tfoo.local\tbar.local")
	// The pod's own line holds its IP: the file is rewritten in place
	// once the network is attached, before the container starts.
	podNet := strings.TrimSuffix(n.net.PodCIDR, "0/24")
	if !regexp.MustCompile(`(?m)^c \| ` + regexp.QuoteMeta(podNet) + `\d+\tweb\.svc1\.default\.svc\.cluster\.local\tweb$`).MatchString(out) {
		t.Errorf("no line with the pod IP (%sN) and its names:\n%s", podNet, out)
	}
}

// A container over its memory limit is reported OOMKilled, exit 137.
func TestUp_OOMKilled(t *testing.T) {
	n := newNode(t)
	_, errOut, _ := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox
    command: ["sh", "-c", "tail /dev/zero"]
    resources:
      limits: {memory: 16Mi}
`)
	if !strings.Contains(errOut, "hog: Terminated: OOMKilled (exit code 137)") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// securityContext through the real runtime.
func TestUp_SecurityContext(t *testing.T) {
	n := newNode(t)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	bnd := regexp.MustCompile(`CapBnd:\s+(\S+)`).FindSubmatch(status)
	if bnd == nil {
		t.Fatal("no CapBnd")
	}
	out, errOut, code := n.up(`
apiVersion: v1
kind: Pod
metadata: {name: sec}
spec:
  restartPolicy: Never
  volumes:
  - {name: data, emptyDir: {}}
  containers:
  - name: ids
    image: busybox
    command: ["sh", "-c", "echo uid=$(id -u) gid=$(id -g)"]
    securityContext: {runAsUser: 1000, runAsGroup: 3000}
  - name: rofs
    image: busybox
    command: ["sh", "-c", "touch /x 2>/dev/null && echo root-writable || echo root-readonly; touch /data/x && echo volume-writable"]
    securityContext: {readOnlyRootFilesystem: true}
    volumeMounts: [{name: data, mountPath: /data}]
  - name: dropall
    image: busybox
    command: ["sh", "-c", "grep CapEff /proc/self/status; chown 65534 /tmp 2>/dev/null && echo chown-ok || echo chown-denied; echo devs=$(ls /dev | wc -l)"]
    securityContext: {capabilities: {drop: [ALL]}}
  - name: netadmin
    image: busybox
    command: ["sh", "-c", "grep CapEff /proc/self/status"]
    securityContext: {capabilities: {add: [NET_ADMIN]}}
  - name: priv
    image: busybox
    command: ["sh", "-c", "grep CapEff /proc/self/status; echo devs=$(ls /dev | wc -l)"]
    securityContext: {privileged: true}
  - name: nnp
    image: busybox
    command: ["sh", "-c", "grep NoNewPrivs /proc/self/status"]
    securityContext: {allowPrivilegeEscalation: false}
`, "--timeout", "30s")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	wantLines(t, out,
		"ids | uid=1000 gid=3000",
		"rofs | root-readonly", "rofs | volume-writable",
		"dropall | CapEff:\t0000000000000000", "dropall | chown-denied",
		// The default set (0xa80425fb) plus NET_ADMIN (bit 12).
		"netadmin | CapEff:\t00000000a80435fb",
		// Every capability the node's bounding set allows.
		"priv | CapEff:\t"+string(bnd[1]),
		"nnp | NoNewPrivs:\t1")
	devs := func(c string) int {
		m := regexp.MustCompile(c + ` \| devs=(\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no device count from %s:\n%s", c, out)
		}
		v, _ := strconv.Atoi(m[1])
		return v
	}
	if p, d := devs("priv"), devs("dropall"); p <= d {
		t.Errorf("privileged /dev has %d entries, unprivileged %d", p, d)
	}

	// runAsNonRoot with an image that runs as root is refused.
	out, errOut, _ = n.up(`
apiVersion: v1
kind: Pod
metadata: {name: nonroot}
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: c, image: busybox, command: ["sh", "-c", "echo started"]}
`, "--timeout", "3s")
	if want := "c: Waiting: CreateContainerConfigError: container has runAsNonRoot and image will run as root"; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	if strings.Contains(out, "started") {
		t.Errorf("the container ran:\n%s", out)
	}
}
