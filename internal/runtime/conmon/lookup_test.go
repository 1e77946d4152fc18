package conmon

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLookIn(t *testing.T) {
	pathDir := t.TempDir()
	t.Setenv("PATH", pathDir)
	inPath := filepath.Join(pathDir, "crun")
	if err := os.WriteFile(inPath, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// helper is the mode of LibexecDir/crun; 0: absent.
		helper os.FileMode
		arg    string
		want   string // "helper", "path", or a literal path
	}{
		{name: "a static build in the helper dir wins over PATH", helper: 0o755, arg: "crun", want: "helper"},
		{name: "no helper: PATH", arg: "crun", want: "path"},
		{name: "a helper that is not executable is ignored", helper: 0o644, arg: "crun", want: "path"},
		{name: "a path is taken as it is", helper: 0o755, arg: inPath, want: inPath},
		{name: "another name is looked up by its own name", helper: 0o755, arg: "runc", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			helper := filepath.Join(dir, "crun")
			if tc.helper != 0 {
				if err := os.WriteFile(helper, []byte("#!/bin/sh\n"), tc.helper); err != nil {
					t.Fatal(err)
				}
			}
			got, err := lookIn(dir, tc.arg)
			want := map[string]string{"helper": helper, "path": inPath}[tc.want]
			if want == "" {
				want = tc.want
			}
			if want == "" {
				if err == nil {
					t.Errorf("lookIn(%q) = %q, want not found", tc.arg, got)
				}
				return
			}
			if err != nil || got != want {
				t.Errorf("lookIn(%q) = %q, %v; want %q", tc.arg, got, err, want)
			}
		})
	}
}
