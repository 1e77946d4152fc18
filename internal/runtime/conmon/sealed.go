package conmon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// clonedBinaryEnv tells runc that a read-only binary is its safe copy
// (runc checks the mount as well; crun needs only the mount).
const clonedBinaryEnv = "_LIBCONTAINER_CLONED_BINARY=1"

// sealedRuntime returns a path that executes the OCI runtime's binary
// from a read-only bind mount, or path itself when the kernel cannot make
// one.
//
// Against CVE-2019-5736 (a container overwriting the host's runtime
// through /proc/self/exe), crun and runc copy themselves into a sealed
// memfd and execute the copy, on every command, unless their binary is on
// a read-only mount: that copy and second exec were half of each runtime
// call's cost (crun --version: 9.4 ms, 5.2 ms read-only). The mount is a
// detached clone of the binary's directory (open_tree), attached nowhere,
// so there is nothing to unmount and nothing shared between processes: it
// lives while this process, or a runtime executing from it, holds it. The
// path goes through the /proc link of our descriptor, which conmon,
// running the runtime's create while we wait, can follow as well; it ends
// in the binary's own name, which the kernel gives the process (ps, perf).
func sealedRuntime(path string) string {
	fd, err := unix.OpenTree(unix.AT_FDCWD, filepath.Dir(path), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return path
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(fd)
		return path
	}
	return fmt.Sprintf("/proc/%d/fd/%d/%s", os.Getpid(), fd, filepath.Base(path))
}

// runtimeCommand is the OCI runtime with the global options and args, run
// from its sealed copy under its real name (what ps and errors show).
func (r *Runtime) runtimeCommand(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(globalArgs(r.runtimePath, r.stateRoot()), args...)
	cmd := exec.CommandContext(ctx, r.runtimeExe, argv...)
	cmd.Args[0] = r.runtimePath
	if r.runtimeExe != r.runtimePath {
		cmd.Env = append(os.Environ(), clonedBinaryEnv)
	}
	return cmd
}
