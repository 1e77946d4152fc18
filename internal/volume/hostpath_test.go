package volume

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSetUpHostPath(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "dir")
	file := filepath.Join(tmp, "file")
	sock := filepath.Join(tmp, "sock")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(tmp, "dirlink")); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	block := ""
	for _, name := range []string{"/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/ram0"} {
		if info, err := os.Stat(name); err == nil && info.Mode()&os.ModeDevice != 0 && info.Mode()&os.ModeCharDevice == 0 {
			block = name
			break
		}
	}

	cases := []struct {
		typ      corev1.HostPathType
		path     string
		wantErr  string
		wantMode os.FileMode // of a created path
	}{
		{typ: corev1.HostPathUnset, path: file},
		{typ: corev1.HostPathUnset, path: filepath.Join(tmp, "made/by/runtime"), wantMode: os.ModeDir | 0o755},
		{typ: corev1.HostPathDirectoryOrCreate, path: dir},
		{typ: corev1.HostPathDirectoryOrCreate, path: filepath.Join(tmp, "new/dir"), wantMode: os.ModeDir | 0o755},
		{typ: corev1.HostPathDirectoryOrCreate, path: file, wantErr: "is not a directory"},
		{typ: corev1.HostPathDirectory, path: dir},
		{typ: corev1.HostPathDirectory, path: filepath.Join(tmp, "dirlink")},
		{typ: corev1.HostPathDirectory, path: filepath.Join(tmp, "nope"), wantErr: "does not exist"},
		{typ: corev1.HostPathDirectory, path: file, wantErr: "is not a directory"},
		{typ: corev1.HostPathFileOrCreate, path: file},
		{typ: corev1.HostPathFileOrCreate, path: filepath.Join(tmp, "newfile"), wantMode: 0o644},
		{typ: corev1.HostPathFileOrCreate, path: filepath.Join(tmp, "noparent/f"), wantErr: "no such file or directory"},
		{typ: corev1.HostPathFileOrCreate, path: dir, wantErr: "is not a file"},
		{typ: corev1.HostPathFile, path: file},
		{typ: corev1.HostPathFile, path: filepath.Join(tmp, "nope"), wantErr: "does not exist"},
		{typ: corev1.HostPathFile, path: sock, wantErr: "is not a file"},
		{typ: corev1.HostPathSocket, path: sock},
		{typ: corev1.HostPathSocket, path: file, wantErr: "is not a socket file"},
		{typ: corev1.HostPathSocket, path: filepath.Join(tmp, "nope"), wantErr: "is not a socket file"},
		{typ: corev1.HostPathCharDev, path: "/dev/null"},
		{typ: corev1.HostPathCharDev, path: dir, wantErr: "is not a character device"},
		{typ: corev1.HostPathBlockDev, path: "/dev/null", wantErr: "is not a block device"},
		{typ: corev1.HostPathBlockDev, path: block},
		{typ: "Bogus", path: dir, wantErr: `"Bogus" is an invalid volume type`},
	}
	for _, tc := range cases {
		t.Run(string(tc.typ)+" "+strings.TrimPrefix(tc.path, tmp), func(t *testing.T) {
			if tc.path == "" {
				t.Skip("no block device found")
			}
			paths, err := SetUp(t.TempDir(), testPod(corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: tc.path, Type: &tc.typ},
			}}), Source{})
			if tc.wantErr != "" {
				// The message names the volume, the path and the type.
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.path) ||
					!strings.Contains(err.Error(), `volume "h"`) || (tc.typ != "" && !strings.Contains(err.Error(), string(tc.typ))) {
					t.Fatalf("SetUp error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if paths["h"] != tc.path {
				t.Errorf("path = %s, want %s", paths["h"], tc.path)
			}
			if tc.wantMode != 0 {
				if info, err := os.Stat(tc.path); err != nil || info.Mode() != tc.wantMode {
					t.Errorf("created %s: %v, %v; want %v", tc.path, info.Mode(), err, tc.wantMode)
				}
			}
		})
	}
	// A nil type is the same as "".
	if _, err := SetUp(t.TempDir(), testPod(corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: dir},
	}}), Source{}); err != nil {
		t.Error(err)
	}
}
