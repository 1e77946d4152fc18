package timeline

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	corev1 "k8s.io/api/core/v1"
)

// Reporter is the node agent's reporter (agent.Reporter), which a
// Recorder wraps.
type Reporter interface {
	Status(pod *corev1.Pod)
	Event(pod *corev1.Pod, container, eventType, reason, message string)
}

// Recorder passes every report on to Next and writes what it tells into
// Book: events as they come, status changes as Changes finds them.
type Recorder struct {
	Next Reporter // may be nil
	Book *Book
	// Now is the clock; nil for time.Now.
	Now func() time.Time

	mu   sync.Mutex
	last map[string]*corev1.PodStatus // each pod's previous status
}

// Seen tells r the status the pod already has (the API's, for a pod a
// restarted serve adopts), so it is not drawn again as new.
func (r *Recorder) Seen(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]*corev1.PodStatus{}
	}
	r.last[string(pod.UID)] = pod.Status.DeepCopy()
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func head(pod *corev1.Pod) Pod {
	return Pod{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID), Containers: Rows(pod)}
}

// Status implements Reporter.
func (r *Recorder) Status(pod *corev1.Pod) {
	r.mu.Lock()
	if r.last == nil {
		r.last = map[string]*corev1.PodStatus{}
	}
	old := r.last[string(pod.UID)]
	if old == nil {
		old = &corev1.PodStatus{}
	}
	r.last[string(pod.UID)] = pod.Status.DeepCopy()
	r.mu.Unlock()
	if changes := Changes(pod, old, r.now()); len(changes) > 0 {
		r.Book.Add(head(pod), changes...)
	}
	if r.Next != nil {
		r.Next.Status(pod)
	}
}

// Event implements Reporter.
func (r *Recorder) Event(pod *corev1.Pod, container, eventType, reason, message string) {
	r.Book.Add(head(pod), Entry{Time: r.now(), Container: container, Kind: reason, Detail: message, Warning: eventType == corev1.EventTypeWarning})
	if r.Next != nil {
		r.Next.Event(pod, container, eventType, reason, message)
	}
}

// Hook implements agent.Lifecycle: a hook's run, drawn at its end.
func (r *Recorder) Hook(pod *corev1.Pod, container, hook string, took time.Duration, err error) {
	e := Entry{Time: r.now(), Container: container, Kind: hook, Detail: "ran " + took.Round(time.Millisecond).String()}
	if err != nil {
		e.Detail, e.Warning = err.Error(), true
	}
	r.Book.Add(head(pod), e)
}

// Signal implements agent.Lifecycle: the stop signal sent.
func (r *Recorder) Signal(pod *corev1.Pod, container string, sig syscall.Signal, grace time.Duration) {
	r.Book.Add(head(pod), Entry{Time: r.now(), Container: container, Kind: "Signal",
		Detail: fmt.Sprintf("%s (%s), SIGKILL after %s", unix.SignalName(sig), sig, grace)})
}
