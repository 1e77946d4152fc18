package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func layerOf(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	data := tarOf(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf builds an image of layers, bottom first, with cmd as its command.
func imageOf(t testing.TB, cmd string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{cmd}, Env: []string{"A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func idOf(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func diffIDOf(t testing.TB, l v1.Layer) v1.Hash {
	t.Helper()
	h, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func digestOf(t testing.TB, l v1.Layer) v1.Hash {
	t.Helper()
	h, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fixture: images a (base, top-a) and b (base, top-b) share their base layer.
type fixture struct {
	base, topA, topB v1.Layer
	a, b             v1.Image
}

func newFixture(t testing.TB) fixture {
	var f fixture
	f.base = layerOf(t, dirE("etc/"), fileE("etc/os", "base"), fileE("etc/shadowed", "base"))
	f.topA = layerOf(t, fileE("etc/shadowed", "a"), fileE("etc/.wh.os", ""))
	f.topB = layerOf(t, fileE("b", "b"))
	f.a = imageOf(t, "a", f.base, f.topA)
	f.b = imageOf(t, "b", f.base, f.topB)
	return f
}

// writeLayout writes an OCI layout with one descriptor per image, annotated.
func writeLayout(t testing.TB, dir string, imgs []v1.Image, annotations []map[string]string) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		if err := p.AppendImage(img, layout.WithAnnotations(annotations[i])); err != nil {
			t.Fatal(err)
		}
	}
}

// tarDir writes dir as a tar (gzipped if zip) at dst.
func tarDir(t testing.TB, dir, dst string, zip bool) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	var zw *gzip.Writer
	if zip {
		zw = gzip.NewWriter(f)
		w = zw
	}
	tw := tar.NewWriter(w)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func namesOf(imgs []*Image) [][]string {
	var out [][]string
	for _, i := range imgs {
		out = append(out, i.Names)
	}
	return out
}

func TestStore_LoadLayoutDir(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := imageOf(t, "c", f.topB)
	dir := t.TempDir()
	writeLayout(t, dir, []v1.Image{f.a, f.b, c}, []map[string]string{
		{"org.opencontainers.image.ref.name": "example.com/a:1"},
		{"org.opencontainers.image.ref.name": "1.36"}, // a bare tag names no repository
		{"io.containerd.image.name": "docker.io/library/c:2", "org.opencontainers.image.ref.name": "2"},
	})
	s := openStore(t)
	imgs, err := s.Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"example.com/a:1"}, nil, {"docker.io/library/c:2"}}
	if got := namesOf(imgs); !equalNames(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	if imgs[0].ID != idOf(t, f.a) || imgs[1].ID != idOf(t, f.b) {
		t.Errorf("IDs %s %s, want %s %s", imgs[0].ID, imgs[1].ID, idOf(t, f.a), idOf(t, f.b))
	}
	if got := imgs[0].Config.Cmd; !slices.Equal(got, []string{"a"}) {
		t.Errorf("Cmd %v", got)
	}
	if imgs[0].Size <= 0 {
		t.Errorf("Size %d", imgs[0].Size)
	}
	for _, ref := range []string{"example.com/a:1", idOf(t, f.a), idOf(t, f.a)[7:19], idOf(t, f.a)[:11]} {
		got, err := s.Get(ctx, ref)
		if err != nil {
			t.Errorf("Get(%q): %v", ref, err)
			continue
		}
		if got.ID != idOf(t, f.a) {
			t.Errorf("Get(%q) = %s", ref, got.ID)
		}
	}
	if _, err := s.Get(ctx, idOf(t, f.a)[7:10]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a 3-digit ID prefix: %v, want ErrNotFound", err)
	}
	if got, err := s.Get(ctx, "c:2"); err != nil || got.ID != idOf(t, c) {
		t.Errorf("Get(c:2) = %v, %v", got, err)
	}
	if _, err := s.Get(ctx, "example.com/a:2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unknown name: %v, want ErrNotFound", err)
	}
}

func equalNames(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

func TestStore_LoadOCIArchive(t *testing.T) {
	for _, zip := range []bool{false, true} {
		t.Run(map[bool]string{false: "tar", true: "tar.gz"}[zip], func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			dir := t.TempDir()
			writeLayout(t, dir, []v1.Image{f.a}, []map[string]string{{"org.opencontainers.image.ref.name": "a:1"}})
			archive := filepath.Join(t.TempDir(), "a.tar")
			tarDir(t, dir, archive, zip)
			s := openStore(t)
			imgs, err := s.Load(ctx, archive)
			if err != nil {
				t.Fatal(err)
			}
			if len(imgs) != 1 || imgs[0].ID != idOf(t, f.a) || !slices.Equal(imgs[0].Names, []string{"docker.io/library/a:1"}) {
				t.Fatalf("loaded %+v", imgs)
			}
			if _, err := s.Layers(ctx, imgs[0]); err != nil {
				t.Fatal(err)
			}
			assertTmpEmpty(t, s)
		})
	}
}

func TestStore_LoadDockerArchive(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ta, _ := name.NewTag("a:1")
	tb, _ := name.NewTag("registry.example.com/team/b")
	archive := filepath.Join(t.TempDir(), "save.tar")
	if err := tarball.MultiWriteToFile(archive, map[name.Tag]v1.Image{ta: f.a, tb: f.b}); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	imgs, err := s.Load(ctx, archive)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string][]string{}
	for _, i := range imgs {
		byID[i.ID] = i.Names
	}
	if !slices.Equal(byID[idOf(t, f.a)], []string{"docker.io/library/a:1"}) ||
		!slices.Equal(byID[idOf(t, f.b)], []string{"registry.example.com/team/b:latest"}) {
		t.Fatalf("loaded %v", byID)
	}
	for _, i := range imgs {
		dirs, err := s.Layers(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if len(dirs) != 2 {
			t.Errorf("%s: %d layers", i.ID, len(dirs))
		}
	}
}

func TestStore_LoadRejectsJunk(t *testing.T) {
	s := openStore(t)
	p := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(p, []byte("not a tar at all, not at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(context.Background(), p); err == nil {
		t.Error("loaded junk")
	}
	if _, err := s.Load(context.Background(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("loaded a missing file")
	}
}

// loadFixture loads f.a as "a" and f.b as "b".
func loadFixture(t testing.TB, s *Store, f fixture) (a, b *Image) {
	t.Helper()
	dir := t.TempDir()
	writeLayout(t, dir, []v1.Image{f.a, f.b}, []map[string]string{
		{"org.opencontainers.image.ref.name": "docker.io/library/a:latest"},
		{"org.opencontainers.image.ref.name": "docker.io/library/b:latest"},
	})
	imgs, err := s.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return imgs[0], imgs[1]
}

func TestStore_Layers(t *testing.T) {
	requireRoot(t) // whiteouts are device nodes
	ctx := context.Background()
	f := newFixture(t)
	s := openStore(t)
	a, b := loadFixture(t, s, f)

	dirsA, err := s.Layers(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{s.layerPath(diffIDOf(t, f.topA)), s.layerPath(diffIDOf(t, f.base))}
	if !slices.Equal(dirsA, want) {
		t.Fatalf("Layers(a) = %v, want topmost first %v", dirsA, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dirsA[0], "etc/shadowed")); string(got) != "a" {
		t.Errorf("top layer etc/shadowed = %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(dirsA[0], "etc/os")); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Errorf("top layer etc/os is not a whiteout: %v %v", fi, err)
	}

	// The shared base must not be unpacked again for b: same inode, and a
	// file added since is still there.
	base := dirsA[1]
	before, err := os.Stat(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dirsB, err := s.Layers(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if dirsB[1] != base {
		t.Fatalf("b's base %s, want the shared %s", dirsB[1], base)
	}
	after, err := os.Stat(base)
	if err != nil {
		t.Fatal(err)
	}
	if before.Sys().(*syscall.Stat_t).Ino != after.Sys().(*syscall.Stat_t).Ino {
		t.Error("shared layer was unpacked again")
	}
	if _, err := os.Stat(filepath.Join(base, "marker")); err != nil {
		t.Errorf("shared layer was replaced: %v", err)
	}
	assertTmpEmpty(t, s)
}

func TestStore_LayersRejectsCorruptBlob(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := openStore(t)
	a, _ := loadFixture(t, s, f)
	// Swap the top layer's content for the base's: valid gzip and tar, but
	// not what the config's diffID promises.
	good, err := os.ReadFile(s.blobPath(digestOf(t, f.base).String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.blobPath(digestOf(t, f.topA).String()), good, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Layers(ctx, a); err == nil {
		t.Fatal("Layers accepted a layer whose diffID does not match")
	}
	if _, err := os.Stat(s.layerPath(diffIDOf(t, f.topA))); !os.IsNotExist(err) {
		t.Errorf("a bad layer was put in place: %v", err)
	}
	assertTmpEmpty(t, s)
}

func TestStore_TagGetListRemove(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := openStore(t)
	a, b := loadFixture(t, s, f)
	if _, err := s.Layers(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Layers(ctx, b); err != nil {
		t.Fatal(err)
	}

	if err := s.Tag(ctx, "a", "alias:v1"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "docker.io/library/alias:v1"); err != nil || got.ID != a.ID {
		t.Fatalf("Get(alias:v1) = %v, %v", got, err)
	}
	// A name moves: tagging b as alias:v1 takes it from a.
	if err := s.Tag(ctx, b.ID, "alias:v1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "a"); !slices.Equal(got.Names, []string{"docker.io/library/a:latest"}) {
		t.Errorf("a's names after the move: %v", got.Names)
	}
	if err := s.Tag(ctx, "nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tag of an unknown image: %v", err)
	}
	if err := s.Tag(ctx, "a", "x@sha256:"+string(bytes.Repeat([]byte("0"), 64))); err == nil {
		t.Error("Tag to a digest reference succeeded")
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List: %d images", len(list))
	}

	// Removing b's names one by one: data stays until the last one goes.
	if err := s.Remove(ctx, "alias:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "b"); err != nil {
		t.Fatalf("b gone after removing one of its names: %v", err)
	}
	if err := s.Remove(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(b) after removal: %v", err)
	}
	for _, c := range []struct {
		path string
		kept bool
	}{
		{s.blobPath(digestOf(t, f.topB).String()), false},
		{s.blobPath(b.ID), false},
		{s.layerPath(diffIDOf(t, f.topB)), false},
		{s.blobPath(digestOf(t, f.base).String()), true}, // a still uses the base
		{s.layerPath(diffIDOf(t, f.base)), true},
		{s.blobPath(a.ID), true},
		{s.layerPath(diffIDOf(t, f.topA)), true},
	} {
		_, err := os.Stat(c.path)
		if exists := err == nil; exists != c.kept {
			t.Errorf("%s: exists %v, want %v", c.path, exists, c.kept)
		}
	}

	// Removing by ID takes all names, and leaves the store empty.
	if err := s.Tag(ctx, "a", "another"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, a.ID[:15]); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List(ctx); len(list) != 0 {
		t.Errorf("List after removing everything: %v", namesOf(list))
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256"} {
		if ents, _ := os.ReadDir(filepath.Join(s.dir, d)); len(ents) != 0 {
			t.Errorf("%s not empty: %v", d, ents)
		}
	}
	if err := s.Remove(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove of an unknown name: %v", err)
	}
}

func TestStore_RemoveSweepsCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := openStore(t)
	a, b := loadFixture(t, s, f)
	if _, err := s.Layers(ctx, a); err != nil {
		t.Fatal(err)
	}
	orphanBlob := s.blobPath("sha256:" + string(bytes.Repeat([]byte("a"), 64)))
	orphanLayer := filepath.Join(s.dir, "layers", "sha256", string(bytes.Repeat([]byte("b"), 64)))
	tmpJunk := filepath.Join(s.dir, "tmp", "layer-123")
	for _, d := range []string{orphanLayer, tmpJunk} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(orphanBlob, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{orphanBlob, orphanLayer, tmpJunk} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived: %v", p, err)
		}
	}
	if _, err := s.Layers(ctx, a); err != nil {
		t.Errorf("a broken by the sweep: %v", err)
	}
}

func TestStore_ConcurrentStores(t *testing.T) {
	// Two Store values on one dir stand in for two processes: the flock must
	// keep their loads and unpacks from tripping over each other.
	ctx := context.Background()
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "images")
	layoutDir := t.TempDir()
	writeLayout(t, layoutDir, []v1.Image{f.a, f.b}, []map[string]string{
		{"org.opencontainers.image.ref.name": "a:1"},
		{"org.opencontainers.image.ref.name": "b:1"},
	})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			imgs, err := s.Load(ctx, layoutDir)
			if err != nil {
				errs <- err
				return
			}
			for _, img := range imgs {
				if _, err := s.Layers(ctx, img); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, _ := Open(dir)
	if list, err := s.List(ctx); err != nil || len(list) != 2 {
		t.Errorf("List = %v, %v", namesOf(list), err)
	}
}

func assertTmpEmpty(t testing.TB, s *Store) {
	t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(s.dir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty: %v", ents)
	}
}

// Waiting for the store's lock ends with the context, whether a goroutine
// of this process or another process (another open file's flock) holds
// it; a wait given up leaves the lock free once the holder lets go.
func TestStore_LockHonoursContext(t *testing.T) {
	s := openStore(t)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	unlock, err := s.lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.lock(short()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held by a goroutine: %v, want DeadlineExceeded", err)
	}
	unlock()

	other, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := s.lock(short()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held by another process: %v, want DeadlineExceeded", err)
	}
	other.Close() // the abandoned wait now gets the lock, and lets it go
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err = s.lock(ctx)
	if err != nil {
		t.Fatalf("after the holder let go: %v", err)
	}
	unlock()
}
