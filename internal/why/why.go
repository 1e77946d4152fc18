// Package why explains in one short paragraph what a pod waits for, from
// what the node and the API say of it: its status (the plan's waiting
// reasons and exits), its events (probe failures, mount failures,
// back-offs), the last log line of a container that waits, and the
// objects it refers to (ConfigMaps, Secrets, the Services an init
// container waits for and their endpoints). Explain is pure: it reads
// Facts only; Gather reads them from the API.
package why

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/agent/plan"
)

// Facts is what Explain reads; Gather fills it from the API.
type Facts struct {
	Pod *corev1.Pod
	// Events are the pod's, in any order.
	Events []corev1.Event
	// LastLog is the last line each container's current instance wrote.
	LastLog map[string]string
	// ConfigMaps and Secrets are the names of those that exist in the
	// pod's namespace, among those it refers to.
	ConfigMaps, Secrets map[string]bool
	// Services are the Services of the namespaces the pod's init
	// containers name, by "namespace/name"; Ready counts the ready
	// endpoint addresses of each.
	Services map[string]*corev1.Service
	Ready    map[string]int
	// Pods are the pods of those namespaces, for a Service's selector.
	Pods []*corev1.Pod
	// Namespaces are the namespaces, other than the pod's, that exist
	// among those the init containers name ("db.prod" may be a Service
	// in namespace prod; "example.com" is not one in namespace com).
	Namespaces map[string]bool
}

// Explain says what the pod waits for, or that it waits for nothing.
func Explain(f Facts) string {
	pod := f.Pod
	name := pod.Namespace + "/" + pod.Name
	st := pod.Status
	switch {
	case pod.DeletionTimestamp != nil:
		grace := int64(0)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = *pod.DeletionGracePeriodSeconds
		}
		return fmt.Sprintf("Pod %s is terminating (deleted at %s with %d s of grace): its containers are being stopped.", name, clock(pod.DeletionTimestamp.Time), grace)
	case st.Phase == corev1.PodSucceeded:
		return fmt.Sprintf("Pod %s has completed: every container exited 0 (phase Succeeded); it waits for nothing.", name)
	case st.Phase == corev1.PodFailed:
		if st.Reason != "" {
			return fmt.Sprintf("Pod %s has failed: %s (%s).", name, st.Reason, strings.TrimSuffix(st.Message, "."))
		}
		return fmt.Sprintf("Pod %s has failed: %s", name, exits(pod))
	}
	if c := condition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		return fmt.Sprintf("Pod %s is not scheduled: %s (%s).", name, c.Reason, strings.TrimSuffix(c.Message, "."))
	}
	if pod.Spec.NodeName == "" {
		return fmt.Sprintf("Pod %s is not scheduled yet: no node has taken it.", name)
	}
	if s := mounts(f); s != "" {
		return fmt.Sprintf("Pod %s cannot start: %s", name, s)
	}
	if s := initWait(f); s != "" {
		return fmt.Sprintf("Pod %s is initializing: %s", name, s)
	}
	var waits []string
	for _, c := range pod.Spec.InitContainers {
		if sidecar(c) {
			if s := containerWait(f, c, "sidecar"); s != "" {
				waits = append(waits, s)
			}
		}
	}
	for _, c := range pod.Spec.Containers {
		if s := containerWait(f, c, "container"); s != "" {
			waits = append(waits, s)
		}
	}
	if len(waits) > 0 {
		return fmt.Sprintf("Pod %s is not ready: %s", name, strings.Join(waits, " "))
	}
	for _, g := range pod.Spec.ReadinessGates {
		if c := condition(pod, g.ConditionType); c == nil || c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("Pod %s is not ready: readiness gate %s is not True.", name, g.ConditionType)
		}
	}
	if c := condition(pod, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
		return fmt.Sprintf("Pod %s is Ready: every container runs and passes its probes; it waits for nothing.", name)
	}
	return fmt.Sprintf("Pod %s is not ready yet: the node has not reported its containers (phase %s).", name, orPending(st.Phase))
}

func orPending(p corev1.PodPhase) corev1.PodPhase {
	if p == "" {
		return corev1.PodPending
	}
	return p
}

// initWait explains the first regular init container that has not
// completed; "" when they all have.
func initWait(f Facts) string {
	pod := f.Pod
	var regular []corev1.Container
	for _, c := range pod.Spec.InitContainers {
		if !sidecar(c) {
			regular = append(regular, c)
		}
	}
	for i, c := range regular {
		cs := status(pod.Status.InitContainerStatuses, c.Name)
		if cs != nil && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
			continue
		}
		who := fmt.Sprintf("init container %s (%d/%d)", c.Name, i+1, len(regular))
		switch {
		case cs == nil || cs.State.Waiting != nil && cs.LastTerminationState.Terminated == nil && cs.RestartCount == 0:
			if s := waiting(f, c, cs); s != "" {
				return who + " " + s
			}
			return who + " has not started yet."
		case cs.State.Running != nil:
			s := fmt.Sprintf("%s has run since %s and has not finished%s.", who, clock(cs.State.Running.StartedAt.Time), lastLog(f, c.Name))
			return s + services(f, c)
		}
		// It has exited with an error, once or more.
		last := cs.State.Terminated
		if last == nil {
			last = cs.LastTerminationState.Terminated
		}
		s := fmt.Sprintf("%s has run %s: %s exits %d%s", who, times(int(cs.RestartCount)+1), command(c), exitCode(last), exitReason(last))
		if cs.State.Waiting != nil {
			if w := waiting(f, c, cs); w != "" {
				s += "; " + w
			} else {
				s += "."
			}
		} else {
			s += "."
		}
		return s + services(f, c)
	}
	return ""
}

// containerWait explains why a sidecar or regular container is not ready;
// "" when it is.
func containerWait(f Facts, c corev1.Container, kind string) string {
	pod := f.Pod
	list := pod.Status.ContainerStatuses
	if kind == "sidecar" {
		list = pod.Status.InitContainerStatuses
	}
	cs := status(list, c.Name)
	if cs != nil && cs.Ready {
		return ""
	}
	who := kind + " " + c.Name
	switch {
	case cs == nil:
		return who + " has not been created yet."
	case cs.State.Waiting != nil:
		if s := waiting(f, c, cs); s != "" {
			return who + " " + s
		}
		return fmt.Sprintf("%s is waiting (%s).", who, cs.State.Waiting.Reason)
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		return fmt.Sprintf("%s has exited %d%s and is not restarted (restartPolicy %s).", who, t.ExitCode, exitReason(t), pod.Spec.RestartPolicy)
	}
	if cs.Started != nil && !*cs.Started && c.StartupProbe != nil {
		return who + " has not passed its startup probe: " + probeFailures(f, c.Name, "Startup")
	}
	if c.ReadinessProbe != nil {
		return who + " fails its readiness probe: " + probeFailures(f, c.Name, "Readiness")
	}
	return who + " runs but is not ready yet."
}

// waiting explains a container's waiting reason; "" for one it cannot.
func waiting(f Facts, c corev1.Container, cs *corev1.ContainerStatus) string {
	if cs == nil || cs.State.Waiting == nil {
		return ""
	}
	w := cs.State.Waiting
	msg := strings.TrimSuffix(w.Message, ".")
	switch w.Reason {
	case "CrashLoopBackOff":
		last := cs.LastTerminationState.Terminated
		backoff := ""
		if rest, ok := strings.CutPrefix(w.Message, "back-off "); ok {
			backoff, _, _ = strings.Cut(rest, " ")
			backoff = " " + backoff
		}
		if last != nil {
			return fmt.Sprintf("is in back-off%s restarting after exit %d%s (restarted %s).", backoff, last.ExitCode, exitReason(last), times(int(cs.RestartCount)))
		}
		return fmt.Sprintf("is in back-off restarting (restarted %s).", times(int(cs.RestartCount)))
	case "ImagePullBackOff", "ErrImagePull":
		return fmt.Sprintf("cannot get its image %s: %s.", c.Image, orText(msg, w.Reason))
	case "ErrImageNeverPull":
		return fmt.Sprintf("needs image %s, which is not on the node, and its pull policy (or the node's --image-pull=never) forbids a pull.", c.Image)
	case "CreateContainerConfigError":
		return fmt.Sprintf("cannot be configured: %s.", orText(msg, w.Reason))
	case "CreateContainerError", "RunContainerError":
		return fmt.Sprintf("could not be started (%s): %s.", w.Reason, orText(msg, "no message"))
	case "PostStartHookError":
		return fmt.Sprintf("was killed because its postStart hook failed: %s.", orText(msg, "no message"))
	case "ContainerStatusUnknown":
		return "was in a state the node could not read (its monitor was gone); it is killed and started again."
	case "ContainerCreating":
		return "is being created."
	case "PodInitializing":
		return "waits for the init containers to finish."
	}
	return ""
}

// mounts explains volumes that cannot be set up; "" when none.
func mounts(f Facts) string {
	pod := f.Pod
	var missing []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil && !optional(v.ConfigMap.Optional) && !f.ConfigMaps[v.ConfigMap.Name]:
			missing = append(missing, fmt.Sprintf("ConfigMap %s not found; volume %s cannot mount.", v.ConfigMap.Name, v.Name))
		case v.Secret != nil && !optional(v.Secret.Optional) && !f.Secrets[v.Secret.SecretName]:
			missing = append(missing, fmt.Sprintf("Secret %s not found; volume %s cannot mount.", v.Secret.SecretName, v.Name))
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil && !optional(s.ConfigMap.Optional) && !f.ConfigMaps[s.ConfigMap.Name]:
					missing = append(missing, fmt.Sprintf("ConfigMap %s not found; volume %s cannot mount.", s.ConfigMap.Name, v.Name))
				case s.Secret != nil && !optional(s.Secret.Optional) && !f.Secrets[s.Secret.Name]:
					missing = append(missing, fmt.Sprintf("Secret %s not found; volume %s cannot mount.", s.Secret.Name, v.Name))
				}
			}
		}
	}
	if len(missing) > 0 {
		return strings.Join(missing, " ")
	}
	// What the node said, for a failure the objects do not show.
	if e := latest(f.Events, "", "FailedMount"); e != nil && !anyStarted(pod) {
		return strings.TrimSuffix(e.Message, ".") + "."
	}
	return ""
}

func optional(b *bool) bool { return b != nil && *b }

// anyStarted reports whether a container of pod has started.
func anyStarted(pod *corev1.Pod) bool {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
				return true
			}
		}
	}
	return false
}

// probeFailures describes a container's newest probe failures of kind.
func probeFailures(f Facts, container, kind string) string {
	e := latest(f.Events, container, "Unhealthy")
	if e == nil || !strings.HasPrefix(e.Message, kind+" probe failed") {
		return "no result yet."
	}
	out := strings.TrimSpace(strings.TrimPrefix(e.Message, kind+" probe failed:"))
	n := e.Count
	if n < 1 {
		n = 1
	}
	first := e.FirstTimestamp.Time
	if first.IsZero() {
		first = e.EventTime.Time
	}
	return fmt.Sprintf("%s → %s, %s since %s.", probeTarget(f.Pod, container, kind), orText(strings.TrimSuffix(out, "."), "failed"), plural(int(n), "failure"), clock(first))
}

// probeTarget names what a probe checks: "HTTP GET :8080/healthz",
// "TCP :5432", "exec `cat /tmp/ready`", "gRPC :9000".
func probeTarget(pod *corev1.Pod, container, kind string) string {
	var p *corev1.Probe
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == container {
				p = map[string]*corev1.Probe{"Startup": c.StartupProbe, "Readiness": c.ReadinessProbe, "Liveness": c.LivenessProbe}[kind]
			}
		}
	}
	switch {
	case p == nil:
		return kind + " probe"
	case p.HTTPGet != nil:
		return fmt.Sprintf("HTTP GET :%s%s", p.HTTPGet.Port.String(), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		return "TCP :" + p.TCPSocket.Port.String()
	case p.GRPC != nil:
		return fmt.Sprintf("gRPC :%d", p.GRPC.Port)
	case p.Exec != nil:
		return "exec `" + strings.Join(p.Exec.Command, " ") + "`"
	}
	return kind + " probe"
}

func sidecar(c corev1.Container) bool { return plan.IsSidecar(&c) }

func status(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// latest is the newest event of reason about container ("" for any).
func latest(events []corev1.Event, container, reason string) *corev1.Event {
	var best *corev1.Event
	for i := range events {
		e := &events[i]
		if e.Reason != reason || container != "" && !strings.HasSuffix(e.InvolvedObject.FieldPath, "{"+container+"}") {
			continue
		}
		if best == nil || eventTime(e).After(eventTime(best)) {
			best = e
		}
	}
	return best
}

func eventTime(e *corev1.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func lastLog(f Facts, container string) string {
	if l := strings.TrimSpace(f.LastLog[container]); l != "" {
		return fmt.Sprintf(" (its last log line: %q)", l)
	}
	return ""
}

func command(c corev1.Container) string {
	cmd := append(append([]string{}, c.Command...), c.Args...)
	if len(cmd) >= 3 && (cmd[0] == "sh" || cmd[0] == "/bin/sh" || cmd[0] == "bash") && cmd[1] == "-c" {
		cmd = cmd[2:]
	}
	if len(cmd) == 0 {
		return "its image's command"
	}
	return "`" + strings.Join(cmd, " ") + "`"
}

func exitCode(t *corev1.ContainerStateTerminated) int32 {
	if t == nil {
		return 0
	}
	return t.ExitCode
}

func exitReason(t *corev1.ContainerStateTerminated) string {
	if t == nil || t.Reason == "" || t.Reason == "Error" || t.Reason == "Completed" {
		return ""
	}
	return ", " + t.Reason
}

// exits lists the exits of a failed pod's containers.
func exits(pod *corev1.Pod) string {
	var out []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			out = append(out, fmt.Sprintf("%s exited %d%s", cs.Name, t.ExitCode, exitReason(t)))
		}
	}
	if len(out) == 0 {
		return "a container failed."
	}
	return strings.Join(out, ", ") + "."
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func clock(t time.Time) string { return t.Local().Format("15:04:05") }
