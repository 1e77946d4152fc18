package conmon

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"peapod/internal/runtime"
	"peapod/internal/runtime/bundle"
)

// meta is what peapod itself remembers of a container, next to its bundle,
// so status and list work after a restart.
type meta struct {
	ID          string
	Spec        runtime.ContainerSpec
	CgroupsPath string
	CreatedAt   time.Time
	StartedAt   time.Time `json:",omitempty"`
	ConmonPID   int
}

// Files in a container's directory <Root>/<id>/.
const (
	metaFile   = "meta.json"
	exitFile   = "exit" // written by conmon in its persist dir
	oomFile    = "oom"  // ditto, when the container was OOM-killed
	conmonPid  = "conmon.pid"
	initPid    = "pidfile"
	rootfsDir  = "rootfs"
	upperDir   = "upper"
	workDir    = "work"
	exitDirSub = "exits"
)

func (r *Runtime) containerDir(id string) string { return filepath.Join(r.cfg.Root, id) }

func newID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// CreateContainer mounts the rootfs, writes the bundle and has conmon run
// the OCI runtime's create. The process waits for StartContainer.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	sb, err := r.loadSandbox(spec.SandboxID)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	if err := r.create(ctx, id, sb, spec); err != nil {
		err = fmt.Errorf("create container %s (%s) in sandbox %s: %w", spec.Name, id, spec.SandboxID, err)
		return "", errors.Join(err, r.RemoveContainer(context.WithoutCancel(ctx), id))
	}
	return id, nil
}

func (r *Runtime) create(ctx context.Context, id string, sb *runtime.Sandbox, spec runtime.ContainerSpec) error {
	dir := r.containerDir(id)
	if spec.LogPath == "" {
		spec.LogPath = filepath.Join(r.cfg.Root, "logs", id+".log")
	}
	m := &meta{
		ID:          id,
		Spec:        spec,
		CgroupsPath: sb.CgroupParent + "/" + id,
		CreatedAt:   time.Now().UTC(),
	}
	// The directory appears with its metadata in it (renamed into place),
	// so that a create cut short by a kill leaves nothing that the
	// sandbox's removal would not find and remove.
	tmp := filepath.Join(r.cfg.Root, creatingPrefix+id)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, metaFile), m); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	r.sandboxOf.Store(id, spec.SandboxID)
	for _, d := range []string{filepath.Join(dir, upperDir), filepath.Join(dir, workDir), filepath.Join(dir, rootfsDir), filepath.Join(dir, exitDirSub), filepath.Dir(spec.LogPath)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// The upper dir is the container's "/" (overlayfs takes the root's
	// attributes from it): it must be searchable by any user, as an image's
	// root is, or non-root processes (nginx workers) cannot reach anything.
	if err := os.Chmod(filepath.Join(dir, upperDir), 0o755); err != nil {
		return err
	}
	if err := mountRootfs(dir, spec.RootfsLayers); err != nil {
		return err
	}
	s, err := bundle.Spec(bundle.Input{
		Container:   spec,
		Sandbox:     *sb,
		RootfsPath:  filepath.Join(dir, rootfsDir),
		CgroupsPath: m.CgroupsPath,
		Host:        r.host,
	})
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), s); err != nil {
		return err
	}
	socketDir := r.socketDir()
	if err := os.MkdirAll(socketDir, 0o700); err != nil {
		return err
	}
	pid, err := r.startConmon(ctx, conmonArgs{
		ID:            id,
		Name:          spec.Name,
		RuntimePath:   r.runtimeExe,
		Bundle:        dir,
		PidFile:       filepath.Join(dir, initPid),
		ConmonPidFile: filepath.Join(dir, conmonPid),
		PersistDir:    dir,
		ExitDir:       filepath.Join(dir, exitDirSub),
		LogPath:       spec.LogPath,
		SocketDir:     socketDir,
		RuntimeArgs:   globalArgs(r.runtimePath, r.stateRoot()),
		Terminal:      spec.Tty,
		Stdin:         spec.Stdin,
	})
	if pid > 0 {
		m.ConmonPID = pid
		if werr := writeJSON(filepath.Join(dir, metaFile), m); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return err
}

// mountRootfs mounts an overlay of the image layers with the container's
// own upper dir; even one layer gets an overlay, for a writable rootfs that
// leaves the layer untouched.
func mountRootfs(dir string, layers []string) error {
	if len(layers) == 0 {
		return errors.New("no rootfs layers")
	}
	for _, l := range layers {
		if !filepath.IsAbs(l) || strings.ContainsAny(l, ":,") {
			return fmt.Errorf("rootfs layer %q: must be absolute, without ':' or ','", l)
		}
	}
	opts := "lowerdir=" + strings.Join(layers, ":") +
		",upperdir=" + filepath.Join(dir, upperDir) +
		",workdir=" + filepath.Join(dir, workDir)
	if err := unix.Mount("overlay", filepath.Join(dir, rootfsDir), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay rootfs (%s): %w", opts, err)
	}
	return nil
}

// syncMessage is what conmon writes on _OCI_SYNCPIPE with --api-version 1:
// {"data": PID} once the runtime created the container, or a negative
// data with a message when it failed.
type syncMessage struct {
	Data    int    `json:"data"`
	Message string `json:"message,omitempty"`
}

// startConmon runs conmon, which daemonizes and runs "<runtime> create",
// and returns the PID of conmon's daemon half (now our child, as we are a
// subreaper). A reaper goroutine waits for it.
func (r *Runtime) startConmon(ctx context.Context, a conmonArgs) (int, error) {
	parent, child, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer parent.Close()
	argv := a.argv()
	cmd := exec.CommandContext(ctx, r.conmonPath, argv...)
	cmd.ExtraFiles = []*os.File{child} // fd 3
	cmd.Env = []string{"_OCI_SYNCPIPE=3", "PATH=" + os.Getenv("PATH")}
	if r.runtimeExe != r.runtimePath {
		cmd.Env = append(cmd.Env, clonedBinaryEnv) // conmon passes it on to the runtime
	}
	// conmon writes a second "oom" file into its working directory; keep
	// it in the container's directory, not wherever peapod was started.
	cmd.Dir = a.PersistDir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	runErr := cmd.Run() // returns when conmon's first half has forked and exited
	child.Close()
	runErrorf := func(err error, out string) error {
		return &RunError{Command: append([]string{r.conmonPath}, argv...), Output: []byte(out), Inner: err}
	}
	if runErr != nil {
		return 0, runErrorf(runErr, stderr.String())
	}
	pid, perr := readPid(a.ConmonPidFile)
	if perr == nil {
		r.reap(a.ID, pid)
	}
	// conmon keeps its end open until the runtime's create finished, then
	// writes one message.
	line, err := bufio.NewReader(parent).ReadBytes('\n')
	if len(line) == 0 && err != nil {
		return pid, errors.Join(runErrorf(fmt.Errorf("no message on the sync pipe: %w", err), stderr.String()), perr)
	}
	var msg syncMessage
	if err := json.Unmarshal(line, &msg); err != nil {
		return pid, runErrorf(fmt.Errorf("bad sync message %q: %w", line, err), stderr.String())
	}
	if msg.Data < 0 {
		return pid, runErrorf(errors.New("runtime create failed"), msg.Message)
	}
	return pid, perr
}

func readPid(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid in %s: %q", file, b)
	}
	return pid, nil
}

// StartContainer starts a created container.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	m, err := r.loadMeta(id)
	if err != nil {
		return err
	}
	if _, err := r.ociCmd(ctx, "start", id); err != nil {
		return fmt.Errorf("start container %s (%s): %w", m.Spec.Name, id, err)
	}
	m.StartedAt = time.Now().UTC()
	if err := writeJSON(filepath.Join(r.containerDir(id), metaFile), m); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	return nil
}

func (r *Runtime) loadMeta(id string) (*meta, error) {
	if validID(id) != nil {
		return nil, fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	m, err := r.metas.read(filepath.Join(r.containerDir(id), metaFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
		}
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	c := *m // callers change the copy's own fields (StartedAt)
	return &c, nil
}

// ociState is the part of "<runtime> state" we read.
type ociState struct {
	Status string `json:"status"`
	Pid    int    `json:"pid"`
}

// ContainerStatus combines peapod's metadata, conmon's exit and oom files
// and the OCI runtime's state.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (*runtime.ContainerStatus, error) {
	m, err := r.loadMeta(id)
	if err != nil {
		return nil, err
	}
	return r.status(ctx, m)
}

func (r *Runtime) status(ctx context.Context, m *meta) (*runtime.ContainerStatus, error) {
	dir := r.containerDir(m.ID)
	st := &runtime.ContainerStatus{
		ID: m.ID, SandboxID: m.Spec.SandboxID, Name: m.Spec.Name, Attempt: m.Spec.Attempt,
		Image: m.Spec.Image, ImageID: m.Spec.ImageID, CreatedAt: m.CreatedAt, StartedAt: m.StartedAt,
		LogPath: m.Spec.LogPath, Labels: maps.Clone(m.Spec.Labels),
	}
	if r.readExit(dir, st) {
		return st, nil
	}
	alive := r.conmonAlive(m)
	if !m.StartedAt.IsZero() && alive {
		// Started, and its conmon, which writes the exit file as soon as
		// the process is gone, still runs: running, without asking the
		// runtime. A `crun state` per status made every observation and
		// every exec probe cost a process.
		st.State = runtime.StateRunning
		st.Pid, _ = readPid(filepath.Join(dir, initPid))
		return st, nil
	}
	// Created, or conmon gone without an exit file: the runtime knows.
	out, err := r.ociCmd(ctx, "state", m.ID)
	if err != nil {
		// A create that failed half-way leaves no runtime state.
		st.State, st.Message = runtime.StateUnknown, err.Error()
		return st, nil
	}
	var s ociState
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("container %s: runtime state %q: %w", m.ID, out, err)
	}
	st.Pid = s.Pid
	switch s.Status {
	case "created", "running", "paused":
		if !alive {
			// Without its monitor nothing logs it or records its exit:
			// unknown, which the kubelet kills and starts again.
			st.State, st.Message = runtime.StateUnknown, "container "+s.Status+" without its conmon"
		} else if s.Status == "created" {
			st.State = runtime.StateCreated
		} else {
			st.State = runtime.StateRunning
		}
	case "stopped":
		// conmon writes the exit file right after the runtime reports
		// the process gone; give it a moment.
		deadline := time.Now().Add(2 * time.Second)
		for !r.readExit(dir, st) {
			if time.Now().After(deadline) {
				st.State, st.Message = runtime.StateUnknown, "container stopped but conmon wrote no exit file"
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	default:
		st.State, st.Message = runtime.StateUnknown, "runtime state "+s.Status
	}
	return st, nil
}

// creatingPrefix names a container directory not yet renamed into place.
const creatingPrefix = ".creating-"

// removeUnfinished removes the directories of creates that a kill cut
// short before they were renamed into place: at start, none is in flight.
func removeUnfinished(root string) error {
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), creatingPrefix) {
			if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// readExit fills st from conmon's exit file, if there is one.
func (r *Runtime) readExit(dir string, st *runtime.ContainerStatus) bool {
	f := filepath.Join(dir, exitFile)
	b, err := os.ReadFile(f)
	if err != nil {
		return false
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false // being written
	}
	fi, err := os.Stat(f)
	if err != nil {
		return false
	}
	st.State, st.ExitCode, st.FinishedAt, st.Pid = runtime.StateExited, int32(code), fi.ModTime().UTC(), 0
	st.OOMKilled = exists(filepath.Join(dir, oomFile))
	return true
}

// ListContainers returns the containers of a sandbox, or all for "".
func (r *Runtime) ListContainers(ctx context.Context, sandboxID string) ([]*runtime.ContainerStatus, error) {
	entries, err := os.ReadDir(r.cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []*runtime.ContainerStatus
	var seen map[string]bool // a full listing's, to forget what is gone
	if sandboxID == "" {
		seen = map[string]bool{}
	}
	for _, e := range entries {
		id := e.Name()
		if strings.HasPrefix(id, creatingPrefix) {
			continue // not created yet
		}
		if seen != nil {
			seen[id] = true
		} else if sb, ok := r.sandboxOf.Load(id); ok && sb != sandboxID {
			continue
		}
		m, err := r.loadMeta(id)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // the logs dir, or a container being removed
		}
		if err != nil {
			return nil, err
		}
		r.sandboxOf.Store(id, m.Spec.SandboxID)
		if sandboxID != "" && m.Spec.SandboxID != sandboxID {
			continue
		}
		st, err := r.status(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	if seen != nil {
		// Forget containers another process removed.
		r.sandboxOf.Range(func(id, _ any) bool {
			if !seen[id.(string)] {
				r.sandboxOf.Delete(id)
			}
			return true
		})
	}
	return out, nil
}

// WaitContainer waits for the reaper when conmon is our child, and for
// conmon's exit file otherwise (after a peapod restart). Neither polls.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (*runtime.ContainerStatus, error) {
	for {
		m, err := r.loadMeta(id)
		if err != nil {
			return nil, err
		}
		st, err := r.status(ctx, m)
		if err != nil {
			return nil, err
		}
		if st.State == runtime.StateExited {
			return st, nil
		}
		r.mu.Lock()
		done := r.exits[id]
		r.mu.Unlock()
		if done == nil {
			// Not our child: wait for the exit file, for the container to
			// be removed by its owner meanwhile, or for its conmon to end
			// without one (killed, or never done creating the container:
			// no exit file will come, the status is final).
			gone, release := conmonExit(m, r.conmonPID(m))
			select {
			case <-gone:
				release()
				if !exists(filepath.Join(r.containerDir(id), exitFile)) {
					return r.status(ctx, m)
				}
				continue
			default:
			}
			dir := r.containerDir(id)
			err = r.watch.wait(ctx, dir, func() bool {
				return exists(filepath.Join(dir, exitFile)) || !exists(dir)
			}, gone)
			release()
		} else {
			// The status is read again only once conmon is gone: a
			// `crun state` per container per tick cost 100 pods both
			// cores.
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-done:
			}
		}
		if err != nil {
			return nil, fmt.Errorf("wait for container %s: %w", id, err)
		}
	}
}

// RemoveContainer kills the container if needed and removes its runtime
// state, rootfs, directory and cgroup, but not its log.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	m, err := r.loadMeta(id)
	if errors.Is(err, runtime.ErrNotFound) {
		if validID(id) != nil || !exists(r.containerDir(id)) {
			return nil
		}
		// A create that failed before its metadata: clean what is there.
		m = &meta{ID: id}
	} else if err != nil {
		return err
	}
	dir := r.containerDir(id)
	var errs []error
	if st, err := r.status(ctx, m); err == nil && (st.State == runtime.StateRunning || st.State == runtime.StateCreated) {
		if err := r.StopContainer(ctx, runtime.StopRequest{ID: id, Signal: syscall.SIGKILL}); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := r.ociCmd(ctx, "delete", "--force", id); err != nil && exists(filepath.Join(r.stateRoot(), id)) {
		errs = append(errs, err)
	}
	// conmon exits right after the container; don't leave it behind.
	r.mu.Lock()
	done := r.exits[id]
	r.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			errs = append(errs, fmt.Errorf("conmon (pid %d) did not exit", m.ConmonPID))
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
	}
	if err := unmount(filepath.Join(dir, rootfsDir)); err != nil {
		errs = append(errs, err)
	} else if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	} else {
		r.sandboxOf.Delete(id)
		r.metas.forget(filepath.Join(dir, metaFile))
		r.configs.forget(filepath.Join(dir, "config.json"))
	}
	// conmon makes <socket dir>/<id> for the attach socket and leaves it.
	if err := os.RemoveAll(filepath.Join(r.socketDir(), id)); err != nil {
		errs = append(errs, err)
	}
	if m.CgroupsPath != "" {
		if err := r.removeCgroup(m.CgroupsPath); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// unmount unmounts target if it is mounted; the rootfs must be gone before
// the directory under it is deleted.
func unmount(target string) error {
	err := unix.Unmount(target, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

func (r *Runtime) socketDir() string { return filepath.Join(r.cfg.RunRoot, "sockets") }
