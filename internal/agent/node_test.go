package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"peapod/internal/image"
	"peapod/internal/registry"
	"peapod/internal/runtime"
	"peapod/internal/runtime/runtimetest"
)

// fakeImages has every image, with no layers.
type fakeImages struct{}

func (fakeImages) Get(_ context.Context, ref string) (*image.Image, error) {
	return &image.Image{ID: "sha256:" + ref}, nil
}

func (f fakeImages) Pull(ctx context.Context, ref string, _ image.PullOptions) (*image.Image, error) {
	return f.Get(ctx, ref)
}

func (fakeImages) Layers(context.Context, *image.Image) ([]string, error) { return nil, nil }

const testNode = "node-a"

// newClient is a fake clientset whose pods/binding sets spec.nodeName, as
// the API server does.
func newClient(objs ...k8sruntime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
		obj, err := c.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		pod.Spec.NodeName = b.Target.Name
		return true, b, c.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), pod, b.Namespace)
	})
	return c
}

// startNode runs a node agent as serve's (it binds pods to itself) until
// the returned stop is called.
func startNode(t *testing.T, client *fake.Clientset, rt runtime.Runtime) (stop func()) {
	t.Helper()
	return startNodeWith(t, client, rt, func(c *NodeConfig) { c.Bind = true })
}

// startNodeWith is startNode with what set changes in the configuration.
func startNodeWith(t *testing.T, client *fake.Clientset, rt runtime.Runtime, set func(*NodeConfig)) (stop func()) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	f := informers.NewSharedInformerFactory(client, 0)
	cfg := NodeConfig{
		Client: client, Name: testNode, RuntimeVersion: "peapod://test",
		Worker:     Config{Runtime: rt, Images: fakeImages{}, PodsDir: dir + "/pods", LogsDir: dir + "/logs", Pull: PullMissing},
		Heartbeat:  50 * time.Millisecond,
		RetryAfter: 50 * time.Millisecond,
		Informers:  f,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	set(&cfg)
	n, err := NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	go func() { done <- n.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		f.Shutdown()
	}
	t.Cleanup(stop)
	return stop
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testPod(name string, containers ...string) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)}}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox", Command: []string{"sleep", "inf"}})
	}
	registry.DefaultPod(pod)
	return pod
}

func getPod(t *testing.T, c *fake.Clientset, name string) (*corev1.Pod, error) {
	t.Helper()
	return c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

// running waits until every container of the pod runs and it is Ready,
// and returns the container IDs by name.
func running(t *testing.T, c *fake.Clientset, name string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	eventually(t, "pod "+name+" running and ready", func() error {
		pod, err := getPod(t, c, name)
		if err != nil {
			return err
		}
		if pod.Status.Phase != corev1.PodRunning || !podReady(pod) {
			return fmt.Errorf("phase %s, conditions %v", pod.Status.Phase, pod.Status.Conditions)
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.State.Running == nil {
				return fmt.Errorf("container %s: %+v", cs.Name, cs.State)
			}
			ids[cs.Name] = cs.ContainerID
		}
		return nil
	})
	return ids
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestNode_Registers(t *testing.T) {
	client := newClient()
	startNode(t, client, runtimetest.NewFake())
	var first, firstTransition metav1.Time
	eventually(t, "node registered", func() error {
		n, err := client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Labels[corev1.LabelHostname] != testNode || n.Labels[corev1.LabelOSStable] != "linux" || n.Labels[corev1.LabelArchStable] == "" {
			return fmt.Errorf("labels %v", n.Labels)
		}
		if q := n.Status.Capacity[corev1.ResourcePods]; q.Value() != MaxPods {
			return fmt.Errorf("pods capacity %v", q)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
			if _, ok := n.Status.Allocatable[r]; !ok {
				return fmt.Errorf("no allocatable %s in %v", r, n.Status.Allocatable)
			}
		}
		info := n.Status.NodeInfo
		if info.KubeletVersion != KubeletVersion || info.ContainerRuntimeVersion != "peapod://test" || info.OSImage == "" || info.KernelVersion == "" {
			return fmt.Errorf("nodeInfo %+v", info)
		}
		if len(n.Status.Addresses) != 2 || n.Status.Addresses[0].Address != "127.0.0.1" {
			return fmt.Errorf("addresses %v", n.Status.Addresses)
		}
		ready := n.Status.Conditions[len(n.Status.Conditions)-1]
		if ready.Type != corev1.NodeReady || ready.Status != corev1.ConditionTrue {
			return fmt.Errorf("conditions %v", n.Status.Conditions)
		}
		first, firstTransition = ready.LastHeartbeatTime, ready.LastTransitionTime
		return nil
	})
	eventually(t, "heartbeat", func() error {
		n, err := client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.LastHeartbeatTime.After(first.Time) {
				if !c.LastTransitionTime.Equal(&firstTransition) {
					return fmt.Errorf("transition time moved without a transition: %v", c)
				}
				return nil
			}
		}
		return fmt.Errorf("no newer heartbeat than %v", first)
	})
}

func TestNode_BindsRunsAndReports(t *testing.T) {
	client := newClient()
	startNode(t, client, runtimetest.NewFake())
	// The fake's watches do not resume from a list's resourceVersion: a
	// pod bound between the list and the watch would be missed.
	eventually(t, "pod watches", func() error {
		n := 0
		for _, a := range client.Actions() {
			if a.GetVerb() == "watch" && a.GetResource().Resource == "pods" {
				n++
			}
		}
		if n < 1 {
			return fmt.Errorf("%d pod watches", n)
		}
		return nil
	})
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), testPod("web", "app"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ids := running(t, client, "web")
	pod, _ := getPod(t, client, "web")
	if pod.Spec.NodeName != testNode {
		t.Errorf("nodeName %q, want %q", pod.Spec.NodeName, testNode)
	}
	if pod.Status.StartTime == nil || pod.Status.HostIP != "" || pod.Status.PodIP != "" {
		t.Errorf("startTime %v, hostIP %q, podIP %q", pod.Status.StartTime, pod.Status.HostIP, pod.Status.PodIP)
	}
	if ids["app"] == "" {
		t.Errorf("no container ID: %v", pod.Status.ContainerStatuses)
	}
	eventually(t, "Scheduled event", func() error {
		evs, err := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == "Scheduled" && e.Source.Component == "default-scheduler" && e.InvolvedObject.Name == "web" && e.InvolvedObject.UID == pod.UID {
				return nil
			}
		}
		return fmt.Errorf("no Scheduled event in %d events", len(evs.Items))
	})
	var patched bool
	for _, a := range client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == "pods" && a.GetSubresource() == "status" {
			patched = p.GetPatchType() == types.StrategicMergePatchType
		}
	}
	if !patched {
		t.Error("status not written as a strategic merge patch of pods/status")
	}
}

func TestNode_DeletionStopsThenDeletesWithGraceZero(t *testing.T) {
	pod := testPod("web", "app")
	pod.Spec.NodeName = testNode
	client := newClient(pod)
	rt := runtimetest.NewFake()
	startNode(t, client, rt)
	running(t, client, "web")

	// What the API server does on a graceful DELETE.
	cur, err := getPod(t, client, "web")
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	grace := int64(5)
	cur.DeletionTimestamp, cur.DeletionGracePeriodSeconds = &now, &grace
	if _, err := client.CoreV1().Pods("default").Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod deleted", func() error {
		if _, err := getPod(t, client, "web"); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	var del k8stesting.DeleteAction
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "pods" {
			del = d
		}
	}
	opts := del.GetDeleteOptions()
	if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != 0 || opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID != pod.UID {
		t.Errorf("delete options %+v, want grace 0 and the pod's UID", opts)
	}
	eventually(t, "nothing left in the runtime", func() error { return empty(rt) })
}

func empty(rt runtime.Runtime) error {
	ctx := context.Background()
	sbs, _ := rt.ListSandboxes(ctx)
	cs, _ := rt.ListContainers(ctx, "")
	if len(sbs)+len(cs) > 0 {
		return fmt.Errorf("%d sandboxes and %d containers left", len(sbs), len(cs))
	}
	return nil
}

func TestNode_CompletedPodStays(t *testing.T) {
	pod := testPod("job", "app")
	pod.Spec.NodeName = testNode
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	client := newClient(pod)
	rt := runtimetest.NewFake()
	startNode(t, client, rt)
	ids := running(t, client, "job")
	if err := rt.StopContainer(context.Background(), runtime.StopRequest{ID: trimID(ids["app"]), Signal: 15, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod failed", func() error {
		p, err := getPod(t, client, "job")
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodFailed {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	eventually(t, "containers removed", func() error { return empty(rt) })
	if _, err := getPod(t, client, "job"); err != nil {
		t.Errorf("a completed pod must stay: %v", err)
	}
}

// trimID drops the runtime:// prefix of a status containerID.
func trimID(id string) string {
	for i := 0; i+3 <= len(id); i++ {
		if id[i:i+3] == "://" {
			return id[i+3:]
		}
	}
	return id
}

func TestNode_ShutdownLeavesPodsAndRestartAdopts(t *testing.T) {
	pod := testPod("web", "keep", "dies")
	pod.Spec.NodeName = testNode
	client := newClient(pod)
	rt := runtimetest.NewFake()
	stop := startNode(t, client, rt)
	ids := running(t, client, "web")
	stop()

	cs, _ := rt.ListContainers(context.Background(), string(pod.UID))
	for _, c := range cs {
		if c.State != runtime.StateRunning {
			t.Errorf("container %s is %s after the agent stopped", c.Name, c.State)
		}
	}
	if len(cs) != 2 {
		t.Fatalf("%d containers after the agent stopped, want 2", len(cs))
	}
	// One container exits while no agent runs.
	if err := rt.StopContainer(context.Background(), runtime.StopRequest{ID: trimID(ids["dies"]), Signal: 9}); err != nil {
		t.Fatal(err)
	}

	startNode(t, client, rt)
	eventually(t, "adopted", func() error {
		p, err := getPod(t, client, "web")
		if err != nil {
			return err
		}
		for _, s := range p.Status.ContainerStatuses {
			switch s.Name {
			case "keep":
				if s.ContainerID != ids["keep"] || s.RestartCount != 0 || s.State.Running == nil {
					return fmt.Errorf("keep: %+v, want %s running", s, ids["keep"])
				}
			case "dies":
				if s.RestartCount != 1 || s.State.Running == nil || s.ContainerID == ids["dies"] {
					return fmt.Errorf("dies: %+v, want restarted once", s)
				}
				if s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.ExitCode != 137 {
					return fmt.Errorf("dies: last state %+v, want exit 137", s.LastTerminationState)
				}
			}
		}
		return nil
	})
	cs, _ = rt.ListContainers(context.Background(), string(pod.UID))
	if len(cs) != 2 {
		t.Errorf("%d containers after adoption, want 2 (stale instances removed)", len(cs))
	}
}

func TestNode_CollectsOrphanSandboxes(t *testing.T) {
	rt := runtimetest.NewFake()
	ctx := context.Background()
	for _, uid := range []string{"gone", "kept"} {
		if _, err := rt.CreateSandbox(ctx, runtime.SandboxSpec{ID: "uid-" + uid, Name: uid, Namespace: "default", UID: "uid-" + uid}); err != nil {
			t.Fatal(err)
		}
		id, err := rt.CreateContainer(ctx, runtime.ContainerSpec{SandboxID: "uid-" + uid, Name: "app", Args: []string{"sleep"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	kept := testPod("kept", "app")
	kept.Spec.NodeName = testNode
	client := newClient(kept)
	startNode(t, client, rt)
	eventually(t, "orphan removed", func() error {
		sbs, _ := rt.ListSandboxes(ctx)
		if len(sbs) != 1 || sbs[0].ID != "uid-kept" {
			return fmt.Errorf("sandboxes %v", sbs)
		}
		cs, _ := rt.ListContainers(ctx, "uid-gone")
		if len(cs) != 0 {
			return fmt.Errorf("%d containers of the orphan left", len(cs))
		}
		return nil
	})
	running(t, client, "kept")
}

// With clients of their own, the binding goes through the scheduler's and
// the events through the event client: none of them waits behind the
// node's status writes in one request budget.
func TestNode_BindsAndRecordsThroughTheirOwnClients(t *testing.T) {
	client, sched, events := newClient(), newClient(), fake.NewClientset()
	startNodeWith(t, client, runtimetest.NewFake(), func(c *NodeConfig) {
		c.Bind, c.SchedulerClient, c.EventClient = true, sched, events
	})
	eventually(t, "pod watches", func() error {
		for _, a := range client.Actions() {
			if a.GetVerb() == "watch" && a.GetResource().Resource == "pods" {
				return nil
			}
		}
		return errors.New("no pod watch")
	})
	// The scheduler's client has the node and the pod too, as both
	// clients reach one API server: the fit is decided on the node (read
	// through the scheduler's client until the informer has it) and the
	// binding succeeds.
	var node *corev1.Node
	eventually(t, "the node registered", func() (err error) {
		node, err = client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
		return err
	})
	if _, err := sched.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*fake.Clientset{client, sched} {
		if _, err := c.CoreV1().Pods("default").Create(context.Background(), testPod("web", "app"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	created := func(c *fake.Clientset, resource, subresource string) bool {
		for _, a := range c.Actions() {
			if a.GetVerb() == "create" && a.GetResource().Resource == resource && a.GetSubresource() == subresource {
				return true
			}
		}
		return false
	}
	eventually(t, "a binding by the scheduler's client and its event by the event client", func() error {
		if !created(sched, "pods", "binding") || !created(events, "events", "") {
			return errors.New("not yet")
		}
		return nil
	})
	if created(client, "pods", "binding") || created(client, "events", "") {
		t.Error("the node's own client bound the pod or wrote an event")
	}
}
