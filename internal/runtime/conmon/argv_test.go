package conmon

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestConmonArgs_Golden(t *testing.T) {
	base := conmonArgs{
		ID:            "0123abcd",
		Name:          "app",
		RuntimePath:   "/usr/bin/crun",
		Bundle:        "/var/lib/peapod/containers/0123abcd",
		PidFile:       "/var/lib/peapod/containers/0123abcd/pidfile",
		ConmonPidFile: "/var/lib/peapod/containers/0123abcd/conmon.pid",
		PersistDir:    "/var/lib/peapod/containers/0123abcd",
		ExitDir:       "/var/lib/peapod/containers/0123abcd/exits",
		LogPath:       "/var/log/pods/ns_pod_uid/app/0.log",
		SocketDir:     "/run/peapod/sockets",
		RuntimeArgs:   globalArgs("/usr/bin/crun", "/run/peapod/crun"),
	}
	tty := base
	tty.Terminal, tty.Stdin = true, true
	tty.RuntimePath = "/usr/sbin/runc"
	tty.RuntimeArgs = globalArgs("/usr/sbin/runc", "/run/peapod/runc")
	for name, a := range map[string]conmonArgs{"crun": base, "runc-tty-stdin": tty} {
		t.Run(name, func(t *testing.T) {
			got := strings.Join(a.argv(), "\n") + "\n"
			file := filepath.Join("testdata", "argv-"+name+".txt")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if got != string(want) {
				t.Errorf("argv differs from %s (go test -update rewrites it):\n%s", file, got)
			}
		})
	}
}
