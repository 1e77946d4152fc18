package agent

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// bind assigns an unscheduled pod to this node through pods/binding, as
// the scheduler would, and records its Scheduled event.
func (n *Node) bind(ctx context.Context, pod *corev1.Pod) {
	if pod == nil || pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || terminal(pod) || n.noBind.Load() {
		return
	}
	n.mu.Lock()
	if n.binding[pod.UID] || n.closing {
		n.mu.Unlock()
		return
	}
	n.binding[pod.UID] = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.binding, pod.UID)
		n.mu.Unlock()
	}()
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: n.cfg.Name},
	}
	err := n.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	switch {
	case err == nil:
		n.scheduler.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, n.cfg.Name)
	case apierrors.IsMethodNotSupported(err) || (apierrors.IsNotFound(err) && n.unboundExists(ctx, pod)):
		if !n.noBind.Swap(true) {
			n.log.Warn("the API server does not serve pods/binding: pods without spec.nodeName stay Pending", "err", err)
		}
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Gone, or bound by someone else meanwhile.
	default:
		n.log.Warn("binding failed", "pod", klogName(pod), "err", err)
	}
}

// unboundExists tells a NotFound for the binding subresource from one for
// the pod.
func (n *Node) unboundExists(ctx context.Context, pod *corev1.Pod) bool {
	p, err := n.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	return err == nil && p.UID == pod.UID
}
