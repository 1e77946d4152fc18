package debian

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"peapod/internal/image/busybox"
)

// testBase is a base image with busybox's real bin dirs.
func testBase(t *testing.T) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "tmp/", "usr/", "usr/bin/", "usr/sbin/", "var/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// fakeSource serves pkgs' file lists from root.
func fakeSource(root string, pkgs map[string][]string) Source {
	return Source{
		Root: root,
		Files: func(pkg string) ([]string, error) {
			files, ok := pkgs[pkg]
			if !ok {
				return nil, errors.New("not installed")
			}
			return append([]string{"/."}, files...), nil
		},
		Version: func(string) (string, error) { return "1.0-1", nil },
	}
}

// topLayer returns the entries of img's last layer and their contents.
func topLayer(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		hdrs[name] = h
		if data[name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
}

// follow resolves p through the layer's symlinks to a regular file; a
// directory missing from the layer is taken to be the base's.
func follow(t *testing.T, hdrs map[string]*tar.Header, p string) string {
	t.Helper()
	for range maxLinks {
		parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
		cur, moved := "", false
		for i, part := range parts {
			cur = path.Join(cur, part)
			h, ok := hdrs[cur]
			if !ok {
				if i < len(parts)-1 {
					continue // a directory of the base
				}
				t.Fatalf("%s: %s not in the layer", p, cur)
			}
			if h.Typeflag == tar.TypeSymlink {
				target := h.Linkname
				if !path.IsAbs(target) {
					target = path.Join("/", path.Dir(cur), target)
				}
				p, moved = path.Join(append([]string{target}, parts[i+1:]...)...), true
				break
			}
		}
		if !moved {
			if hdrs[cur].Typeflag != tar.TypeReg {
				t.Fatalf("%s is not a regular file", p)
			}
			return cur
		}
	}
	t.Fatalf("%s: symlink loop", p)
	return ""
}

func write(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// TestBuild_Libraries lays out a merged-/usr root with a real dynamic
// binary and the libraries ldd finds for it, and checks Build finds the
// same set by reading DT_NEEDED, through the lib -> usr/lib symlinks.
func TestBuild_Libraries(t *testing.T) {
	const bin = "/usr/bin/ls"
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Skipf("ldd %s: %v", bin, err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Skip(err)
	}
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	f.Close()
	triplet, ok := triplets[f.Machine]
	if interp == "" || !ok {
		t.Skipf("%s: no interpreter or no multiarch dir for %v", bin, f.Machine)
	}

	root := t.TempDir()
	libDir := "/usr/lib/" + triplet
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, bin), data, 0o755)
	symlink(t, "usr/lib", filepath.Join(root, "lib"))
	var sonames []string
	for _, line := range strings.Split(string(out), "\n") {
		name, host, ok := strings.Cut(strings.TrimSpace(line), " => ")
		if !ok {
			continue
		}
		host, _, _ = strings.Cut(host, " ")
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(real)
		if err != nil {
			t.Fatal(err)
		}
		// Each library behind a soname symlink, as Debian ships them.
		write(t, filepath.Join(root, libDir, filepath.Base(real)+".real"), data, 0o644)
		symlink(t, filepath.Base(real)+".real", filepath.Join(root, libDir, name))
		sonames = append(sonames, name)
	}
	realInterp, err := filepath.EvalSymlinks(interp)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = os.ReadFile(realInterp); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, libDir, "loader.real"), data, 0o755)
	// The interpreter's own directory is a symlink into /usr too.
	top := strings.Split(strings.Trim(interp, "/"), "/")[0]
	if _, err := os.Lstat(filepath.Join(root, top)); err != nil {
		symlink(t, "usr/"+top, filepath.Join(root, top))
	}
	if _, err := os.Lstat(filepath.Join(root, "usr", interp)); err != nil {
		symlink(t, libDir+"/loader.real", filepath.Join(root, "usr", interp))
	}

	img, err := Build(testBase(t), fakeSource(root, map[string][]string{"coreutils": {"/usr", "/usr/bin", bin}}), Spec{Packages: []string{"coreutils"}})
	if err != nil {
		t.Fatal(err)
	}
	hdrs, _ := topLayer(t, img)
	if got := follow(t, hdrs, bin); got != strings.TrimPrefix(bin, "/") {
		t.Errorf("%s resolves to %s", bin, got)
	}
	if got := follow(t, hdrs, interp); got != strings.TrimPrefix(libDir, "/")+"/loader.real" {
		t.Errorf("interpreter %s resolves to %s", interp, got)
	}
	for _, so := range sonames {
		// As the loader looks it up: in /lib/<triplet>, through lib -> usr/lib.
		if got := follow(t, hdrs, "/lib/"+triplet+"/"+so); !strings.HasSuffix(got, ".real") {
			t.Errorf("%s resolves to %s", so, got)
		}
	}
	if h := hdrs["lib"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/lib" {
		t.Errorf("lib entry = %+v, want a symlink to usr/lib", h)
	}
}

// TestFindLibrary skips candidates that are not ELF objects of the same
// class and machine, as the loader does.
func TestFindLibrary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(self)
	if err != nil {
		t.Skip(err)
	}
	f.Close()
	triplet, ok := triplets[f.Machine]
	if !ok {
		t.Skipf("no multiarch dir for %v", f.Machine)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	write(t, filepath.Join(root, "lib", triplet, "libx.so.1"), []byte("not ELF"), 0o644)
	write(t, filepath.Join(root, "usr/lib", triplet, "libx.so.1"), data, 0o644)
	l := newLayer(root, nil)
	d := &elfDeps{class: f.Class, machine: f.Machine}
	got, err := l.findLibrary("libx.so.1", d)
	if want := "/usr/lib/" + triplet + "/libx.so.1"; err != nil || got != want {
		t.Errorf("findLibrary = %q, %v; want %q", got, err, want)
	}
	if _, err := l.findLibrary("libmissing.so.1", d); err == nil || !strings.Contains(err.Error(), "libmissing.so.1 not found") {
		t.Errorf("missing library: err = %v", err)
	}
	d.dirs = []string{"/opt/x"}
	write(t, filepath.Join(root, "opt/x/libx.so.1"), data, 0o644)
	if got, err := l.findLibrary("libx.so.1", d); err != nil || got != "/opt/x/libx.so.1" {
		t.Errorf("with RUNPATH: findLibrary = %q, %v", got, err)
	}
}

// fakeRoot is a package "tool" with a file, a relative symlink, a doc and
// a file under /bin, which is a symlink to usr/bin on the host but a real
// directory in the base.
func fakeRoot(t *testing.T) (string, map[string][]string) {
	root := t.TempDir()
	write(t, filepath.Join(root, "usr/bin/tool"), []byte("#!/bin/sh\necho tool\n"), 0o755)
	write(t, filepath.Join(root, "usr/share/tool/data.txt"), []byte("data\n"), 0o644)
	write(t, filepath.Join(root, "usr/share/doc/tool/copyright"), []byte("GPL\n"), 0o644)
	write(t, filepath.Join(root, "usr/share/man/man1/tool.1.gz"), []byte("man\n"), 0o644)
	write(t, filepath.Join(root, "etc/init.d/tool"), []byte("init\n"), 0o755)
	symlink(t, "../share/tool/data.txt", filepath.Join(root, "usr/bin/data"))
	symlink(t, "usr/bin", filepath.Join(root, "bin"))
	return root, map[string][]string{"tool": {
		"/usr", "/usr/bin", "/usr/bin/tool", "/usr/bin/data", "/bin/tool",
		"/usr/share", "/usr/share/tool", "/usr/share/tool/data.txt",
		"/usr/share/doc", "/usr/share/doc/tool", "/usr/share/doc/tool/copyright",
		"/usr/share/man/man1/tool.1.gz", "/etc/init.d/tool", "/usr/share/tool/removed",
		"package diverts others to: /usr/bin/tool.real",
	}}
}

var toolSpec = Spec{
	Packages: []string{"tool"},
	Skip:     []string{"/etc/init.d"},
	Files:    []File{{Path: "/etc/tool/tool.conf", Mode: 0o600, Data: "x=1\n"}, {Path: "/usr/bin/tool-alias", Link: "tool"}},
	Users:    []User{{Name: "tool", UID: 101, GroupGID: 101, Home: "/nonexistent"}},
	Config:   v1.Config{Cmd: []string{"tool"}, StopSignal: "SIGQUIT", Env: []string{"A=1"}},
}

func TestBuild_Layout(t *testing.T) {
	root, pkgs := fakeRoot(t)
	img, err := Build(testBase(t), fakeSource(root, pkgs), toolSpec)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := topLayer(t, img)
	var names []string
	for n := range hdrs {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{
		"bin/tool", "etc/group", "etc/nsswitch.conf", "etc/passwd", "etc/tool", "etc/tool/tool.conf", "tmp",
		"usr/bin/data", "usr/bin/tool", "usr/bin/tool-alias", "usr/share", "usr/share/tool", "usr/share/tool/data.txt",
	}
	if !slices.Equal(names, want) {
		t.Errorf("entries\n got %q\nwant %q", names, want)
	}
	if h := hdrs["bin/tool"]; h.Typeflag != tar.TypeReg || string(data["bin/tool"]) != "#!/bin/sh\necho tool\n" {
		t.Errorf("bin/tool (base has a real /bin) = %+v", h)
	}
	if h := hdrs["usr/bin/data"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "../share/tool/data.txt" {
		t.Errorf("usr/bin/data = %+v", h)
	}
	if h := hdrs["tmp"]; h.Mode != 0o1777 {
		t.Errorf("tmp mode %o", h.Mode)
	}
	if h := hdrs["etc/tool/tool.conf"]; h.Mode != 0o600 {
		t.Errorf("tool.conf mode %o", h.Mode)
	}
	for n, h := range hdrs {
		if !h.ModTime.Equal(epoch) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v owner %d:%d", n, h.ModTime, h.Uid, h.Gid)
		}
	}
	passwd := string(data["etc/passwd"])
	for _, line := range []string{"root:x:0:0:", "tool:x:101:101:", "nobody:x:65534:65534:"} {
		if !strings.Contains(passwd, "\n"+line) && !strings.HasPrefix(passwd, line) {
			t.Errorf("/etc/passwd lacks %q:\n%s", line, passwd)
		}
	}
	if g := string(data["etc/group"]); !strings.Contains(g, "tool:x:101:") || !strings.Contains(g, "nogroup:x:65534:") {
		t.Errorf("/etc/group:\n%s", g)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"tool"}) || cfg.Config.StopSignal != "SIGQUIT" || !slices.Contains(cfg.Config.Env, "A=1") {
		t.Errorf("config %+v", cfg.Config)
	}
	if h := cfg.History[len(cfg.History)-1]; h.Comment != "tool 1.0-1" {
		t.Errorf("history %+v", h)
	}
}

func TestBuild_Deterministic(t *testing.T) {
	root, pkgs := fakeRoot(t)
	base := testBase(t)
	digest := func(pkgs map[string][]string) v1.Hash {
		t.Helper()
		img, err := Build(base, fakeSource(root, pkgs), toolSpec)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := digest(pkgs)
	// Another listing order and other mtimes give the same image.
	reversed := slices.Clone(pkgs["tool"])
	slices.Reverse(reversed)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "usr/bin/tool"), later, later); err != nil {
		t.Fatal(err)
	}
	if again := digest(map[string][]string{"tool": reversed}); again != first {
		t.Errorf("digest changed with order and mtimes: %s, %s", first, again)
	}
	write(t, filepath.Join(root, "usr/share/tool/data.txt"), []byte("other\n"), 0o644)
	if changed := digest(pkgs); changed == first {
		t.Error("digest did not change with a file's content")
	}
}

func TestBuild_Errors(t *testing.T) {
	root, pkgs := fakeRoot(t)
	if _, err := Build(testBase(t), fakeSource(root, pkgs), Spec{Packages: []string{"absent"}}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("absent package: err = %v", err)
	}
	symlink(t, "loop", filepath.Join(root, "loop"))
	pkgs["tool"] = append(pkgs["tool"], "/loop/x")
	if _, err := Build(testBase(t), fakeSource(root, pkgs), toolSpec); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("symlink loop: err = %v", err)
	}
}

// installed reports whether Debian packages are installed on the host.
func installed(t *testing.T, pkgs ...string) {
	t.Helper()
	for _, p := range pkgs {
		if _, err := dpkgVersion(p); err != nil {
			t.Skipf("package %s: %v", p, err)
		}
	}
	if _, err := os.Stat(busybox.Binary); err != nil {
		t.Skipf("no %s: %v", busybox.Binary, err)
	}
}

func TestNginx(t *testing.T) {
	installed(t, Nginx.Packages...)
	base, err := busybox.Build()
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(base, Host, Nginx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(base, Host, Nginx)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustDigest(t, img), mustDigest(t, again); a != b {
		t.Errorf("two builds differ: %s, %s", a, b)
	}
	hdrs, data := topLayer(t, img)
	conf := string(data["etc/nginx/nginx.conf"])
	for _, want := range []string{"user  nginx;", "include /etc/nginx/conf.d/*.conf;", "access_log  /var/log/nginx/access.log", "error_log  /var/log/nginx/error.log"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	if !strings.Contains(string(data["etc/nginx/conf.d/default.conf"]), "root   /usr/share/nginx/html;") {
		t.Errorf("default.conf:\n%s", data["etc/nginx/conf.d/default.conf"])
	}
	if !strings.Contains(string(data["usr/share/nginx/html/index.html"]), "Welcome to nginx!") {
		t.Error("index.html is not nginx's welcome page")
	}
	for name, target := range map[string]string{"var/log/nginx/access.log": "/dev/stdout", "var/log/nginx/error.log": "/dev/stderr"} {
		if h := hdrs[name]; h == nil || h.Linkname != target {
			t.Errorf("%s = %+v, want a symlink to %s", name, h, target)
		}
	}
	for _, p := range []string{"etc/nginx/mime.types", "usr/sbin/nginx"} {
		if h := hdrs[p]; h == nil || h.Typeflag != tar.TypeReg {
			t.Errorf("%s missing", p)
		}
	}
	for _, d := range []string{"var/cache/nginx", "var/lib/nginx", "run"} {
		if h := hdrs[d]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("dir %s missing", d)
		}
	}
	// The binary's libraries and loader, as the loader finds them.
	deps, err := readDeps("/", "/usr/sbin/nginx")
	if err != nil || deps == nil {
		t.Fatalf("nginx deps: %v", err)
	}
	follow(t, hdrs, deps.interp)
	host := newLayer("/", nil)
	for _, so := range deps.needed {
		p, err := host.findLibrary(so, deps)
		if err != nil {
			t.Fatal(err)
		}
		follow(t, hdrs, p) // fails unless the path resolves in the layer
	}
	for n := range hdrs {
		if strings.HasPrefix(n, "usr/share/doc") || strings.HasPrefix(n, "usr/share/man") || strings.HasPrefix(n, "etc/init.d") {
			t.Errorf("%s should be skipped", n)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if !slices.Equal(c.Cmd, []string{"nginx", "-g", "daemon off;"}) || c.StopSignal != "SIGQUIT" || len(c.Entrypoint) != 0 {
		t.Errorf("config %+v", c)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ExposedPorts %v", c.ExposedPorts)
	}
	if layers, _ := img.Layers(); len(layers) != 2 {
		t.Errorf("%d layers, want busybox's and nginx's", len(layers))
	}
	// Debian's build has the stub_status module the adapter example needs.
	if out, err := exec.Command("/usr/sbin/nginx", "-V").CombinedOutput(); err != nil || !strings.Contains(string(out), "--with-http_stub_status_module") {
		t.Errorf("nginx -V: %v\n%s", err, out)
	}
}

func TestNginxPrometheusExporter(t *testing.T) {
	installed(t, NginxPrometheusExporter.Packages...)
	base, err := busybox.Build()
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(base, Host, NginxPrometheusExporter)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, _ := topLayer(t, img)
	if got := follow(t, hdrs, ExporterBinary); got != "usr/bin/prometheus-nginx-exporter" {
		t.Errorf("%s resolves to %s", ExporterBinary, got)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{ExporterBinary}) {
		t.Errorf("Entrypoint %v", cfg.Config.Entrypoint)
	}
	if _, ok := cfg.Config.ExposedPorts["9113/tcp"]; !ok {
		t.Errorf("ExposedPorts %v", cfg.Config.ExposedPorts)
	}
	// The seed's SCRAPE_URI works with Debian's 0.11 as with upstream 0.9.
	out, err := exec.Command("/usr/bin/prometheus-nginx-exporter", "-h").CombinedOutput()
	if !strings.Contains(string(out), "SCRAPE_URI") || !strings.Contains(string(out), "-nginx.scrape-uri") {
		t.Errorf("exporter -h (%v) lacks SCRAPE_URI or -nginx.scrape-uri:\n%s", err, out)
	}
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
