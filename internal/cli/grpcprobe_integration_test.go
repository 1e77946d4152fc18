//go:build integration

package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// grpcHealthImage is busybox with /grpchealth (testdata/grpchealth) added.
const grpcHealthImage = "example.com/grpchealth:1"

var grpcHealthBin struct {
	once sync.Once
	data []byte
	err  error
}

// withGRPCHealth is a newNode option adding grpcHealthImage; it builds
// testdata/grpchealth once per test binary, and skips without a go tool.
func withGRPCHealth(t *testing.T) func(v1.Image) (string, v1.Image) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		goTool, err = exec.LookPath(filepath.Join(os.Getenv("GOROOT"), "bin", "go"))
	}
	if err != nil {
		t.Skip("needs the go tool to build testdata/grpchealth")
	}
	b := &grpcHealthBin
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "grpchealth")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "grpchealth")
		cmd := exec.Command(goTool, "build", "-o", bin, "./testdata/grpchealth")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./testdata/grpchealth: %v\n%s", err, out)
			return
		}
		b.data, b.err = os.ReadFile(bin)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return func(bb v1.Image) (string, v1.Image) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: "grpchealth", Mode: 0o755, Size: int64(len(b.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b.data); err != nil {
			t.Fatal(err)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(bb, layer)
		if err != nil {
			t.Fatal(err)
		}
		return grpcHealthImage, img
	}
}

// liveUp is an up running in the background whose output the test reads
// while it runs.
type liveUp struct {
	out, errOut lockedBuffer
	done        chan struct{}
	code        int
}

func (n *node) upInBackground(manifest string, args ...string) *liveUp {
	n.t.Helper()
	f := filepath.Join(n.t.TempDir(), "pod.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		n.t.Fatal(err)
	}
	u := &liveUp{done: make(chan struct{})}
	go func() {
		defer close(u.done)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err := Run(ctx, append(append([]string{}, n.flags...), append([]string{"up", "-f", f, "--image-pull=never"}, args...)...),
			Streams{In: strings.NewReader(""), Out: &u.out, Err: &u.errOut})
		if err != nil {
			u.code = 1
			if ee, ok := err.(exitError); ok {
				u.code = ee.code
			} else {
				fmt.Fprintln(&u.errOut, "Error:", err)
			}
		}
	}()
	// Whatever happens, the test waits for up to end (and the leak check
	// runs after it).
	n.t.Cleanup(func() { <-u.done })
	return u
}

// waitErr polls up's stderr until it has want; false if up ended first.
func (u *liveUp) waitErr(want string) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(u.errOut.String(), want) {
		select {
		case <-u.done:
			return strings.Contains(u.errOut.String(), want)
		case <-tick.C:
		}
	}
	return true
}

func (u *liveUp) wait() (string, string, int) {
	<-u.done
	return u.out.String(), u.errOut.String(), u.code
}

// gRPC readiness against a real grpc.health.v1 server: the named service
// is NOT_SERVING (the probe fails with the kubelet's message) until a file
// the test creates through a hostPath dir appears, or until a delay passed;
// only then is the container ready. A liveness probe on the overall status
// ("") never fails.
func TestProbes_GRPCReadiness(t *testing.T) {
	n := newNode(t, withGRPCHealth(t))
	shared := t.TempDir()
	u := n.upInBackground(fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: grpc-ready}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, hostPath: {path: %s}}]
  containers:
  - name: byfile
    image: %[2]s
    command: ["/grpchealth", "-port", "8081", "-ready-file", "/shared/ready"]
    volumeMounts: [{name: shared, mountPath: /shared}]
    readinessProbe:
      grpc: {port: 8081, service: ready-svc}
      periodSeconds: 1
    livenessProbe:
      grpc: {port: 8081}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 1
  - name: delayed
    image: %[2]s
    command: ["/grpchealth", "-port", "8082", "-ready-after", "2s"]
    readinessProbe:
      grpc: {port: 8082, service: ready-svc}
      periodSeconds: 1
`, shared, grpcHealthImage), "--timeout", "7s")

	notServing := `grpc-ready/byfile: Warning Unhealthy: Readiness probe failed: service unhealthy (responded with "NOT_SERVING")`
	if u.waitErr(notServing) {
		if strings.Contains(u.errOut.String(), "byfile: Running, ready") {
			t.Errorf("byfile turned ready before its service was SERVING:\n%s", u.errOut.String())
		}
	} else {
		t.Errorf("stderr lacks %q", notServing)
	}
	if err := os.WriteFile(filepath.Join(shared, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := u.wait()
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, c := range []string{"byfile", "delayed"} {
		if !before(errOut, c+": Running, not ready", c+": Running, ready") {
			t.Errorf("%s did not go from not ready to ready", c)
		}
		if !before(out, c+" | ready-svc: SERVING", c+" | stopped") {
			t.Errorf("%s's service never turned SERVING", c)
		}
	}
	if strings.Contains(errOut, "Liveness probe failed") {
		t.Errorf("the liveness probe on the overall status failed")
	}
	if row := tableRow(t, out, "grpc-ready"); row[3] != "0" {
		t.Errorf("final row = %v, want no restart", row)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// gRPC liveness against a real server: once the container is ready, the
// test removes the server's live file through a hostPath dir, its service
// stops serving, the liveness probe fails and the container is killed and
// restarted exactly once (the new server creates the file again and stays
// healthy).
func TestProbes_GRPCLivenessRestartsOnce(t *testing.T) {
	n := newNode(t, withGRPCHealth(t))
	shared := t.TempDir()
	u := n.upInBackground(fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: grpc-live}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, hostPath: {path: %s}}]
  containers:
  - name: c
    image: %s
    command: ["/grpchealth", "-port", "8081", "-live-file", "/shared/live"]
    volumeMounts: [{name: shared, mountPath: /shared}]
    readinessProbe:
      grpc: {port: 8081, service: ready-svc}
      periodSeconds: 1
    livenessProbe:
      grpc: {port: 8081, service: ready-svc}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
`, shared, grpcHealthImage), "--timeout", "10s")

	if u.waitErr("c: Running, ready") {
		if err := os.Remove(filepath.Join(shared, "live")); err != nil {
			t.Error(err)
		}
	} else {
		t.Errorf("c never turned ready")
	}
	out, errOut, _ := u.wait()
	killing := "grpc-live/c: Normal Killing: Container c failed liveness probe, will be restarted"
	for _, want := range []string{
		`grpc-live/c: Warning Unhealthy: Liveness probe failed: service unhealthy (responded with "NOT_SERVING")`,
		killing,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if k := strings.Count(errOut, killing); k != 1 {
		t.Errorf("killed %d times, want once", k)
	}
	// The restarted container turned ready again.
	if i := strings.Index(errOut, killing); i < 0 || !strings.Contains(errOut[i:], "c: Running, ready") {
		t.Errorf("c was not ready again after the restart")
	}
	if !strings.Contains(out, "c | ready-svc: NOT_SERVING (/shared/live removed)") {
		t.Errorf("the server did not see its live file removed")
	}
	if row := tableRow(t, out, "grpc-live"); row[3] != "1" {
		t.Errorf("final row = %v, want 1 restart", row)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}
