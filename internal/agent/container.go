package agent

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"

	"peapod/internal/agent/plan"
	"peapod/internal/runtime"
	"peapod/internal/volume"
)

// containerInput is everything containerSpec needs, gathered by the worker.
type containerInput struct {
	Pod       *corev1.Pod
	Container *corev1.Container
	Sandbox   *runtime.Sandbox
	Image     string    // resolved image ID
	Config    v1.Config // the image's config
	Layers    []string  // unpacked layers, topmost first
	User      runtime.User
	Volumes   map[string]string // volume name -> host path
	PodFiles  podFiles
	Attempt   int
	LogPath   string
	// TerminationLog is the host file mounted at the container's
	// terminationMessagePath ("" for none).
	TerminationLog string
	// Objects serves the ConfigMaps and Secrets env refers to.
	Objects Objects
	// PodIPs and HostIPs back the downward API's status.podIP(s) and
	// status.hostIP(s), primary first; empty until pods have networking.
	PodIPs, HostIPs []string
	// NodeAllocatable is what unset limits read as in resourceFieldRef.
	NodeAllocatable corev1.ResourceList
	// SeccompDir is where Localhost seccomp profiles are.
	SeccompDir string
}

// podFiles are the kubelet-managed files bind-mounted into every container.
type podFiles struct {
	Hosts, Hostname, ResolvConf string
}

// configError marks a failure to build a container's config, shown as
// CreateContainerConfigError.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// containerSpec applies the Kubernetes rules (command/args over the image's
// entrypoint/cmd, env over the image's env, volume mounts, security context)
// to produce the runtime's container spec. It reads no state but the
// volumes' directories, where mounts resolves (and makes) subPaths.
func containerSpec(in containerInput) (runtime.ContainerSpec, error) {
	c := in.Container
	env, err := podEnv(in)
	if err != nil {
		return runtime.ContainerSpec{}, configError{err}
	}
	args := commandArgs(expandCommand(c.Command, env), expandCommand(c.Args, env), in.Config.Entrypoint, in.Config.Cmd)
	if len(args) == 0 {
		return runtime.ContainerSpec{}, configError{errors.New("no command specified")}
	}
	spec := runtime.ContainerSpec{
		SandboxID:    in.Sandbox.ID,
		Name:         c.Name,
		Attempt:      in.Attempt,
		Image:        c.Image,
		ImageID:      in.Image,
		RootfsLayers: in.Layers,
		Args:         args,
		Env:          containerEnv(in.Config.Env, env),
		WorkingDir:   c.WorkingDir,
		User:         in.User,
		Tty:          c.TTY,
		Stdin:        c.Stdin,
		LogPath:      in.LogPath,
		Labels: map[string]string{
			LabelPodName:       in.Pod.Name,
			LabelPodNamespace:  in.Pod.Namespace,
			LabelPodUID:        string(in.Pod.UID),
			LabelContainerName: c.Name,
		},
		Annotations: maps.Clone(in.Pod.Annotations),
		Security:    security(c.SecurityContext),
		Resources:   resources(c.Resources),
	}
	spec.Security.Seccomp = seccomp(in.Pod, c, in.SeccompDir)
	// Every container of a shareProcessNamespace pod joins the sandbox's.
	spec.Security.SharePID = in.Pod.Spec.ShareProcessNamespace != nil && *in.Pod.Spec.ShareProcessNamespace
	if sc := in.Pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		spec.Security.Sysctls = map[string]string{}
		for _, s := range sc.Sysctls {
			spec.Security.Sysctls[plan.SysctlName(s.Name)] = s.Value
		}
	}
	if spec.WorkingDir == "" {
		spec.WorkingDir = in.Config.WorkingDir
	}
	mounts, err := mounts(c, env, in.Volumes, in.PodFiles)
	if err != nil {
		return runtime.ContainerSpec{}, configError{err}
	}
	spec.Mounts = mounts
	if in.TerminationLog != "" && c.TerminationMessagePath != "" {
		spec.Mounts = append(spec.Mounts, runtime.Mount{Destination: c.TerminationMessagePath, Source: in.TerminationLog, Type: "bind"})
	}
	return spec, nil
}

// Labels the agent puts on containers so they can be found again.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

// commandArgs is the Kubernetes rule: command replaces the entrypoint (and
// drops the image's cmd), args replace the cmd.
func commandArgs(command, args, entrypoint, cmd []string) []string {
	switch {
	case len(command) > 0:
		return append(append([]string{}, command...), args...)
	case len(args) > 0:
		return append(append([]string{}, entrypoint...), args...)
	}
	return append(append([]string{}, entrypoint...), cmd...)
}

// containerEnv puts the container's resolved env (podEnv) over the image's
// as the CRI runtimes do, keeping the image's order and appending new names
// in the container's order.
func containerEnv(image []string, env []corev1.EnvVar) []string {
	out := append([]string{}, image...)
	index := map[string]int{}
	for i, kv := range out {
		name, _, _ := strings.Cut(kv, "=")
		index[name] = i
	}
	for _, e := range env {
		kv := e.Name + "=" + e.Value
		if i, ok := index[e.Name]; ok {
			out[i] = kv
			continue
		}
		index[e.Name] = len(out)
		out = append(out, kv)
	}
	return out
}

// mounts turns volumeMounts into bind mounts, then adds the pod's managed
// files where the container does not mount something there itself. env is
// the container's environment (podEnv), which subPathExpr expands from. It
// reads the volumes: a subPath is resolved (and created if missing) inside
// its volume, so that no symlink makes it a host path.
func mounts(c *corev1.Container, env []corev1.EnvVar, volumes map[string]string, files podFiles) ([]runtime.Mount, error) {
	var out []runtime.Mount
	taken := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		src, ok := volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q not found", vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			var err error
			if sub, err = expandSubPathExpr(vm.SubPathExpr, env); err != nil {
				return nil, err
			}
		}
		// The kubelet mounts these read-only whatever the volumeMount says.
		readOnly := vm.ReadOnly || volume.ReadOnly(src)
		if sub != "" {
			var err error
			if src, err = volume.SubPath(src, sub); err != nil {
				return nil, fmt.Errorf("volumeMount %q of container %q: %w", vm.Name, c.Name, err)
			}
		}
		prop := ""
		if vm.MountPropagation != nil {
			switch *vm.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				prop = "rslave"
			case corev1.MountPropagationBidirectional:
				prop = "rshared"
			}
		}
		out = append(out, runtime.Mount{Destination: vm.MountPath, Source: src, Type: "bind", ReadOnly: readOnly, Propagation: prop})
		taken[filepath.Clean(vm.MountPath)] = true
	}
	for _, f := range []struct{ dst, src string }{
		{"/etc/hosts", files.Hosts}, {"/etc/hostname", files.Hostname}, {"/etc/resolv.conf", files.ResolvConf},
	} {
		if f.src != "" && !taken[f.dst] {
			out = append(out, runtime.Mount{Destination: f.dst, Source: f.src, Type: "bind"})
		}
	}
	return out, nil
}

func security(sc *corev1.SecurityContext) runtime.Security {
	var s runtime.Security
	if sc == nil {
		return s
	}
	s.Privileged = sc.Privileged != nil && *sc.Privileged
	s.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	s.NoNewPrivileges = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	if caps := sc.Capabilities; caps != nil {
		for _, c := range caps.Add {
			s.CapAdd = append(s.CapAdd, string(c))
		}
		for _, c := range caps.Drop {
			s.CapDrop = append(s.CapDrop, string(c))
		}
	}
	return s
}

// seccomp is the container's seccomp profile by the kubelet's rules: the
// container's seccompProfile, else the pod's; none (unconfined) without
// either, and none for a privileged container, as containerd and CRI-O
// apply it.
func seccomp(pod *corev1.Pod, c *corev1.Container, dir string) *runtime.Seccomp {
	var p *corev1.SeccompProfile
	if sc := pod.Spec.SecurityContext; sc != nil {
		p = sc.SeccompProfile
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.Privileged != nil && *sc.Privileged {
			return nil
		}
		if sc.SeccompProfile != nil {
			p = sc.SeccompProfile
		}
	}
	switch {
	case p == nil:
		return nil
	case p.Type == corev1.SeccompProfileTypeRuntimeDefault:
		return &runtime.Seccomp{RuntimeDefault: true}
	case p.Type == corev1.SeccompProfileTypeLocalhost && p.LocalhostProfile != nil:
		return &runtime.Seccomp{LocalhostPath: filepath.Join(dir, filepath.Clean("/"+*p.LocalhostProfile))}
	}
	return nil
}

// resources maps limits and requests to cgroup values as the kubelet does:
// cpu.shares from the request (or the limit; min 2, also without either),
// CFS quota from the limit at a 100 ms period.
func resources(r corev1.ResourceRequirements) runtime.Resources {
	var out runtime.Resources
	if m, ok := r.Limits[corev1.ResourceMemory]; ok {
		out.MemoryLimitBytes = m.Value()
	}
	cpuReq, hasReq := r.Requests[corev1.ResourceCPU]
	cpuLim, hasLim := r.Limits[corev1.ResourceCPU]
	if !hasReq && hasLim {
		cpuReq = cpuLim
	}
	// No request at all also gets the minimum, as with the kubelet's
	// MilliCPUToShares(0): best-effort containers yield to the others.
	out.CPUShares = uint64(max(cpuReq.MilliValue()*1024/1000, 2))
	if hasLim {
		const period = 100000
		out.CPUPeriod = period
		out.CPUQuota = max(cpuLim.MilliValue()*period/1000, 1000)
	}
	return out
}

// resolveUser finds the numeric user of a container as the kubelet and the
// CRI runtimes do: runAsUser (the group from the image's /etc/passwd entry
// for that uid, else 0) or else the image's USER looked up in the image's
// /etc/passwd and /etc/group; runAsGroup overrides the group. runAsNonRoot is
// checked first, by the kubelet's rules.
func resolveUser(pod *corev1.Pod, c *corev1.Container, imageUser string, layers []string) (runtime.User, error) {
	var u runtime.User
	var runAsUser, runAsGroup *int64
	var runAsNonRoot *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		runAsUser, runAsGroup, runAsNonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
		for _, g := range psc.SupplementalGroups {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
		// The kubelet gives every container the pod's fsGroup too: the
		// volumes it owns are readable through it.
		if g := psc.FSGroup; g != nil && !slices.Contains(u.AdditionalGids, uint32(*g)) {
			u.AdditionalGids = append(u.AdditionalGids, uint32(*g))
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			runAsUser = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			runAsGroup = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			runAsNonRoot = sc.RunAsNonRoot
		}
	}
	name, group, _ := strings.Cut(imageUser, ":")
	if runAsNonRoot != nil && *runAsNonRoot {
		if err := verifyRunAsNonRoot(pod, c, runAsUser, name); err != nil {
			return u, configError{err}
		}
	}
	if runAsUser != nil {
		u.UID = uint32(*runAsUser)
		_, u.GID, _ = lookupUser(strconv.FormatInt(*runAsUser, 10), layers)
	} else {
		if name != "" {
			uid, gid, err := lookupUser(name, layers)
			if err != nil {
				return u, configError{err}
			}
			u.UID, u.GID = uid, gid
		}
		if group != "" {
			gid, err := lookupGroup(group, layers)
			if err != nil {
				return u, configError{err}
			}
			u.GID = gid
		}
	}
	if runAsGroup != nil {
		u.GID = uint32(*runAsGroup)
	}
	return u, nil
}

// verifyRunAsNonRoot is the kubelet's check: runAsUser must not be 0;
// without it the image user must be numeric and not 0 (no user is root).
func verifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, runAsUser *int64, imageUser string) error {
	podName := fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
	switch {
	case runAsUser != nil:
		if *runAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podName, c.Name)
		}
	case imageUser != "" && !isNumeric(imageUser):
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", imageUser, podName, c.Name)
	case strings.Trim(imageUser, "0") == "": // no user, or uid 0
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podName, c.Name)
	}
	return nil
}

func isNumeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// lookupUser resolves a user name or number against the image's passwd.
func lookupUser(name string, layers []string) (uid, gid uint32, err error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		uid = uint32(n)
		if fields := findEntry(layers, "etc/passwd", 2, name); fields != nil {
			g, _ := strconv.ParseUint(fields[3], 10, 32)
			return uid, uint32(g), nil
		}
		return uid, 0, nil
	}
	fields := findEntry(layers, "etc/passwd", 0, name)
	if fields == nil {
		return 0, 0, fmt.Errorf("unable to find user %s: no matching entries in passwd file", name)
	}
	u, err1 := strconv.ParseUint(fields[2], 10, 32)
	g, err2 := strconv.ParseUint(fields[3], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad passwd entry for user %s", name)
	}
	return uint32(u), uint32(g), nil
}

func lookupGroup(name string, layers []string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	fields := findEntry(layers, "etc/group", 0, name)
	if fields == nil {
		return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", name)
	}
	g, err := strconv.ParseUint(fields[2], 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad group entry for group %s", name)
	}
	return uint32(g), nil
}

// findEntry returns the fields of the first line of file (searched from the
// topmost layer down) whose field number key equals value.
func findEntry(layers []string, file string, key int, value string) []string {
	for _, l := range layers {
		f, err := os.Open(filepath.Join(l, file))
		if err != nil {
			continue
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ":")
			if len(fields) >= 4 && fields[key] == value {
				return fields
			}
		}
		return nil // the topmost copy of the file wins
	}
	return nil
}
