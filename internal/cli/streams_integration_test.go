//go:build integration

package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// kubectlIn runs kubectl with stdin and returns its combined output and
// exit code.
func (s *server) kubectlIn(stdin string, args ...string) (string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// pollKubectl runs kubectl until ok accepts its output, or fails the test.
func (s *server) pollKubectl(ok func(string) bool, args ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := s.kubectl(args...)
		if ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("kubectl %s: %q", strings.Join(args, " "), out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const streamsPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    kubectl.kubernetes.io/default-container: c
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: init
    image: busybox:1.36
    command: ["sh", "-c", "echo from-init"]
  - name: side
    image: busybox:1.36
    restartPolicy: Always
    command: ["sh", "-c", "echo from-side; exec sleep 3600"]
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "echo err >&2; sleep 0.3; echo line1; echo line2; echo line3; mkdir /www; echo hello-pf > /www/index.html; exec httpd -f -p 80 -h /www"]
    readinessProbe:
      tcpSocket: {port: 80}
      periodSeconds: 1
`

func TestStreams_Logs(t *testing.T) {
	s := newServer(t)
	s.apply(streamsPod)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
	all := "err\nline1\nline2\nline3\n"
	s.pollKubectl(func(out string) bool { return out == all }, "logs", "web", "-c", "c")
	// The annotation names the default container (kubectl resolves it).
	if out := s.mustKubectl("logs", "web"); out != all {
		t.Errorf("logs web: %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tail=2"}, "line2\nline3\n"},
		{[]string{"--tail=0"}, ""},
		{[]string{"--limit-bytes=6"}, "err\nli"},
		{[]string{"--since=1h"}, all},
		{[]string{"--since-time=2999-01-01T00:00:00Z"}, ""},
	} {
		if out := s.mustKubectl(append([]string{"logs", "web", "-c", "c"}, tc.args...)...); out != tc.want {
			t.Errorf("logs %v: %q, want %q", tc.args, out, tc.want)
		}
	}
	ts := s.mustKubectl("logs", "web", "-c", "c", "--timestamps")
	if !regexp.MustCompile(`(?m)\A(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) (err|line\d)\n){4}\z`).MatchString(ts) {
		t.Errorf("logs --timestamps: %q", ts)
	}
	if out := s.mustKubectl("logs", "web", "-c", "init"); out != "from-init\n" {
		t.Errorf("init container's log: %q", out)
	}
	if out := s.mustKubectl("logs", "web", "-c", "side"); out != "from-side\n" {
		t.Errorf("sidecar's log: %q", out)
	}
	if out, err := s.kubectl("logs", "web", "-c", "c", "--previous"); err == nil || !strings.Contains(out, `previous terminated container "c" in pod "web" not found`) {
		t.Errorf("logs --previous of a container never restarted: %v %q", err, out)
	}
	if out, err := s.kubectl("logs", "web", "-c", "nope"); err == nil || !strings.Contains(out, "container nope is not valid for pod web") {
		t.Errorf("logs of an unknown container: %v %q", err, out)
	}

	// -f follows until the container stops.
	s.apply(podYAML("count", hostname(t), "Never", "for i in 1 2 3 4 5 6; do echo n$i; sleep 0.5; done"))
	s.mustKubectl("wait", "--for=condition=Ready", "pod/count", "--timeout=60s")
	if out := s.mustKubectl("logs", "-f", "count"); out != "n1\nn2\nn3\nn4\nn5\nn6\n" {
		t.Errorf("logs -f: %q", out)
	}

	// --previous reads the instance before the current one.
	s.apply(`apiVersion: v1
kind: Pod
metadata:
  name: crash
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: d
    emptyDir: {}
  containers:
  - name: c
    image: busybox:1.36
    volumeMounts:
    - {name: d, mountPath: /d}
    command: ["sh", "-c", "n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /d/n; echo run$n; sleep 1; exit 3"]
`)
	s.pollKubectl(func(out string) bool { n, _ := strconv.Atoi(out); return n >= 1 }, "get", "pod", "crash", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
	prev := s.mustKubectl("logs", "crash", "--previous")
	cur, _ := s.kubectl("logs", "crash")
	if !regexp.MustCompile(`\Arun\d+\n\z`).MatchString(prev) || prev == cur {
		t.Errorf("logs --previous %q, current %q", prev, cur)
	}

	// A waiting container: the kubelet's message.
	s.apply(`apiVersion: v1
kind: Pod
metadata:
  name: cfg
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "3600"]
    env:
    - name: X
      valueFrom: {configMapKeyRef: {name: missing, key: k}}
`)
	s.pollKubectl(func(out string) bool {
		return strings.Contains(out, `container "c" in pod "cfg" is waiting to start: CreateContainerConfigError`)
	}, "logs", "cfg")
}

func TestStreams_ExecAndCp(t *testing.T) {
	s := newServer(t)
	s.apply(streamsPod)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")

	out, code := s.kubectlIn("", "exec", "web", "-c", "c", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") || !strings.Contains(out, "command terminated with exit code 3") {
		t.Errorf("exec exit 3: code %d, %q", code, out)
	}
	// The default container; the server may still be starting.
	s.pollKubectl(func(out string) bool { return out == "hello-pf\n" }, "exec", "web", "--", "cat", "/www/index.html")
	if out, code := s.kubectlIn("hello\nworld\n", "exec", "-i", "web", "-c", "c", "--", "sh", "-c", "cat; echo done"); code != 0 || out != "hello\nworld\ndone\n" {
		t.Errorf("exec -i: code %d, %q", code, out)
	}
	if out, code := s.kubectlIn("", "exec", "web", "-c", "side", "--", "sh", "-c", "echo in-side"); code != 0 || out != "in-side\n" {
		t.Errorf("exec in the sidecar: code %d, %q", code, out)
	}

	// -it: a terminal of 30x100 that grows to 40x120. The pty has the
	// client's size close to the process's start (crun sizes it racing the
	// process, so a first `stty size` may read nothing) and each new size
	// once kubectl's SIGWINCH went through: ask until it shows.
	term := startInTerminal(t, 30, 100, "kubectl", "--kubeconfig", s.kubeconfig, "exec", "-it", "web", "-c", "c", "--",
		"sh", "-c", `stty size; while read x; do [ "$x" = q ] && exit 5; stty size; done`)
	ask := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !term.seen(want, 500*time.Millisecond); {
			if time.Now().After(deadline) {
				t.Fatalf("exec -it: no %q on the terminal: %q", want, term.output())
			}
			typeIn(t, term, "go\r")
		}
	}
	ask("30 100")
	term.resize(40, 120)
	ask("40 120")
	typeIn(t, term, "q\r")
	if code := term.wait(); code != 5 {
		t.Errorf("exec -it: exit code %d, output %q", code, term.output())
	}

	// cp is tar through exec, both ways.
	dir := t.TempDir()
	up := filepath.Join(dir, "up.txt")
	if err := os.WriteFile(up, []byte("uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustKubectl("cp", up, "web:/tmp/up.txt", "-c", "c")
	if out, code := s.kubectlIn("", "exec", "web", "-c", "c", "--", "cat", "/tmp/up.txt"); code != 0 || out != "uploaded\n" {
		t.Errorf("after cp up: %d %q", code, out)
	}
	s.mustKubectl("cp", "web:/www/index.html", filepath.Join(dir, "down.html"), "-c", "c")
	if b, err := os.ReadFile(filepath.Join(dir, "down.html")); err != nil || string(b) != "hello-pf\n" {
		t.Errorf("cp down: %q %v", b, err)
	}
}

func TestStreams_PortForward(t *testing.T) {
	s := newServer(t)
	s.apply(streamsPod)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
	port := s.portForward("pod/web", "80")
	for i := 0; i < 3; i++ { // each GET is a new forwarded connection
		resp, err := http.Get("http://127.0.0.1:" + port + "/index.html")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello-pf\n" {
			t.Errorf("GET through port-forward: %d %q", resp.StatusCode, body)
		}
	}
}

func TestStreams_AttachAndRun(t *testing.T) {
	s := newServer(t)
	s.apply(`apiVersion: v1
kind: Pod
metadata:
  name: att
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.36
    stdin: true
    command: ["sh", "-c", "while read l; do echo got-$l; done; echo bye"]
`)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/att", "--timeout=60s")
	if out, code := s.kubectlIn("hi\n", "attach", "-i", "att", "-c", "c"); code != 0 || !strings.Contains(out, "got-hi\n") {
		t.Errorf("attach -i: code %d, %q", code, out)
	}

	out, code := s.kubectlIn("there\n", "run", "tmp", "--image=busybox:1.36", "--rm", "-i", "--restart=Never", "--", "sh", "-c", "read x; echo hi-$x")
	if code != 0 || !strings.Contains(out, "hi-there") || !strings.Contains(out, `pod "tmp" deleted`) {
		t.Errorf("run --rm -i: exit %d, %q", code, out)
	}

	// run --rm -it: a shell on a terminal; what is typed comes back, and
	// its exit ends the pod, which kubectl then deletes. The prompt
	// printed before the attach is not replayed, so the arithmetic tells
	// the shell's answer from the terminal's echo.
	term := startInTerminal(t, 30, 100, "kubectl", "--kubeconfig", s.kubeconfig, "run", "tty", "--image=busybox:1.36", "--rm", "-it", "--restart=Never", "--", "sh")
	term.waitFor("pressing enter")
	typeIn(t, term, "echo typed-$((6*7))\r")
	term.waitFor("typed-42")
	typeIn(t, term, "exit\r")
	if code := term.wait(); code != 0 || !strings.Contains(term.output(), `pod "tty" deleted`) {
		t.Errorf("run --rm -it: exit %d, %q", code, term.output())
	}

	// attach -it to a running terminal container.
	s.apply(`apiVersion: v1
kind: Pod
metadata:
  name: tty
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.36
    stdin: true
    tty: true
    command: ["sh", "-c", "while read l; do echo got-$l; done"]
`)
	s.mustKubectl("wait", "--for=condition=Ready", "pod/tty", "--timeout=60s")
	term = startInTerminal(t, 30, 100, "kubectl", "--kubeconfig", s.kubeconfig, "attach", "-it", "tty", "-c", "c")
	term.waitFor("pressing enter")
	typeIn(t, term, "one\r")
	term.waitFor("got-one")
	typeIn(t, term, "\x04") // ^D: the loop's read ends, and the container
	if code := term.wait(); code != 0 {
		t.Errorf("attach -it: exit %d, %q", code, term.output())
	}
	s.pollKubectl(func(out string) bool { return out == "Succeeded" }, "get", "pod", "tty", "-o", "jsonpath={.status.phase}")
}

// typeIn types on the terminal.
func typeIn(t *testing.T, term *terminal, s string) {
	t.Helper()
	if _, err := term.master.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// terminal runs a command on a pseudo-terminal of its own, as kubectl -t
// needs one.
type terminal struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	out    chan []byte
	buf    []byte
}

func startInTerminal(t *testing.T, rows, cols uint16, name string, args ...string) *terminal {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, master: master, cmd: cmd, out: make(chan []byte, 64)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	go func() {
		defer close(term.out)
		for {
			b := make([]byte, 4096)
			n, err := master.Read(b)
			if n > 0 {
				term.out <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return term
}

// waitFor reads the terminal until want appears, or fails the test.
func (tm *terminal) waitFor(want string) {
	tm.t.Helper()
	if !tm.seen(want, 60*time.Second) {
		tm.t.Fatalf("no %q on the terminal: %q", want, tm.buf)
	}
}

// seen reads the terminal until want appears (true) or for at most d.
func (tm *terminal) seen(want string, d time.Duration) bool {
	deadline := time.After(d)
	for !strings.Contains(string(tm.buf), want) {
		select {
		case b, ok := <-tm.out:
			if !ok {
				return strings.Contains(string(tm.buf), want)
			}
			tm.buf = append(tm.buf, b...)
		case <-deadline:
			return false
		}
	}
	return true
}

func (tm *terminal) resize(rows, cols uint16) {
	if err := unix.IoctlSetWinsize(int(tm.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		tm.t.Fatal(err)
	}
}

// wait waits for the command and drains the terminal; it returns the exit
// code.
func (tm *terminal) wait() int {
	err := tm.cmd.Wait()
	timeout := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case b, ok := <-tm.out:
			if !ok {
				done = true
			}
			tm.buf = append(tm.buf, b...)
		case <-timeout:
			done = true
		}
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

func (tm *terminal) output() string { return string(tm.buf) }

// portForward runs kubectl port-forward from a free local port to remote
// of target until the test ends, and returns the local port.
func (s *server) portForward(target, remote string) string {
	s.t.Helper()
	// Local port 0: kubectl takes a free one and says which.
	cmd := exec.Command("kubectl", "--kubeconfig", s.kubeconfig, "port-forward", target, ":"+remote)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	var output lockedBuffer
	s.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if s.t.Failed() {
			s.t.Logf("kubectl port-forward:\n%s", output.String())
		}
	})
	forwarding := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> ` + remote + `$`)
	ready := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(&output, sc.Text())
			if m := forwarding.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		ready <- ""
	}()
	var port string
	select {
	case port = <-ready:
		if port == "" {
			s.t.Fatalf("port-forward ended: %s", output.String())
		}
	case <-time.After(30 * time.Second):
		s.t.Fatal("port-forward not ready")
	}
	return port
}
