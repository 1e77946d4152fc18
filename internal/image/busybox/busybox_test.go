package busybox

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"runtime"
	"slices"
	"testing"
)

func TestBuild(t *testing.T) {
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("no %s (package busybox-static): %v", Binary, err)
	}
	img, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	id1, _ := img.ConfigName()
	id2, _ := again.ConfigName()
	if id1 != id2 {
		t.Errorf("two builds differ: %s, %s", id1, id2)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH || !slices.Equal(cfg.Config.Cmd, []string{"sh"}) {
		t.Errorf("config: os %s arch %s cmd %v", cfg.OS, cfg.Architecture, cfg.Config.Cmd)
	}
	if !slices.Contains(cfg.Config.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
		t.Errorf("Env %v", cfg.Config.Env)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
	}
	if h := got["bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode != 0o755 {
		t.Errorf("bin/busybox: %+v", h)
	}
	if h := got["bin/sh"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
		t.Errorf("bin/sh: %+v", h)
	}
	if h := got["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp: %+v", h)
	}
	for _, f := range []string{"etc/passwd", "etc/group", "root/", "home/"} {
		if got[f] == nil {
			t.Errorf("missing %s", f)
		}
	}
}
