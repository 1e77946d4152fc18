package image

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var mtime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// tarOf writes headers (with contents for regular files) to a tar stream.
func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.ModTime.IsZero() {
			h.ModTime = mtime
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type entry struct {
	hdr  tar.Header
	body string
}

func dirE(name string) entry { return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name}} }
func fileE(name, body string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name}, body: body}
}
func symlinkE(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target}}
}
func linkE(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

// sandbox returns a layer dir inside a parent that holds a decoy file, so
// tests can check that nothing outside the layer changed.
func sandbox(t testing.TB) (parent, layer string) {
	t.Helper()
	parent = t.TempDir()
	layer = filepath.Join(parent, "layer")
	if err := os.Mkdir(layer, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "outside"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	return parent, layer
}

// assertConfined fails unless the parent holds exactly the layer dir and an
// unchanged decoy.
func assertConfined(t testing.TB, parent string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "layer,outside" {
		t.Fatalf("entries outside the layer: %v", names)
	}
	fi, err := os.Lstat(filepath.Join(parent, "outside"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("decoy changed: %v %v", fi, err)
	}
	b, err := os.ReadFile(filepath.Join(parent, "outside"))
	if err != nil || string(b) != "keep" {
		t.Fatalf("decoy content changed: %q %v", b, err)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func TestUnpack_FilesLinksModes(t *testing.T) {
	parent, layer := sandbox(t)
	suid := fileE("bin/su", "su")
	suid.hdr.Mode = 0o4755
	exec := fileE("bin/tool", "tool")
	exec.hdr.Mode = 0o755
	sticky := dirE("tmp")
	sticky.hdr.Mode = 0o1777
	ro := dirE("ro")
	ro.hdr.Mode = 0o555
	data := tarOf(t,
		dirE("./"),
		dirE("bin/"),
		suid,
		exec,
		fileE("/abs/file", "abs"), // absolute names become relative
		symlinkE("bin/sh", "/bin/tool"),
		symlinkE("up", "../../etc"), // a symlink may point anywhere; only writes through it are checked
		linkE("bin/tool2", "bin/tool"),
		sticky,
		ro,
		fileE("ro/f", "in read-only dir"),
		fileE("replaced", "old"),
		fileE("replaced", "new"),
	)
	if err := Unpack(bytes.NewReader(data), layer); err != nil {
		t.Fatal(err)
	}
	assertConfined(t, parent)

	for _, c := range []struct {
		name string
		mode fs.FileMode
	}{
		{"bin/su", 0o755 | fs.ModeSetuid},
		{"bin/tool", 0o755},
		{"tmp", 0o777 | fs.ModeDir | fs.ModeSticky},
		{"ro", 0o555 | fs.ModeDir},
		{"abs/file", 0o644},
	} {
		fi, err := os.Lstat(filepath.Join(layer, c.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.name, fi.Mode(), c.mode)
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", c.name, fi.ModTime(), mtime)
		}
	}
	if got, err := os.Readlink(filepath.Join(layer, "bin/sh")); err != nil || got != "/bin/tool" {
		t.Errorf("bin/sh -> %q, %v", got, err)
	}
	if got, err := os.Readlink(filepath.Join(layer, "up")); err != nil || got != "../../etc" {
		t.Errorf("up -> %q, %v", got, err)
	}
	a, _ := os.Stat(filepath.Join(layer, "bin/tool"))
	b, _ := os.Stat(filepath.Join(layer, "bin/tool2"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Error("bin/tool2 is not a hard link of bin/tool")
	}
	if got, _ := os.ReadFile(filepath.Join(layer, "replaced")); string(got) != "new" {
		t.Errorf("replaced = %q, want the later entry", got)
	}
}

func TestUnpack_OwnersAndXattrs(t *testing.T) {
	requireRoot(t)
	parent, layer := sandbox(t)
	f := fileE("f", "x")
	f.hdr.Uid, f.hdr.Gid = 1000, 2000
	f.hdr.Mode = 0o2755 // setgid must survive the chown
	f.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.t": "w"}
	l := symlinkE("l", "f")
	l.hdr.Uid, l.hdr.Gid = 3, 4
	if err := Unpack(bytes.NewReader(tarOf(t, f, l)), layer); err != nil {
		t.Fatal(err)
	}
	assertConfined(t, parent)
	fi, err := os.Lstat(filepath.Join(layer, "f"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1000 || st.Gid != 2000 {
		t.Errorf("f owned by %d:%d, want 1000:2000", st.Uid, st.Gid)
	}
	if fi.Mode() != 0o755|fs.ModeSetgid {
		t.Errorf("f mode %v", fi.Mode())
	}
	for attr, want := range map[string]string{"user.k": "v", "trusted.t": "w"} {
		buf := make([]byte, 16)
		n, err := unix.Lgetxattr(filepath.Join(layer, "f"), attr, buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("xattr %s = %q, %v; want %q", attr, buf[:n], err, want)
		}
	}
	li, err := os.Lstat(filepath.Join(layer, "l"))
	if err != nil {
		t.Fatal(err)
	}
	if st := li.Sys().(*syscall.Stat_t); st.Uid != 3 || st.Gid != 4 {
		t.Errorf("symlink owned by %d:%d, want 3:4", st.Uid, st.Gid)
	}
}

func TestUnpack_Whiteouts(t *testing.T) {
	requireRoot(t)
	parent, layer := sandbox(t)
	data := tarOf(t,
		dirE("etc/"),
		fileE("etc/.wh.gone", ""),
		dirE("opaque/"),
		fileE("opaque/.wh..wh..opq", ""),
		fileE("opaque/kept", "k"),
		fileE("implied/.wh..wh..opq", ""), // parent not in the tar
		fileE(".wh..wh.plnk", ""),         // AUFS metadata: ignored
	)
	if err := Unpack(bytes.NewReader(data), layer); err != nil {
		t.Fatal(err)
	}
	assertConfined(t, parent)
	fi, err := os.Lstat(filepath.Join(layer, "etc/gone"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&fs.ModeCharDevice == 0 || st.Rdev != 0 {
		t.Errorf("etc/gone: mode %v rdev %d, want a 0:0 char device", fi.Mode(), st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(layer, "etc/.wh.gone")); !os.IsNotExist(err) {
		t.Errorf("whiteout marker itself was written: %v", err)
	}
	for _, d := range []string{"opaque", "implied"} {
		buf := make([]byte, 4)
		n, err := unix.Lgetxattr(filepath.Join(layer, d), "trusted.overlay.opaque", buf)
		if err != nil || string(buf[:n]) != "y" {
			t.Errorf("%s: opaque xattr %q, %v", d, buf[:n], err)
		}
		if _, err := os.Lstat(filepath.Join(layer, d, whiteoutOpaque)); !os.IsNotExist(err) {
			t.Errorf("%s: opaque marker written as a file", d)
		}
	}
	if _, err := os.Lstat(filepath.Join(layer, ".wh..wh.plnk")); !os.IsNotExist(err) {
		t.Error("AUFS metadata written")
	}
}

func TestUnpack_Devices(t *testing.T) {
	requireRoot(t)
	_, layer := sandbox(t)
	dev := entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}
	fifo := entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o600}}
	if err := Unpack(bytes.NewReader(tarOf(t, dev, fifo)), layer); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(layer, "dev/null"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode()&fs.ModeCharDevice == 0 || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: %v rdev %d", fi.Mode(), st.Rdev)
	}
	if fi, err := os.Lstat(filepath.Join(layer, "fifo")); err != nil || fi.Mode() != fs.ModeNamedPipe|0o600 {
		t.Errorf("fifo: %v %v", fi, err)
	}
}

func TestUnpack_Rejects(t *testing.T) {
	for _, c := range []struct {
		name    string
		entries []entry
	}{
		{"dotdot", []entry{fileE("../../etc/passwd", "x")}},
		{"dotdot inside", []entry{fileE("a/../../outside", "x")}},
		{"dotdot dir", []entry{dirE("../newdir")}},
		{"symlink to root then write", []entry{symlinkE("a", "/"), fileE("a/outside", "x")}},
		{"symlink up then write", []entry{symlinkE("a", "../.."), fileE("a/etc/x", "x")}},
		{"symlink to parent then overwrite", []entry{symlinkE("a", ".."), fileE("a/outside", "pwned")}},
		{"symlink up then mkdir", []entry{symlinkE("a", ".."), dirE("a/newdir")}},
		{"symlink up then symlink", []entry{symlinkE("a", ".."), symlinkE("a/evil", "/")}},
		{"symlink up then whiteout", []entry{symlinkE("a", ".."), fileE("a/.wh.outside", "")}},
		{"symlink up then opaque", []entry{symlinkE("a", ".."), fileE("a/.wh..wh..opq", "")}},
		{"hardlink outside", []entry{linkE("l", "../outside")}},
		{"hardlink through symlink", []entry{symlinkE("a", ".."), linkE("l", "a/outside")}},
		{"hardlink into escaping dir", []entry{fileE("f", "x"), symlinkE("a", ".."), linkE("a/l", "f")}},
		{"bad whiteout", []entry{fileE("x/.wh...", "")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent, layer := sandbox(t)
			err := Unpack(bytes.NewReader(tarOf(t, c.entries...)), layer)
			if err == nil {
				t.Error("unpack succeeded, want an error")
			}
			t.Log(err)
			assertConfined(t, parent)
		})
	}
}

func TestUnpack_SymlinkReplacedByDir(t *testing.T) {
	// A dir entry after a symlink of the same name must not follow it.
	parent, layer := sandbox(t)
	data := tarOf(t, symlinkE("a", ".."), dirE("a"), fileE("a/f", "x"))
	if err := Unpack(bytes.NewReader(data), layer); err != nil {
		t.Fatal(err)
	}
	assertConfined(t, parent)
	if fi, err := os.Lstat(filepath.Join(layer, "a")); err != nil || !fi.IsDir() {
		t.Fatalf("a: %v %v", fi, err)
	}
}

func TestUnpack_TruncatedTar(t *testing.T) {
	_, layer := sandbox(t)
	data := tarOf(t, fileE("f", strings.Repeat("x", 4096)))
	if err := Unpack(bytes.NewReader(data[:1024]), layer); err == nil {
		t.Error("truncated tar unpacked without error")
	}
}
