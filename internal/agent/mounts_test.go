package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestMounts_SubPathExpr(t *testing.T) {
	vols := t.TempDir()
	data := filepath.Join(vols, "kubernetes.io~empty-dir", "data")
	cfg := filepath.Join(vols, "kubernetes.io~configmap", "cfg")
	outside := t.TempDir()
	for _, d := range []string{data, cfg} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	// A container could plant these in a shared emptyDir.
	if err := os.Symlink(outside, filepath.Join(data, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../..", filepath.Join(data, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(data, "inner"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(data, "inner"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inner", filepath.Join(data, "ok")); err != nil {
		t.Fatal(err)
	}
	volumes := map[string]string{"data": data, "cfg": cfg}
	env := []corev1.EnvVar{{Name: "POD_NAME", Value: "web-0"}, {Name: "EMPTY"}, {Name: "SUB", Value: "a/b"}}

	cases := []struct {
		name     string
		mount    corev1.VolumeMount
		want     string // Source, relative to vols
		readOnly bool
		wantErr  string
	}{
		{name: "expanded and created", mount: corev1.VolumeMount{Name: "data", SubPathExpr: "logs/$(POD_NAME)"}, want: "kubernetes.io~empty-dir/data/logs/web-0"},
		{name: "nested value", mount: corev1.VolumeMount{Name: "data", SubPathExpr: "$(SUB)"}, want: "kubernetes.io~empty-dir/data/a/b"},
		{name: "escaped dollar", mount: corev1.VolumeMount{Name: "data", SubPathExpr: "$$(POD_NAME)"}, want: "kubernetes.io~empty-dir/data/$(POD_NAME)"},
		{name: "unset var", mount: corev1.VolumeMount{Name: "data", SubPathExpr: "$(NOPE)/$(POD_NAME)"}, wantErr: "missing value for NOPE"},
		{name: "empty var", mount: corev1.VolumeMount{Name: "data", SubPathExpr: "x/$(EMPTY)"}, wantErr: "missing value for EMPTY"},
		{name: "two missing, sorted", mount: corev1.VolumeMount{Name: "data", SubPathExpr: "$(Z)$(EMPTY)"}, wantErr: "missing value for EMPTY, Z"},
		{name: "symlink inside the volume followed", mount: corev1.VolumeMount{Name: "data", SubPath: "ok"}, want: "kubernetes.io~empty-dir/data/inner"},
		{name: "symlink out of the volume refused", mount: corev1.VolumeMount{Name: "data", SubPath: "escape"}, wantErr: `volumeMount "data" of container "c"`},
		{name: "relative symlink out refused", mount: corev1.VolumeMount{Name: "data", SubPath: "up/etc"}, wantErr: `volumeMount "data" of container "c"`},
		{name: "backsteps refused", mount: corev1.VolumeMount{Name: "data", SubPathExpr: "../$(POD_NAME)"}, wantErr: "must not contain '..'"},
		{name: "absolute refused", mount: corev1.VolumeMount{Name: "data", SubPath: "/etc"}, wantErr: "must be a relative path"},
		{name: "configMap forced read-only", mount: corev1.VolumeMount{Name: "cfg"}, want: "kubernetes.io~configmap/cfg", readOnly: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.mount.MountPath = "/mnt"
			c := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{tc.mount}}
			got, err := mounts(c, env, volumes, podFiles{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Source != filepath.Join(vols, tc.want) || got[0].ReadOnly != tc.readOnly {
				t.Fatalf("mounts = %+v, want source %s readOnly %v", got, tc.want, tc.readOnly)
			}
			// Created with the volume's mode despite the umask.
			if info, err := os.Stat(got[0].Source); err != nil || info.Mode().Perm() != 0o777 {
				t.Errorf("subPath dir: %v, %v; want mode 0777", info, err)
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something was created outside the volume: %v", entries)
	}
}
