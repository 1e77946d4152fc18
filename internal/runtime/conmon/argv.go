package conmon

import "path/filepath"

// conmonArgs is what one conmon invocation needs; argv turns it into the
// command line. Pure, golden-tested.
type conmonArgs struct {
	ID            string
	Name          string
	RuntimePath   string
	Bundle        string
	PidFile       string // the container's init PID, written by the runtime
	ConmonPidFile string
	PersistDir    string // conmon writes "exit" and "oom" here
	ExitDir       string // conmon writes a file named ID here
	LogPath       string
	SocketDir     string // attach sockets; must exist
	RuntimeArgs   []string
	Terminal      bool
	Stdin         bool
}

func (a conmonArgs) argv() []string {
	args := []string{
		"--api-version", "1",
		"-c", a.ID,
		"-u", a.ID,
		"-n", a.Name,
		"-r", a.RuntimePath,
		"-b", a.Bundle,
		"-p", a.PidFile,
		"-P", a.ConmonPidFile,
		"--persist-dir", a.PersistDir,
		"--exit-dir", a.ExitDir,
		"-l", "k8s-file:" + a.LogPath,
		"--log-level", "error",
		"--socket-dir-path", a.SocketDir,
	}
	if a.Terminal {
		args = append(args, "-t")
	}
	if a.Stdin {
		args = append(args, "-i")
	}
	for _, ra := range a.RuntimeArgs {
		args = append(args, "--runtime-arg", ra)
	}
	return args
}

// globalArgs are the OCI runtime's options that precede every subcommand,
// for conmon's --runtime-arg and for our own calls alike.
func globalArgs(runtimePath, stateRoot string) []string {
	args := []string{"--root=" + stateRoot}
	if filepath.Base(runtimePath) == "crun" {
		// crun would pick systemd when it sees it; this host has none.
		args = append(args, "--cgroup-manager=cgroupfs")
	}
	return args
}
