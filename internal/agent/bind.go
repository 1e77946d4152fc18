package agent

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"peapod/internal/agent/schedule"
)

// bind assigns an unscheduled pod to this node through pods/binding, as
// the scheduler would when the pod fits (schedule.Decide), and records
// its Scheduled event; a pod that does not fit stays Pending with
// PodScheduled=False and the scheduler's reason.
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
	if d := n.decide(ctx, pod); !d.Fit {
		n.unschedulable(ctx, pod, d)
		return
	}
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: n.cfg.Name},
	}
	err := n.binder.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	switch {
	case err == nil:
		assumed := pod.DeepCopy()
		assumed.Spec.NodeName = n.cfg.Name
		n.mu.Lock()
		n.assumed[pod.UID] = assumed
		n.mu.Unlock()
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
	p, err := n.binder.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	return err == nil && p.UID == pod.UID
}

// decide filters this node for pod, against the pods bound to it that
// still hold what they asked for (not finished).
func (n *Node) decide(ctx context.Context, pod *corev1.Pod) schedule.Decision {
	node, err := n.nodes.Get(n.cfg.Name)
	if err != nil {
		node, _ = n.binder.CoreV1().Nodes().Get(ctx, n.cfg.Name, metav1.GetOptions{})
	}
	all, _ := n.pods.List(labels.Everything())
	var bound []*corev1.Pod
	seen := map[types.UID]bool{}
	for _, p := range all {
		if p.Spec.NodeName == n.cfg.Name && !terminal(p) {
			bound = append(bound, p)
		}
		seen[p.UID] = p.Spec.NodeName != ""
	}
	n.mu.Lock()
	for uid, p := range n.assumed {
		shown, exists := seen[uid]
		switch {
		case shown || !exists:
			delete(n.assumed, uid) // the informer has caught up, or it is gone
		default:
			bound = append(bound, p)
		}
	}
	n.mu.Unlock()
	return schedule.Decide(pod, node, bound)
}

// unschedulable records why pod waits, as kube-scheduler does: the
// PodScheduled=False condition, and a FailedScheduling event when the
// reason is new (a gated pod gets none).
func (n *Node) unschedulable(ctx context.Context, pod *corev1.Pod, d schedule.Decision) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == d.Reason && c.Message == d.Message {
			return
		}
	}
	p := pod.DeepCopy()
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: d.Reason, Message: d.Message, LastTransitionTime: metav1.Now()}
	replaced := false
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			p.Status.Conditions[i], replaced = cond, true
		}
	}
	if !replaced {
		p.Status.Conditions = append(p.Status.Conditions, cond)
	}
	if _, err := n.binder.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			n.log.Warn("pod status update failed", "pod", klogName(pod), "err", err)
		}
		return
	}
	if d.Reason != schedule.ReasonGated {
		n.scheduler.Event(pod, corev1.EventTypeWarning, "FailedScheduling", d.Message)
	}
}

// bindPending tries again the pods waiting to be bound, as the
// scheduler moves its unschedulable pods back to its active queue when
// the cluster changes.
func (n *Node) bindPending(ctx context.Context) {
	all, _ := n.pods.List(labels.Everything())
	for _, p := range all {
		if p.Spec.NodeName == "" {
			n.bind(ctx, p)
		}
	}
}
