package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's atomic writer layout (pkg/volume/util/atomic_writer.go):
//
//	<dir>/..2024_01_02_15_04_05.123456789/<files>   the data, one dir per version
//	<dir>/..data -> ..2024_01_02_15_04_05.123456789
//	<dir>/<top-level name> -> ..data/<top-level name>
//
// A new version is written to a new timestamped dir, then ..data is swapped
// to it with a rename of ..data_tmp, so readers see either all old or all
// new files.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// file is one projected file: its content and permission bits.
type file struct {
	data []byte
	mode int32
}

// payload maps a relative path in the volume to its file.
type payload map[string]file

// fileMode turns an API mode (0-0777) into permission bits.
func fileMode(m int32) os.FileMode { return os.FileMode(uint32(m)) & os.ModePerm }

// validatePath is the atomic writer's check on projected paths: relative,
// no "..", and not starting with ".." (the writer's own names).
func validatePath(p string) error {
	switch {
	case p == "":
		return errors.New("invalid path: must not be empty")
	case path.IsAbs(p):
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	case len(p) > 4096:
		return errors.New("invalid path: must be less than or equal to 4096 characters")
	}
	items := strings.Split(p, "/")
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > 255 {
			return errors.New("invalid path: filenames must be less than or equal to 255 characters")
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}

// writeAtomic makes dir hold exactly files, swapping in a new version only
// if something changed. fsGroup, if set, gets group ownership and read
// access to the files, as the kubelet's SetVolumeOwnership does for
// read-only volumes.
func writeAtomic(dir string, files payload, fsGroup *int64) error {
	clean := make(payload, len(files))
	for p, f := range files {
		if err := validatePath(p); err != nil {
			return err
		}
		clean[path.Clean(p)] = f
	}
	dataDir := filepath.Join(dir, dataDirName)
	oldTs, err := os.Readlink(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if oldTs != "" && sameFiles(filepath.Join(dir, oldTs), clean, fsGroup) {
		return createVisible(dir, clean) // a crash may have left them out
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := writeFiles(tsDir, clean, fsGroup); err != nil {
		return errors.Join(err, os.RemoveAll(tsDir))
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	if err := os.Remove(tmpLink); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errors.Join(err, os.RemoveAll(tsDir)) // left by a crash
	}
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return errors.Join(err, os.RemoveAll(tsDir))
	}
	if err := os.Rename(tmpLink, dataDir); err != nil {
		return errors.Join(err, os.Remove(tmpLink), os.RemoveAll(tsDir))
	}
	if err := createVisible(dir, clean); err != nil {
		return err
	}
	return removeStale(dir, filepath.Base(tsDir), clean)
}

// writeFiles writes the payload into a fresh version dir.
func writeFiles(tsDir string, files payload, fsGroup *int64) error {
	if err := os.Chmod(tsDir, 0o755); err != nil { // MkdirTemp makes 0700
		return err
	}
	for p, f := range files {
		full := filepath.Join(tsDir, p)
		if err := mkdirMode(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, fileMode(f.mode)); err != nil {
			return err
		}
		if err := os.Chmod(full, fileMode(f.mode)); err != nil { // the umask
			return err
		}
	}
	if fsGroup == nil {
		return nil
	}
	return filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, int(*fsGroup)); err != nil {
			return err
		}
		return os.Chmod(p, info.Mode()|groupMask(d.IsDir()))
	})
}

// groupMask is what the kubelet adds for fsGroup on a read-only volume.
func groupMask(dir bool) os.FileMode {
	if dir {
		return 0o550 | os.ModeSetgid
	}
	return 0o440
}

// sameFiles reports whether the version in tsDir holds exactly files, with
// the same modes and contents.
func sameFiles(tsDir string, files payload, fsGroup *int64) bool {
	n := 0
	err := filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, err := filepath.Rel(tsDir, p)
		if err != nil {
			return err
		}
		f, ok := files[filepath.ToSlash(rel)]
		if !ok {
			return fs.ErrNotExist
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fileMode(f.mode)
		if fsGroup != nil {
			want |= groupMask(false)
		}
		if info.Mode() != want {
			return fs.ErrInvalid
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, f.data) {
			return fs.ErrInvalid
		}
		return nil
	})
	return err == nil && n == len(files)
}

// createVisible links each top-level name of the payload through ..data.
func createVisible(dir string, files payload) error {
	for p := range files {
		top, _, _ := strings.Cut(p, "/")
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, top), link); err != nil {
			return err
		}
	}
	return nil
}

// removeStale removes the visible links the new payload no longer has and
// every version dir but current (older ones, or one left by a crash).
func removeStale(dir, current string, files payload) error {
	keep := map[string]bool{dataDirName: true, current: true}
	for p := range files {
		top, _, _ := strings.Cut(p, "/")
		keep[top] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if keep[name] {
			continue
		}
		if strings.HasPrefix(name, "..") || e.Type()&fs.ModeSymlink != 0 {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, name)))
		}
	}
	return errors.Join(errs...)
}

// setUpAtomic makes the volume dir (a tmpfs if inMemory, for secrets as
// the kubelet does) and writes files into it.
func setUpAtomic(podDir, plugin, name string, pod *corev1.Pod, files payload, inMemory bool) (string, error) {
	dir := filepath.Join(Dir(podDir), plugin, name)
	if err := mkdirMode(dir, 0o777); err != nil {
		return "", err
	}
	if inMemory {
		// Secrets must never reach the disk.
		if err := mountTmpfs(dir, "mode=1777"); err != nil {
			return "", err
		}
	}
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	if err := writeAtomic(dir, files, fsGroup); err != nil {
		return "", fmt.Errorf("write %s: %w", dir, err)
	}
	return dir, nil
}
