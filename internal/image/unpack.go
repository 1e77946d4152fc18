package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout markers of the OCI image layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	xattrPrefix    = "SCHILY.xattr."
)

// Unpack extracts the uncompressed layer tar r into dir, an existing
// directory, in the form overlayfs expects of a lowerdir: whiteouts become
// 0:0 character devices and opaque markers the trusted.overlay.opaque xattr.
//
// Every file operation goes through an os.Root on dir, so no entry (a ".."
// name, a symlink pointing out, a hard link to "../x") can create or change
// anything outside dir; such entries fail the whole unpack. Ownership, device
// nodes and trusted.* xattrs are only applied when running as root.
func Unpack(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	u := &unpacker{root: root, privileged: os.Geteuid() == 0}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("unpack: read tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("unpack %q: %w", hdr.Name, err)
		}
	}
	return u.finishDirs()
}

type unpacker struct {
	root       *os.Root
	privileged bool
	// dirs get their mode and times last: adding children would change the
	// mtime, and a read-only mode would stop the children being created.
	dirs []dirMeta
}

type dirMeta struct {
	name         string
	mode         fs.FileMode
	atime, mtime time.Time
}

// cleanName makes a tar entry name relative to the layer root ("/a" and
// "./a" are "a"; the root itself is ".") and rejects names that climb out.
func cleanName(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", errors.New("NUL in name")
	}
	p := path.Clean("/" + name)
	// Clean of an absolute path never keeps "..", so check the raw name:
	// "../x" must be an error, not silently become "x".
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return "", fmt.Errorf("path %q escapes the layer", name)
		}
	}
	if p == "/" {
		return ".", nil
	}
	return p[1:], nil
}

func (u *unpacker) entry(hdr *tar.Header, tr io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}

	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) && base != whiteoutOpaque {
		return nil // AUFS metadata (.wh..wh.plnk and friends), not files
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(dir, base)
	}
	if dir != "." {
		// Parents missing from the tar are created as plain 0755 root dirs.
		if err := u.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if name != "." {
			if fi, err := u.root.Lstat(name); err == nil && !fi.IsDir() {
				if err := u.root.RemoveAll(name); err != nil {
					return err
				}
			}
			if err := u.root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
	case tar.TypeReg: // the reader already maps the legacy TypeRegA to TypeReg
		if err := u.replace(name); err != nil {
			return err
		}
		f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := u.replace(name); err != nil {
			return err
		}
		// The target is only text here; it is resolved inside the container's
		// root at run time, so it may be absolute or contain "..".
		if err := u.root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		if target == name {
			return nil // linking a file to itself: nothing to do
		}
		if err := u.replace(name); err != nil {
			return err
		}
		if err := u.root.Link(target, name); err != nil {
			return err
		}
		// A hard link shares its target's inode and metadata.
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if hdr.Typeflag != tar.TypeFifo && !u.privileged {
			return nil // device nodes need CAP_MKNOD; skip as rootless runtimes do
		}
		if err := u.replace(name); err != nil {
			return err
		}
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := u.at(dir, func(fd int) error { return unix.Mknodat(fd, base, mode, int(dev)) }); err != nil {
			return err
		}
	default:
		return nil // global headers, sockets and the like carry no file
	}
	return u.meta(hdr, name, dir, base)
}

// replace removes whatever an earlier entry left at name: in a tar the last
// entry for a path wins.
func (u *unpacker) replace(name string) error {
	if name == "." {
		return errors.New("entry would replace the layer root")
	}
	if err := u.root.RemoveAll(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// whiteout turns an OCI whiteout entry into its overlayfs form.
func (u *unpacker) whiteout(dir, base string) error {
	if dir != "." {
		if err := u.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if base == whiteoutOpaque {
		return u.setxattr(dir, ".", "trusted.overlay.opaque", []byte("y"))
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("bad whiteout %q", base)
	}
	name := path.Join(dir, target)
	if err := u.replace(name); err != nil {
		return err
	}
	return u.at(dir, func(fd int) error { return unix.Mknodat(fd, target, unix.S_IFCHR, 0) })
}

// at runs fn with a descriptor of dir, opened through the root so it is
// inside the layer; fn then works on a single path component.
func (u *unpacker) at(dir string, fn func(fd int) error) error {
	d, err := u.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

// setxattr sets an xattr on base in dir without following a symlink at base.
// There is no lsetxattrat, so go through the directory's /proc fd link.
func (u *unpacker) setxattr(dir, base, attr string, value []byte) error {
	return u.at(dir, func(fd int) error {
		if base == "." {
			return unix.Fsetxattr(fd, attr, value, 0)
		}
		return unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(fd)+"/"+base, attr, value, 0)
	})
}

// meta applies ownership, xattrs, mode and times, in that order: chown clears
// setuid bits, so the mode comes after it.
func (u *unpacker) meta(hdr *tar.Header, name, dir, base string) error {
	if u.privileged {
		if err := u.root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok {
			continue
		}
		if !u.privileged && (strings.HasPrefix(attr, "trusted.") || strings.HasPrefix(attr, "security.")) {
			continue
		}
		if err := u.setxattr(dir, base, attr, []byte(v)); err != nil {
			if errors.Is(err, unix.ENOTSUP) || (errors.Is(err, unix.EPERM) && hdr.Typeflag == tar.TypeSymlink) {
				continue // the filesystem (or a symlink) takes no xattrs of that namespace
			}
			return fmt.Errorf("xattr %s: %w", attr, err)
		}
	}
	mode := hdr.FileInfo().Mode()
	switch hdr.Typeflag {
	case tar.TypeDir:
		u.dirs = append(u.dirs, dirMeta{name: name, mode: mode, atime: hdr.AccessTime, mtime: hdr.ModTime})
		return nil
	case tar.TypeSymlink:
		// Symlink modes mean nothing on Linux.
	default:
		if err := u.root.Chmod(name, mode); err != nil {
			return err
		}
	}
	return u.setTimes(dir, base, hdr.AccessTime, hdr.ModTime)
}

func (u *unpacker) setTimes(dir, base string, atime, mtime time.Time) error {
	if mtime.IsZero() {
		return nil
	}
	if atime.IsZero() {
		atime = mtime
	}
	// Built by hand: UnixNano overflows for dates a crafted tar may carry.
	ts := []unix.Timespec{
		{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())},
		{Sec: mtime.Unix(), Nsec: int64(mtime.Nanosecond())},
	}
	if base == "." {
		return u.at(dir, func(fd int) error { return unix.UtimesNanoAt(fd, ".", ts, 0) })
	}
	return u.at(dir, func(fd int) error { return unix.UtimesNanoAt(fd, base, ts, unix.AT_SYMLINK_NOFOLLOW) })
}

// finishDirs sets directory modes and times, deepest first so a parent's
// mtime is not changed again afterwards.
func (u *unpacker) finishDirs() error {
	depth := func(name string) int {
		if name == "." {
			return -1
		}
		return strings.Count(name, "/")
	}
	sort.SliceStable(u.dirs, func(i, j int) bool { return depth(u.dirs[i].name) > depth(u.dirs[j].name) })
	for _, d := range u.dirs {
		fi, err := u.root.Lstat(d.name)
		if err != nil || !fi.IsDir() {
			continue // replaced by a later entry
		}
		if err := u.root.Chmod(d.name, d.mode); err != nil {
			return fmt.Errorf("unpack %q: %w", d.name, err)
		}
		dir, base := path.Split(d.name)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			dir = "."
		}
		if d.name == "." {
			base = "."
		}
		if err := u.setTimes(dir, base, d.atime, d.mtime); err != nil {
			return fmt.Errorf("unpack %q: %w", d.name, err)
		}
	}
	return nil
}
