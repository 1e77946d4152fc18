// Package debian builds images from the files of installed Debian packages
// and the shared libraries their ELF binaries need, as a layer on top of a
// base image (the busybox one), so peapod can run the usual images without
// a registry. Builds are deterministic: fixed mtimes and owners, sorted
// entries, so the same installed packages always give the same image ID.
package debian

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is every entry's mtime and the image's creation time.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Source is where the packages are installed.
type Source struct {
	// Root is the filesystem the package paths are relative to.
	Root string
	// Files lists a package's paths, as "dpkg -L" does.
	Files func(pkg string) ([]string, error)
	// Version is a package's version, for the layer's history.
	Version func(pkg string) (string, error)
}

// Host is the machine's own dpkg database and filesystem.
var Host = Source{Root: "/", Files: dpkgFiles, Version: dpkgVersion}

func dpkgFiles(pkg string) ([]string, error) {
	out, err := exec.Command("dpkg-query", "-L", pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-query -L %s: %w (is the package installed?)", pkg, err)
	}
	return strings.Split(string(out), "\n"), nil
}

func dpkgVersion(pkg string) (string, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-query -W %s: %w (is the package installed?)", pkg, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// File is an entry the spec adds or replaces: a regular file (Data), a
// symlink (Link) or, with Dir, a directory.
type File struct {
	Path     string
	Mode     int64
	Data     string
	Link     string
	Dir      bool
	UID, GID int
}

// User is an /etc/passwd entry (with a group of the same name and id).
type User struct {
	Name     string
	UID      int
	Home     string
	Shell    string
	GroupGID int // the user's primary group; a group Name:GroupGID is written
}

// Spec describes an image.
type Spec struct {
	Packages []string
	// Skip are path prefixes not taken from the packages (docs and man
	// pages are always skipped).
	Skip []string
	// Files are added after the packages', replacing any of theirs.
	Files []File
	// Users are written to /etc/passwd and /etc/group after root and nobody.
	Users []User
	// Config is applied over the base image's: Entrypoint, Cmd, User,
	// WorkingDir, ExposedPorts and StopSignal replace, Env is appended.
	Config v1.Config
}

// alwaysSkip are never needed to run anything.
var alwaysSkip = []string{"/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/lintian", "/usr/share/doc-base", "/usr/share/bug"}

// Build builds spec's image from src on top of base: one new layer.
func Build(base v1.Image, src Source, spec Spec) (v1.Image, error) {
	img, err := build(base, src, spec)
	if err != nil {
		return nil, fmt.Errorf("debian image %v: %w", spec.Packages, err)
	}
	return img, nil
}

func build(base v1.Image, src Source, spec Spec) (v1.Image, error) {
	baseDirs, err := dirsOf(base)
	if err != nil {
		return nil, err
	}
	l := newLayer(src.Root, baseDirs)
	var versions []string
	for _, pkg := range spec.Packages {
		paths, err := src.Files(pkg)
		if err != nil {
			return nil, err
		}
		v, err := src.Version(pkg)
		if err != nil {
			return nil, err
		}
		versions = append(versions, pkg+" "+v)
		for _, p := range paths {
			p = path.Clean(strings.TrimSpace(p))
			// dpkg -L also prints "/." and diversion notes.
			if !strings.HasPrefix(p, "/") || p == "/" || skipped(p, spec.Skip) {
				continue
			}
			// dpkg lists paths that were removed since (path-exclude).
			if err := l.add(p, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("package %s: %w", pkg, err)
			}
		}
	}
	if err := l.addLibraries(); err != nil {
		return nil, err
	}
	for _, f := range append(etcFiles(spec.Users), spec.Files...) {
		l.put(f)
	}
	data, err := l.tar()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "peapod debian.Build", Comment: strings.Join(versions, ", ")},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: epoch}
	c := spec.Config
	cfg.Config.Entrypoint, cfg.Config.Cmd = c.Entrypoint, c.Cmd
	cfg.Config.User, cfg.Config.WorkingDir = c.User, c.WorkingDir
	cfg.Config.ExposedPorts, cfg.Config.StopSignal = c.ExposedPorts, c.StopSignal
	cfg.Config.Env = append(cfg.Config.Env, c.Env...)
	cfg.Config.Labels = c.Labels
	return mutate.ConfigFile(img, cfg)
}

func skipped(p string, prefixes []string) bool {
	for _, list := range [][]string{prefixes, alwaysSkip} {
		for _, s := range list {
			if p == s || strings.HasPrefix(p, s+"/") {
				return true
			}
		}
	}
	return false
}

// etcFiles are /etc/passwd and /etc/group with root, nobody and users, and
// a world-writable /tmp.
func etcFiles(users []User) []File {
	passwd := "root:x:0:0:root:/root:/bin/sh\n"
	group := "root:x:0:\n"
	for _, u := range users {
		shell := u.Shell
		if shell == "" {
			shell = "/bin/false"
		}
		passwd += fmt.Sprintf("%s:x:%d:%d:%s:%s:%s\n", u.Name, u.UID, u.GroupGID, u.Name, u.Home, shell)
		group += fmt.Sprintf("%s:x:%d:\n", u.Name, u.GroupGID)
	}
	passwd += "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group += "nogroup:x:65534:\n"
	return []File{
		{Path: "/etc/passwd", Mode: 0o644, Data: passwd},
		{Path: "/etc/group", Mode: 0o644, Data: group},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: "passwd: files\ngroup: files\nhosts: files dns\n"},
		{Path: "/tmp", Mode: 0o1777, Dir: true},
	}
}

// dirsOf returns the directories of base's filesystem.
func dirsOf(base v1.Image) (map[string]bool, error) {
	layers, err := base.Layers()
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rc.Close()
				return nil, fmt.Errorf("base layer: %w", err)
			}
			name := strings.Trim(path.Clean("/"+h.Name), "/")
			dirs[name] = h.Typeflag == tar.TypeDir
		}
		rc.Close()
	}
	return dirs, nil
}

// entry is one layer entry; a regular file's content is read from host
// when the tar is written, or is data.
type entry struct {
	hdr  tar.Header
	host string
	data []byte
}

// layer collects entries by their path in the image ("usr/sbin/nginx").
type layer struct {
	root     string
	baseDirs map[string]bool
	entries  map[string]*entry
	elfs     []string // host paths (inside root) of the ELF files added so far
}

func newLayer(root string, baseDirs map[string]bool) *layer {
	return &layer{root: root, baseDirs: baseDirs, entries: map[string]*entry{}}
}

// maxLinks bounds symlink chains, as the kernel's ELOOP does.
const maxLinks = 40

// add puts the absolute path p of root into the layer, with each directory
// on the way and, for symlinks, what they point to. A symlinked directory
// where the base image has a real one (Debian's /bin -> usr/bin under
// busybox's /bin) stays the base's directory, and p is put inside it.
func (l *layer) add(p string, links int) error {
	if links > maxLinks {
		return fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	img, host := "", "/"
	for i, part := range parts {
		img, host = path.Join(img, part), path.Join(host, part)
		fi, err := os.Lstat(filepath.Join(l.root, host))
		if err != nil {
			return err
		}
		last := i == len(parts)-1
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(l.root, host))
			if err != nil {
				return err
			}
			resolved := target
			if !path.IsAbs(target) {
				resolved = path.Join(path.Dir(host), target)
			}
			rest := path.Join(append([]string{"/"}, parts[i+1:]...)...)
			if !last && l.baseDirs[img] {
				// Keep the base's directory; read on through the link.
				if host, err = l.resolve(resolved, links+1); err != nil {
					return err
				}
				continue
			}
			if _, ok := l.entries[img]; !ok {
				l.entries[img] = &entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: img, Linkname: target, Mode: 0o777}}
			}
			return l.add(path.Join(resolved, rest), links+1)
		case fi.IsDir():
			if _, ok := l.entries[img]; !ok && !l.baseDirs[img] {
				l.entries[img] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: img + "/", Mode: modeBits(fi.Mode())}}
			}
		case fi.Mode().IsRegular() && last:
			if _, ok := l.entries[img]; !ok {
				l.entries[img] = &entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: img, Mode: modeBits(fi.Mode()), Size: fi.Size()}, host: host}
				l.elfs = append(l.elfs, host)
			}
		case last:
			return nil // sockets, fifos and devices are not package content
		default:
			return fmt.Errorf("%s: not a directory", host)
		}
	}
	return nil
}

// modeBits is m as tar's mode: permissions and the setuid, setgid and
// sticky bits.
func modeBits(m fs.FileMode) int64 {
	bits := int64(m.Perm())
	for flag, bit := range map[fs.FileMode]int64{fs.ModeSetuid: 0o4000, fs.ModeSetgid: 0o2000, fs.ModeSticky: 0o1000} {
		if m&flag != 0 {
			bits |= bit
		}
	}
	return bits
}

// resolve returns p with every symlink in it followed, inside root.
func (l *layer) resolve(p string, links int) (string, error) {
	if links > maxLinks {
		return "", fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := path.Join(cur, part)
		fi, err := os.Lstat(filepath.Join(l.root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		target, err := os.Readlink(filepath.Join(l.root, next))
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(cur, target)
		}
		return l.resolve(path.Join(append([]string{target}, parts[i+1:]...)...), links+1)
	}
	return cur, nil
}

// put adds or replaces an entry the spec gives.
func (l *layer) put(f File) {
	name := strings.Trim(path.Clean(f.Path), "/")
	h := tar.Header{Name: name, Mode: f.Mode, Uid: f.UID, Gid: f.GID}
	switch {
	case f.Dir:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case f.Link != "":
		h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
	default:
		h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
	}
	l.entries[name] = &entry{hdr: h, data: []byte(f.Data)}
	// Its parents, unless a package or the base has them.
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if _, ok := l.entries[d]; !ok && !l.baseDirs[d] {
			l.entries[d] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}}
		}
	}
}

// tar writes the entries sorted by name (parents first), with fixed
// times and owners.
func (l *layer) tar() ([]byte, error) {
	names := make([]string, 0, len(l.entries))
	for n := range l.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := l.entries[n]
		h := e.hdr
		h.ModTime = epoch
		data := e.data
		if e.host != "" {
			b, err := os.ReadFile(filepath.Join(l.root, e.host))
			if err != nil {
				return nil, err
			}
			data, h.Size = b, int64(len(b))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
