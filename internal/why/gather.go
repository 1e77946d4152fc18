package why

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// Gather reads from the API what Explain needs about pod namespace/name,
// as kubectl describe and kubectl logs would.
func Gather(ctx context.Context, client kubernetes.Interface, namespace, name string) (Facts, error) {
	core := client.CoreV1()
	pod, err := core.Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Facts{}, err
	}
	f := Facts{Pod: pod, LastLog: map[string]string{}, ConfigMaps: map[string]bool{}, Secrets: map[string]bool{},
		Services: map[string]*corev1.Service{}, Ready: map[string]int{}, Namespaces: map[string]bool{}}
	events, err := core.Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.uid", string(pod.UID)).String()})
	if err != nil {
		return f, fmt.Errorf("events of pod %s/%s: %w", namespace, name, err)
	}
	f.Events = events.Items
	for _, v := range pod.Spec.Volumes {
		var cms, secrets []string
		switch {
		case v.ConfigMap != nil:
			cms = append(cms, v.ConfigMap.Name)
		case v.Secret != nil:
			secrets = append(secrets, v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					cms = append(cms, s.ConfigMap.Name)
				}
				if s.Secret != nil {
					secrets = append(secrets, s.Secret.Name)
				}
			}
		}
		for _, n := range cms {
			if f.ConfigMaps[n], err = exists(core.ConfigMaps(namespace).Get(ctx, n, metav1.GetOptions{})); err != nil {
				return f, err
			}
		}
		for _, n := range secrets {
			if f.Secrets[n], err = exists(core.Secrets(namespace).Get(ctx, n, metav1.GetOptions{})); err != nil {
				return f, err
			}
		}
	}
	// The last words of the containers that run and wait or are not ready.
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Running == nil || cs.Ready {
				continue
			}
			tail := int64(1)
			b, err := core.Pods(namespace).GetLogs(name, &corev1.PodLogOptions{Container: cs.Name, TailLines: &tail}).DoRaw(ctx)
			if err == nil {
				f.LastLog[cs.Name] = strings.TrimSpace(string(b))
			}
		}
	}
	nsDone := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		for _, ref := range ServiceRefs(namespace, c) {
			ns, svcName, _ := strings.Cut(ref, "/")
			if ns != namespace {
				if f.Namespaces[ns], err = exists(core.Namespaces().Get(ctx, ns, metav1.GetOptions{})); err != nil {
					return f, err
				}
			}
			svc, err := core.Services(ns).Get(ctx, svcName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return f, err
			}
			f.Services[ref] = svc
			if ep, err := core.Endpoints(ns).Get(ctx, svcName, metav1.GetOptions{}); err == nil {
				for _, s := range ep.Subsets {
					f.Ready[ref] += len(s.Addresses)
				}
			}
			if !nsDone[ns] {
				nsDone[ns] = true
				pods, err := core.Pods(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return f, err
				}
				for i := range pods.Items {
					f.Pods = append(f.Pods, &pods.Items[i])
				}
			}
		}
	}
	return f, nil
}

// exists turns a Get's answer into whether the object exists.
func exists[T any](_ T, err error) (bool, error) {
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}
