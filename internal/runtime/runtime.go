// Package runtime is the narrow interface between the node agent (policy) and
// the machinery that runs containers (mechanism), plus the value types that
// cross it. It has no implementation: conmon is the real one, runtimetest the
// fake.
//
// The agent decides what runs and when; a Runtime only knows how. Everything a
// Runtime needs arrives fully resolved in a spec (argv, env, user, mounts,
// rootfs layers), so implementations never read Kubernetes objects or images.
package runtime

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"
)

// ErrNotFound is returned (wrapped) for an unknown sandbox or container ID.
var ErrNotFound = errors.New("not found")

// Runtime runs pod sandboxes and their containers. Implementations must be
// safe for concurrent use; every Remove is idempotent.
type Runtime interface {
	// CreateSandbox makes the namespaces shared by a pod's containers
	// (network with loopback up, IPC, UTS with the hostname set, and with
	// SharePID a PID namespace whose init is an infra process) and the pod
	// cgroup. Calling it again for an existing ID returns the existing one.
	CreateSandbox(ctx context.Context, spec SandboxSpec) (*Sandbox, error)
	// StopSandbox ends the infra process, if any, and whatever else is
	// left in the pod cgroup, and releases the namespaces: a network
	// namespace goes with its interfaces once nothing holds it. The
	// sandbox stays listed until RemoveSandbox. None of its containers may
	// be running (a created one's process is killed). Stopping twice, or
	// an unknown ID, is fine.
	StopSandbox(ctx context.Context, id string) error
	// RemoveSandbox stops the sandbox and removes it and its cgroup. All
	// containers of the sandbox must have been removed first.
	RemoveSandbox(ctx context.Context, id string) error
	// ListSandboxes returns every sandbox the runtime knows, from its on-disk
	// state (so a restarted agent can re-adopt or clean them up).
	ListSandboxes(ctx context.Context) ([]*Sandbox, error)

	// CreateContainer prepares the rootfs and OCI bundle and creates the
	// container (process not yet started). Returns the container ID.
	CreateContainer(ctx context.Context, spec ContainerSpec) (string, error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends req.Signal, waits up to req.Timeout for the
	// container to exit, then sends SIGKILL and waits for the exit. Stopping
	// an exited container is a no-op.
	StopContainer(ctx context.Context, req StopRequest) error
	// RemoveContainer deletes the container's runtime state, rootfs mount and
	// bundle. Logs are kept. A running container is killed first.
	RemoveContainer(ctx context.Context, id string) error
	// ContainerStatus reports the current state, read from the runtime and
	// the monitor's exit file.
	ContainerStatus(ctx context.Context, id string) (*ContainerStatus, error)
	// ListContainers returns the containers of a sandbox ("" for all).
	ListContainers(ctx context.Context, sandboxID string) ([]*ContainerStatus, error)
	// WaitContainer blocks until the container has exited (or ctx is done)
	// and returns its final status. It returns at once for an exited one.
	WaitContainer(ctx context.Context, id string) (*ContainerStatus, error)
	// Exec runs a process inside a running container and returns its exit
	// code. A timeout or cancelled ctx kills the process.
	Exec(ctx context.Context, req ExecRequest) (int, error)
}

// SandboxSpec describes a pod sandbox.
type SandboxSpec struct {
	ID        string            // unique; the agent uses the pod UID
	Name      string            // pod name
	Namespace string            // pod namespace
	UID       string            // pod UID
	Hostname  string            // ignored with HostNetwork: the node's name applies
	Labels    map[string]string // kept with the sandbox, returned by List
	// SharePID gives the pod one PID namespace whose PID 1 is an infra
	// process (shareProcessNamespace).
	SharePID bool
	// HostNetwork (which implies the host's UTS namespace, as in CRI),
	// HostIPC and HostPID keep containers in the node's namespaces.
	HostNetwork, HostIPC, HostPID bool
}

// Sandbox is a created pod sandbox.
type Sandbox struct {
	ID        string
	Name      string
	Namespace string
	UID       string
	Hostname  string
	Labels    map[string]string
	CreatedAt time.Time
	// Paths of the pinned namespaces containers join. NetNS is what CNI
	// attaches to. A namespace taken from the host has no path; PIDNS is
	// set only for a shared PID namespace.
	NetNS string
	IPCNS string
	UTSNS string
	PIDNS string
	// Which namespaces are the node's (see SandboxSpec).
	HostNetwork, HostIPC, HostPID bool
	// CgroupParent is the pod's cgroup path, relative to each hierarchy.
	CgroupParent string
}

// ContainerSpec is a container fully resolved by the agent: Kubernetes rules
// (command/args, env, $(VAR) expansion, volumes) are already applied.
type ContainerSpec struct {
	SandboxID string
	Name      string // Kubernetes container name
	Attempt   int    // restart count of this container name in the pod
	Image     string // image reference as the user wrote it, for status
	ImageID   string // resolved image ID (config digest)
	// RootfsLayers are the image's unpacked layer directories, topmost
	// first (overlayfs lowerdir order). The runtime adds its own upper dir.
	RootfsLayers []string

	Args       []string // argv; Args[0] is resolved in the container's PATH
	Env        []string // KEY=VALUE, in order
	WorkingDir string   // absolute; "" means "/"
	User       User
	Mounts     []Mount
	Tty        bool
	Stdin      bool
	// LogPath is where the monitor writes the CRI-format log.
	LogPath string
	Labels  map[string]string // kept with the container, returned by status
	// Annotations are the pod's, as CRI passes them with each container's
	// config. The conmon runtime does not use them; the Fake takes its
	// script from them.
	Annotations map[string]string

	Security  Security
	Resources Resources
}

// User is the numeric identity of the container process.
type User struct {
	UID            uint32
	GID            uint32
	AdditionalGids []uint32
}

// Mount is a bind or tmpfs mount into the container.
type Mount struct {
	Destination string // absolute path in the container
	Source      string // host path ("" for tmpfs)
	Type        string // "bind" (default) or "tmpfs"
	ReadOnly    bool
	Options     []string // extra mount options, e.g. "size=64m" for tmpfs
	// Propagation: "" / "private", "rslave", "rshared".
	Propagation string
}

// Security holds the resolved security settings of a container.
type Security struct {
	Privileged      bool
	ReadOnlyRootfs  bool
	NoNewPrivileges bool
	CapAdd          []string // "NET_ADMIN" or "CAP_NET_ADMIN"
	CapDrop         []string // "ALL" drops every default capability
	// SharePID puts the container in the sandbox's PID namespace
	// (shareProcessNamespace); the sandbox must have been created with
	// SharePID.
	SharePID bool
	// PIDNamespaceOf, if set, is a PID namespace to join instead: an
	// ephemeral container's target's, /proc/<its pid>/ns/pid.
	PIDNamespaceOf string
	// Seccomp is the container's seccomp profile; nil is unconfined.
	Seccomp *Seccomp
	// Sysctls are the pod's namespaced sysctls (CRI sets them on the
	// sandbox; the pod's containers share its IPC and network
	// namespaces, so setting them as each container starts is the same).
	Sysctls map[string]string
}

// Seccomp is a seccomp profile: the runtime's default (the kubelet's
// RuntimeDefault) or a profile file (Localhost, under the node's seccomp
// directory), in Docker's format.
type Seccomp struct {
	RuntimeDefault bool
	LocalhostPath  string
}

// Resources are the cgroup limits of a container. Zero means unlimited.
type Resources struct {
	MemoryLimitBytes int64
	CPUShares        uint64
	CPUQuota         int64 // microseconds per CPUPeriod
	CPUPeriod        uint64
	PidsLimit        int64
}

// State is a container's lifecycle state.
type State string

const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// ContainerStatus is what the runtime observes of a container.
type ContainerStatus struct {
	ID         string
	SandboxID  string
	Name       string
	Attempt    int
	Image      string
	ImageID    string
	State      State
	CreatedAt  time.Time
	StartedAt  time.Time // zero until started
	FinishedAt time.Time // zero until exited
	ExitCode   int32
	OOMKilled  bool
	// Message carries a runtime error for a container that could not run.
	Message string
	Pid     int
	LogPath string
	Labels  map[string]string
}

// StopRequest asks for a graceful stop.
type StopRequest struct {
	ID      string
	Signal  syscall.Signal // 0 means SIGTERM
	Timeout time.Duration  // after which SIGKILL is sent
}

// ExecRequest runs a process in a running container.
type ExecRequest struct {
	ID     string
	Cmd    []string
	Env    []string // added to the container's environment
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Tty    bool
	// Resize carries the client's terminal size changes (Tty only).
	Resize  <-chan TerminalSize
	Timeout time.Duration // 0 means no timeout beyond ctx
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width, Height uint16
}

// LogReopener is implemented by runtimes whose monitor can write a running
// container's log anew at its path after the file was renamed (CRI's
// ReopenContainerLog), which log rotation needs.
type LogReopener interface {
	ReopenContainerLog(ctx context.Context, id string) error
}

// Attacher is implemented by runtimes that can connect to a running
// container's own stdio (kubectl attach, run -it). It is optional: not
// every Runtime supervises its containers' stdio.
type Attacher interface {
	// Attach relays Stdin to the container's stdin and its output to
	// Stdout/Stderr until the container exits, Stdin ends (without Tty:
	// the output keeps coming) or ctx is done. A nil stream is not
	// attached.
	Attach(ctx context.Context, req AttachRequest) error
}

// AttachRequest connects to a running container's stdio.
type AttachRequest struct {
	ID     string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Tty    bool
	Resize <-chan TerminalSize
}
