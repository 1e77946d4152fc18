//go:build integration

package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"peapod/internal/image/busybox"
	"peapod/internal/testenv"
)

// startRegistry runs Debian's docker-registry on a loopback port of its own with
// storage in a temp dir, and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed (Debian package docker-registry)")
	}
	// A port of a reserved net: below the ephemeral range, so no
	// connection takes it, and no other test process has it.
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.ReserveNet(t, 126).HostPort(0))

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// Gone with the test binary too, even when a timeout panic skips the
	// cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the registry we started, by its PID
		<-exited
		if t.Failed() {
			t.Logf("registry log:\n%s", logs.String())
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry on %s not ready: %v\n%s", addr, err, logs.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("registry exited: %v\n%s", err, logs.String())
		case <-tick.C:
		}
	}
}

func TestIntegrationPull(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t)
	img, err := busybox.Build()
	if err != nil {
		t.Skipf("cannot build busybox image: %v", err)
	}
	wantID, _ := img.ConfigName()

	ref := addr + "/peapod/busybox:1"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}

	s := openStore(t)
	got, err := s.Pull(ctx, ref, PullOptions{Insecure: true, Progress: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != wantID.String() {
		t.Errorf("ID %s, want %s", got.ID, wantID)
	}
	if !slices.Equal(got.Names, []string{ref}) {
		t.Errorf("Names %v, want [%s]", got.Names, ref)
	}
	md, _ := img.Digest()
	byDigest := addr + "/peapod/busybox@" + md.String()
	if !slices.Equal(got.Digests, []string{byDigest}) {
		t.Errorf("Digests %v, want [%s]", got.Digests, byDigest)
	}
	if g, err := s.Get(ctx, byDigest); err != nil || g.ID != got.ID {
		t.Errorf("Get by digest: %v, %v", g, err)
	}
	dirs, err := s.Layers(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 1 {
		t.Fatalf("Layers = %v", dirs)
	}
	if fi, err := os.Stat(filepath.Join(dirs[0], "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox: %v, %v", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dirs[0], "bin/sh")); err != nil || l != "/bin/busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}

	// A second pull of the same image fetches nothing new and changes nothing.
	again, err := s.Pull(ctx, ref, PullOptions{Insecure: true})
	if err != nil || again.ID != got.ID {
		t.Fatalf("second pull: %v, %v", again, err)
	}

	if _, err := s.Pull(ctx, addr+"/peapod/missing:1", PullOptions{Insecure: true}); err == nil {
		t.Error("pull of a missing image succeeded")
	}
}

func TestIntegrationPullIndex(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t)
	ours, err := busybox.Build()
	if err != nil {
		t.Skipf("cannot build busybox image: %v", err)
	}
	other := imageOf(t, "other-arch", layerOf(t, fileE("other", "x")))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}},
		mutate.IndexAddendum{Add: ours, Descriptor: v1.Descriptor{Platform: &platformV}},
	)
	if platformV.Architecture == "s390x" {
		t.Skip("the decoy platform is this one")
	}
	ref := addr + "/multi:latest"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	got, err := s.Pull(ctx, ref, PullOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := ours.ConfigName()
	if got.ID != wantID.String() {
		t.Errorf("pulled %s, want the %s image %s", got.ID, platformV.Architecture, wantID)
	}
	// The repo digest is the index's: that is what "multi@sha256:..." names.
	idxDigest, _ := idx.Digest()
	if g, err := s.Get(ctx, addr+"/multi@"+idxDigest.String()); err != nil || g.ID != got.ID {
		t.Errorf("Get by index digest: %v, %v", g, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Pull(ctx, ref, PullOptions{Insecure: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("pull with a cancelled context: %v", err)
	}
}

var platformV = platform()

// blobGate is a proxy in front of the registry that holds each layer
// download until `want` of them are in flight (or release closes), and
// records how many were at once.
type blobGate struct {
	want     int
	mu       sync.Mutex
	inFlight int
	most     int
	full     chan struct{} // closed once want are in flight
	release  chan struct{}
}

func newBlobGate(want int) *blobGate {
	return &blobGate{want: want, full: make(chan struct{}), release: make(chan struct{})}
}

func (g *blobGate) handler(upstream string) http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			proxy.ServeHTTP(w, r)
			return
		}
		g.mu.Lock()
		g.inFlight++
		g.most = max(g.most, g.inFlight)
		full, release := g.full, g.release
		if g.inFlight == g.want {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		g.mu.Unlock()
		select {
		case <-full:
		case <-release:
		case <-r.Context().Done():
		}
		proxy.ServeHTTP(w, r)
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	})
}

// most is the most layer downloads that were in flight at once.
func (g *blobGate) mostInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

// Layers are fetched MaxConcurrentDownloads at a time, and a cancelled pull
// stops its downloads and gives the store back.
func TestIntegrationPullLayersInParallel(t *testing.T) {
	addr := startRegistry(t)
	img, err := random.Image(64<<10, 6)
	if err != nil {
		t.Fatal(err)
	}
	gate := newBlobGate(MaxConcurrentDownloads)
	srv := httptest.NewServer(gate.handler(addr))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/peapod/six:1"
	r, err := name.ParseReference(addr+"/peapod/six:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}

	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before srv.Close, which waits for held downloads
	done := make(chan error, 1)
	go func() { _, err := s.Pull(ctx, ref, PullOptions{Insecure: true}); done <- err }()
	select {
	case <-gate.full:
	case err := <-done:
		t.Fatalf("pull ended before %d layers were in flight: %v", MaxConcurrentDownloads, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%d layers in flight at most, want %d", gate.mostInFlight(), MaxConcurrentDownloads)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled pull: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled pull did not return")
	}

	// Again, to the end, with the gate open: every layer stored and
	// unpacked, never more than the limit fetched at once.
	close(gate.release)
	got, err := s.Pull(context.Background(), ref, PullOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := s.Layers(context.Background(), got)
	if err != nil || len(dirs) != 6 {
		t.Fatalf("layers: %v, %v", dirs, err)
	}
	if most := gate.mostInFlight(); most != MaxConcurrentDownloads {
		t.Errorf("%d layers in flight at most, want %d", most, MaxConcurrentDownloads)
	}
}
