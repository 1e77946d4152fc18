package agent

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"peapod/internal/registry"
	"peapod/internal/runtime/runtimetest"
)

// recorder is a Reporter that keeps the statuses and events of a worker.
type recorder struct {
	mu       sync.Mutex
	statuses []corev1.PodStatus
	events   []string
}

func (r *recorder) Status(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, *pod.Status.DeepCopy())
}

func (r *recorder) Event(_ *corev1.Pod, container, _, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, container+" "+reason+" "+message)
}

// last is the newest status that satisfies ok, or nil.
func (r *recorder) last(ok func(corev1.PodStatus) bool) *corev1.PodStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.statuses) - 1; i >= 0; i-- {
		if ok(r.statuses[i]) {
			return &r.statuses[i]
		}
	}
	return nil
}

// scriptedPod is a defaulted pod whose containers the Fake runs by the
// annotations "<label>.<container>".
func scriptedPod(policy corev1.RestartPolicy, script map[string]string, initContainers, containers []corev1.Container) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p", Annotations: script},
		Spec:       corev1.PodSpec{RestartPolicy: policy, InitContainers: initContainers, Containers: containers},
	}
	registry.DefaultPod(pod)
	return pod
}

func ctr(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Command: []string{"run"}}
}

func sidecar(name string) corev1.Container {
	c := ctr(name)
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

// runWorker runs pod to its end on a Fake, or stops it once until holds.
func runWorker(t *testing.T, pod *corev1.Pod, until func(*recorder) bool) (*corev1.Pod, *recorder) {
	t.Helper()
	dir := t.TempDir()
	rec := &recorder{}
	cfg := Config{Runtime: runtimetest.NewFake(), Images: fakeImages{}, PodsDir: dir + "/pods", LogsDir: dir + "/logs", Pull: PullMissing, Reporter: rec}
	stop := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		pod *corev1.Pod
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := Run(ctx, cfg, pod, stop)
		done <- result{p, err}
	}()
	if until != nil {
		for deadline := time.Now().Add(20 * time.Second); !until(rec); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 20 s; statuses %+v", rec.statuses)
			}
		}
		close(stop)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	return r.pod, rec
}

func terminated(st *corev1.PodStatus, name string) *corev1.ContainerStateTerminated {
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return cs.State.Terminated
			}
		}
	}
	return nil
}

// The executor against the scripted Fake: what the plan decides happens,
// in order, and the status says so.
func TestWorker(t *testing.T) {
	t.Run("an init container runs to its end before the main starts", func(t *testing.T) {
		pod, _ := runWorker(t, scriptedPod(corev1.RestartPolicyNever, map[string]string{
			runtimetest.LabelRunFor + ".init": "50ms", runtimetest.LabelRunFor + ".main": "0s",
		}, []corev1.Container{ctr("init")}, []corev1.Container{ctr("main")}), nil)
		if pod.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("phase %s, want Succeeded", pod.Status.Phase)
		}
		i, m := terminated(&pod.Status, "init"), terminated(&pod.Status, "main")
		if i == nil || m == nil || i.ExitCode != 0 || m.ExitCode != 0 || m.StartedAt.Before(&i.FinishedAt) {
			t.Errorf("init %+v, main %+v: main must start after init finished", i, m)
		}
	})
	t.Run("a main that exits 1 under Never fails the pod", func(t *testing.T) {
		pod, _ := runWorker(t, scriptedPod(corev1.RestartPolicyNever, map[string]string{
			runtimetest.LabelRunFor + ".main": "0s", runtimetest.LabelExitCode + ".main": "1",
		}, nil, []corev1.Container{ctr("main")}), nil)
		if m := terminated(&pod.Status, "main"); pod.Status.Phase != corev1.PodFailed || m == nil || m.ExitCode != 1 || m.Reason != "Error" {
			t.Errorf("phase %s, main %+v; want Failed with exit 1 (Error)", pod.Status.Phase, m)
		}
	})
	t.Run("a native sidecar is stopped after the main completes", func(t *testing.T) {
		pod, _ := runWorker(t, scriptedPod(corev1.RestartPolicyNever, map[string]string{
			runtimetest.LabelRunFor + ".main": "100ms",
		}, []corev1.Container{sidecar("side")}, []corev1.Container{ctr("main")}), nil)
		s, m := terminated(&pod.Status, "side"), terminated(&pod.Status, "main")
		if pod.Status.Phase != corev1.PodSucceeded || s == nil || m == nil || s.FinishedAt.Before(&m.FinishedAt) {
			t.Errorf("phase %s, sidecar %+v, main %+v: the sidecar ends after the main, the pod succeeds", pod.Status.Phase, s, m)
		}
	})
	t.Run("a start error waits with the runtime's message, backed off", func(t *testing.T) {
		waiting := func(st corev1.PodStatus) bool {
			return len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].State.Waiting != nil &&
				st.ContainerStatuses[0].State.Waiting.Reason == "RunContainerError"
		}
		_, rec := runWorker(t, scriptedPod(corev1.RestartPolicyAlways, map[string]string{
			runtimetest.LabelStartError + ".main": "exec: no such file",
		}, nil, []corev1.Container{ctr("main")}), func(r *recorder) bool { return r.last(waiting) != nil })
		if w := rec.last(waiting).ContainerStatuses[0].State.Waiting; !strings.Contains(w.Message, "exec: no such file") {
			t.Errorf("waiting %+v: the runtime's message is kept", w)
		}
		// One attempt, then 10 s of back-off: the stop came before a second.
		attempts := map[string]bool{}
		for _, st := range rec.statuses {
			if waiting(st) {
				attempts[st.ContainerStatuses[0].State.Waiting.Message] = true
			}
		}
		if len(attempts) != 1 {
			t.Errorf("%d start attempts, want 1 within the back-off", len(attempts))
		}
	})
}

// tokens is a volume.Tokens that remembers which pods' tokens it forgot.
type tokens struct {
	mu     sync.Mutex
	forgot []types.UID
}

func (*tokens) GetServiceAccountToken(string, string, *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return nil, errors.New("no tokens here")
}

func (k *tokens) DeleteServiceAccountToken(uid types.UID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.forgot = append(k.forgot, uid)
}

// A pod's service-account tokens are forgotten with its volumes, as the
// kubelet's projected plugin forgets them: a node that ran many pods does
// not keep each one's token for its hour.
func TestWorker_ForgetsTokensAtTearDown(t *testing.T) {
	dir := t.TempDir()
	k := &tokens{}
	cfg := Config{Runtime: runtimetest.NewFake(), Images: fakeImages{}, PodsDir: dir + "/pods", LogsDir: dir + "/logs", Pull: PullMissing, Tokens: k}
	pod := scriptedPod(corev1.RestartPolicyNever, map[string]string{runtimetest.LabelRunFor + ".main": "0s"}, nil, []corev1.Container{ctr("main")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Run(ctx, cfg, pod, nil); err != nil {
		t.Fatal(err)
	}
	if len(k.forgot) != 1 || k.forgot[0] != pod.UID {
		t.Errorf("tokens forgotten for %v, want [%s]", k.forgot, pod.UID)
	}
}
