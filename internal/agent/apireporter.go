package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
)

// statusRetry is how long a failed status write waits before the next try.
const statusRetry = time.Second

// apiReporter is a worker's Reporter under `peapod serve`: statuses go to
// pods/NAME/status, events to the API through the kubelet's recorder, and
// log lines nowhere (they stay in the log files). Status never blocks the
// worker: the newest status is kept and one goroutine writes it.
type apiReporter struct {
	client   kubernetes.Interface
	pods     corelisters.PodLister
	recorder record.EventRecorder
	uid      types.UID
	ns, name string

	mu      sync.Mutex
	pending *corev1.PodStatus // newest status not yet written
	written *corev1.PodStatus // last status the API accepted
	wake    chan struct{}
	done    chan struct{}
}

func newAPIReporter(client kubernetes.Interface, pods corelisters.PodLister, rec record.EventRecorder, pod *corev1.Pod) *apiReporter {
	return &apiReporter{
		client: client, pods: pods, recorder: rec,
		uid: pod.UID, ns: pod.Namespace, name: pod.Name,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// Status implements Reporter.
func (r *apiReporter) Status(pod *corev1.Pod) {
	r.mu.Lock()
	r.pending = pod.Status.DeepCopy()
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Event implements Reporter: a container's event points at it with
// involvedObject.fieldPath, as the kubelet's do.
func (r *apiReporter) Event(pod *corev1.Pod, container, eventType, reason, message string) {
	if container == "" {
		r.recorder.Event(pod, eventType, reason, message)
		return
	}
	ref, err := reference.GetReference(scheme.Scheme, pod)
	if err != nil {
		r.recorder.Event(pod, eventType, reason, message)
		return
	}
	ref.FieldPath = containerFieldPath(pod, container)
	r.recorder.Event(ref, eventType, reason, message)
}

// containerFieldPath is the kubelet's fieldPath of a container:
// spec.containers{c}, spec.initContainers{c} or spec.ephemeralContainers{c}.
func containerFieldPath(pod *corev1.Pod, container string) string {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == container {
			return "spec.initContainers{" + container + "}"
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == container {
			return "spec.ephemeralContainers{" + container + "}"
		}
	}
	return "spec.containers{" + container + "}"
}

// run writes statuses until ctx ends or flush is called.
func (r *apiReporter) run(ctx context.Context) {
	defer close(r.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		if err := r.write(ctx); err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(statusRetry):
			}
			r.again()
		}
	}
}

func (r *apiReporter) again() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// flush writes the newest status now, so that the final status is in the
// API before the pod is deleted.
func (r *apiReporter) flush(ctx context.Context) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = r.write(ctx); err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(statusRetry):
		}
	}
	return err
}

// write sends the pending status as the kubelet's status manager does: a
// two-way strategic merge patch of pods/NAME/status from the status the
// API holds, carrying the pod UID as a precondition.
func (r *apiReporter) write(ctx context.Context) error {
	r.mu.Lock()
	next, base := r.pending, r.written
	r.mu.Unlock()
	if next == nil {
		return nil
	}
	if base == nil {
		base = &corev1.PodStatus{}
		if cur, err := r.pods.Pods(r.ns).Get(r.name); err == nil && cur.UID == r.uid {
			base = &cur.Status
		}
	}
	patch, err := statusPatch(r.uid, base, next)
	if err != nil {
		return err
	}
	if _, err := r.client.CoreV1().Pods(r.ns).Patch(ctx, r.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Gone, or another pod of the same name: nothing to write
			// to. Start from the API's view if it comes back.
			r.mu.Lock()
			if r.pending == next {
				r.pending = nil
			}
			r.written = nil
			r.mu.Unlock()
		}
		return err
	}
	r.mu.Lock()
	if r.pending == next {
		r.pending = nil
	}
	r.written = next
	r.mu.Unlock()
	return nil
}

// statusPatch is the kubelet's preparePatchBytesForPodStatus: old and new
// status as pods, the new one with the UID, diffed.
func statusPatch(uid types.UID, old, next *corev1.PodStatus) ([]byte, error) {
	oldJSON, err := json.Marshal(corev1.Pod{Status: *old})
	if err != nil {
		return nil, err
	}
	newJSON, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Status: *next})
	if err != nil {
		return nil, err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, corev1.Pod{})
	if err != nil {
		return nil, fmt.Errorf("status patch: %w", err)
	}
	return patch, nil
}
