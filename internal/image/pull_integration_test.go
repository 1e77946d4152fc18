//go:build integration

package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
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
