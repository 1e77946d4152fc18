package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"peapod/internal/agent/logrotation"
	"peapod/internal/agent/nodemetrics"
	"peapod/internal/timeline"
)

// Node is the node agent: it registers a Node, binds unscheduled pods to
// it, and runs one worker per pod bound to it, reporting through the API.
type Node struct {
	cfg       NodeConfig
	client    kubernetes.Interface
	binder    kubernetes.Interface // SchedulerClient
	pods      corelisters.PodLister
	objects   Objects
	watched   *watchedObjects // objects when ObjectsPerPod
	informers struct{ pods, configMaps, secrets, services, nodes cache.SharedIndexInformer }
	nodes     corelisters.NodeLister
	kubelet   record.EventRecorder
	scheduler record.EventRecorder
	log       *slog.Logger

	// shutdown is closed when the agent stops: workers leave their pods
	// running.
	shutdown chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	closing  bool
	workers  map[types.UID]*podWorker
	finished map[types.UID]bool // ran to the end here; never run again
	deleting map[types.UID]bool // final delete under way
	binding  map[types.UID]bool
	// assumed are pods bound here that the informer may not show bound
	// yet: they count against what is left, as the scheduler's assumed
	// pods do.
	assumed map[types.UID]*corev1.Pod
	noBind  atomic.Bool // the API server has no pods/binding
	// lastReport is when heartbeat last wrote the node's status.
	lastReport time.Time
}

// podWorker is the node's handle on one running worker.
type podWorker struct {
	stop     chan struct{}
	stopOnce sync.Once
	grace    atomic.Pointer[int64]
	// pod is the spec the worker runs; refresh asks it to update its
	// volumes.
	pod     *corev1.Pod
	refresh chan struct{}
	// updates holds the newest copy of the pod whose mutable parts
	// changed, not yet taken.
	updates chan *corev1.Pod
}

// update hands the worker the pod if what may change on a running pod
// changed (labels and annotations, which downward API volumes show;
// activeDeadlineSeconds; ephemeral containers, which kubectl debug adds);
// a newer copy replaces one not yet taken. n.mu is held.
func (p *podWorker) update(pod *corev1.Pod) {
	if !mutableChanged(p.pod, pod) {
		return
	}
	p.pod = pod.DeepCopy()
	select {
	case <-p.updates:
	default:
	}
	p.updates <- pod.DeepCopy()
}

// mutableChanged reports a change in what the worker takes from an
// updated pod.
func mutableChanged(old, pod *corev1.Pod) bool {
	return !equality.Semantic.DeepEqual(old.Labels, pod.Labels) ||
		!equality.Semantic.DeepEqual(old.Annotations, pod.Annotations) ||
		!equality.Semantic.DeepEqual(old.Spec.ActiveDeadlineSeconds, pod.Spec.ActiveDeadlineSeconds) ||
		!equality.Semantic.DeepEqual(old.Spec.EphemeralContainers, pod.Spec.EphemeralContainers)
}

// poke asks the worker to update its volumes, without blocking.
func (p *podWorker) poke() {
	select {
	case p.refresh <- struct{}{}:
	default:
	}
}

// stopWith asks the worker to terminate the pod with grace (nil: the
// pod's own terminationGracePeriodSeconds).
func (p *podWorker) stopWith(grace *int64) {
	if grace != nil {
		g := *grace
		// A deletion can only shorten the grace period.
		if cur := p.grace.Load(); cur == nil || g < *cur {
			p.grace.Store(&g)
		}
	}
	p.stopOnce.Do(func() { close(p.stop) })
}

func (p *podWorker) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// NewNode makes the node agent and asks cfg.Informers for what it
// watches; Run runs it once the factory is started.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.Informers == nil {
		return nil, errors.New("node agent: no informer factory")
	}
	if cfg.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node name: %w", err)
		}
		cfg.Name = strings.ToLower(h)
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 10 * time.Second
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = MaxPods
	}
	if cfg.SyncPeriod == 0 {
		cfg.SyncPeriod = time.Minute
	}
	if cfg.ContainerLogMaxSize == 0 {
		cfg.ContainerLogMaxSize = logrotation.DefaultMaxSize
	}
	if cfg.ContainerLogMaxFiles == 0 {
		cfg.ContainerLogMaxFiles = logrotation.DefaultMaxFiles
	}
	if cfg.LogMonitorPeriod == 0 {
		cfg.LogMonitorPeriod = 10 * time.Second
	}
	if cfg.StatusReportPeriod == 0 {
		cfg.StatusReportPeriod = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n := &Node{
		cfg: cfg, client: cfg.Client, binder: orClient(cfg.SchedulerClient, cfg.Client), log: cfg.Log.With("node", cfg.Name),
		shutdown: make(chan struct{}),
		workers:  map[types.UID]*podWorker{}, finished: map[types.UID]bool{},
		deleting: map[types.UID]bool{}, binding: map[types.UID]bool{}, assumed: map[types.UID]*corev1.Pod{},
	}
	core := cfg.Informers.Core().V1()
	n.informers.pods, n.informers.services = core.Pods().Informer(), core.Services().Informer()
	n.informers.nodes, n.nodes = core.Nodes().Informer(), core.Nodes().Lister()
	n.pods = core.Pods().Lister()
	if cfg.ObjectsPerPod {
		n.watched = newWatchedObjects(cfg.Client, cfg.SyncPeriod, core.Services().Lister())
		n.objects = n.watched
	} else {
		n.informers.configMaps, n.informers.secrets = core.ConfigMaps().Informer(), core.Secrets().Informer()
		n.objects = listerObjects{listerServices{core.Services().Lister()}, core.ConfigMaps().Lister(), core.Secrets().Lister()}
	}
	nodemetrics.Register(cfg.Worker.Runtime, n.pods, cfg.Name)
	return n, nil
}

// Run runs the node agent until ctx ends. Pods keep running when it
// returns: a node agent started again adopts them.
func (n *Node) Run(ctx context.Context) error {
	cfg := n.cfg
	facts := readNodeFacts(cfg.Name, cfg.Worker.PodsDir, cfg.RuntimeVersion, cfg.MaxPods)
	switch {
	case cfg.InternalIP != "":
		facts.InternalIP = cfg.InternalIP
	case cfg.Worker.Network != nil:
		// The node's address is where its pods reach it: their gateway.
		facts.InternalIP = cfg.Worker.Network.HostIP().String()
	}
	facts.KubeletPort = cfg.KubeletPort
	if err := n.register(ctx, facts); err != nil {
		return err
	}
	if cfg.LeaseDuration > 0 {
		go n.renewLease(ctx)
	}

	events := record.NewBroadcaster(record.WithContext(ctx), record.WithCorrelatorOptions(record.CorrelatorOptions{LRUCacheSize: eventCacheSize(cfg.MaxPods)}))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: orClient(cfg.EventClient, n.client).CoreV1().Events("")})
	defer events.Shutdown()
	n.kubelet = events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.Name})
	n.scheduler = events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "default-scheduler"})

	// Every pod is watched (the cluster DNS and the endpoints controller
	// share the informer): this node runs its own and binds the unbound.
	podEvent := func(obj any) {
		switch pod := asPod(obj); {
		case pod == nil:
		case pod.Spec.NodeName == cfg.Name:
			n.syncPod(pod)
		case pod.Spec.NodeName == "" && cfg.Bind:
			n.bind(ctx, pod)
		}
	}
	bindPending := func() {
		if cfg.Bind {
			n.bindPending(ctx)
		}
	}
	objectChanged := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.objectChanged(obj) },
		UpdateFunc: func(_, obj any) { n.objectChanged(obj) },
	}
	synced := []cache.InformerSynced{n.informers.pods.HasSynced, n.informers.services.HasSynced, n.informers.nodes.HasSynced}
	for _, h := range []struct {
		inf     cache.SharedIndexInformer
		handler cache.ResourceEventHandler
	}{
		{n.informers.pods, cache.ResourceEventHandlerFuncs{
			AddFunc:    podEvent,
			UpdateFunc: func(_, obj any) { podEvent(obj) },
			DeleteFunc: func(obj any) {
				if pod := asPod(obj); pod != nil && pod.Spec.NodeName == cfg.Name {
					n.podGone(pod)
					// What it held (resources, host ports) is free.
					bindPending()
				}
			},
		}},
		// A node's labels, taints or resources change what fits on it;
		// its heartbeats (every status update) do not.
		{n.informers.nodes, cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, obj any) {
			o, ok1 := old.(*corev1.Node)
			cur, ok2 := obj.(*corev1.Node)
			if !ok1 || !ok2 || fitChanged(o, cur) {
				bindPending()
			}
		}}},
		{n.informers.configMaps, objectChanged},
		{n.informers.secrets, objectChanged},
	} {
		if h.inf == nil {
			continue // ObjectsPerPod: no informer of them all
		}
		reg, err := h.inf.AddEventHandler(h.handler)
		if err != nil {
			// The informers end with ctx: one may stop between two of
			// these, while the first handler's pods already run.
			n.stop()
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return err
		}
		defer func() { _ = h.inf.RemoveEventHandler(reg) }()
		synced = append(synced, h.inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		n.stop()
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return errors.New("node agent: informers did not sync")
	}
	n.collect(ctx)

	tick := time.NewTicker(cfg.Heartbeat)
	defer tick.Stop()
	resync := time.NewTicker(cfg.SyncPeriod)
	defer resync.Stop()
	rotate := time.NewTicker(cfg.LogMonitorPeriod)
	defer rotate.Stop()
	for {
		select {
		case <-ctx.Done():
			n.stop()
			return nil
		case <-rotate.C:
			n.rotateLogs(ctx)
		case <-resync.C:
			n.refreshVolumes(func(*corev1.Pod) bool { return true })
		case <-tick.C:
			if err := n.heartbeat(ctx, facts); err != nil && ctx.Err() == nil {
				n.log.Warn("node status update failed", "err", err)
			}
		}
	}
}

// stop ends every worker without touching their pods.
func (n *Node) stop() {
	n.mu.Lock()
	n.closing = true
	close(n.shutdown)
	n.mu.Unlock()
	n.wg.Wait()
}

// fitChanged reports a change in what the scheduler's filters read of
// a node.
func fitChanged(old, node *corev1.Node) bool {
	return !equality.Semantic.DeepEqual(old.Labels, node.Labels) ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) ||
		old.Spec.Unschedulable != node.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable)
}

func asPod(obj any) *corev1.Pod {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// syncPod reacts to the API's view of a pod bound to this node: start its
// worker, ask it to stop when the pod is being deleted, or finish the
// deletion of a pod that no longer runs.
func (n *Node) syncPod(pod *corev1.Pod) {
	if pod == nil || pod.Spec.NodeName != n.cfg.Name {
		return
	}
	if n.watched != nil {
		n.watched.RegisterPod(pod)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return
	}
	if w := n.workers[pod.UID]; w != nil {
		if pod.DeletionTimestamp != nil {
			w.stopWith(pod.DeletionGracePeriodSeconds)
		}
		w.update(pod)
		return
	}
	if n.finished[pod.UID] || terminal(pod) {
		if pod.DeletionTimestamp != nil && !n.deleting[pod.UID] {
			n.deleting[pod.UID] = true
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.finalDelete(pod)
			}()
		}
		return
	}
	n.startLocked(pod)
}

// startLocked starts pod's worker; n.mu is held.
func (n *Node) startLocked(pod *corev1.Pod) {
	pw := &podWorker{stop: make(chan struct{}), pod: pod.DeepCopy(), refresh: make(chan struct{}, 1), updates: make(chan *corev1.Pod, 1)}
	if pod.DeletionTimestamp != nil {
		pw.stopWith(pod.DeletionGracePeriodSeconds)
	}
	rep := newAPIReporter(n.client, n.pods, n.kubelet, pod)
	cfg := n.cfg.Worker
	cfg.Objects = n.objects
	cfg.Reporter = rep
	if n.cfg.Timeline != nil {
		rec := &timeline.Recorder{Next: rep, Book: n.cfg.Timeline}
		rec.Seen(pod)
		cfg.Reporter = rec
	}
	cfg.Shutdown = n.shutdown
	cfg.StopGrace = pw.grace.Load
	cfg.Refresh = pw.refresh
	cfg.Updates = pw.updates
	n.workers[pod.UID] = pw
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.runWorker(pod.DeepCopy(), pw, rep, cfg)
	}()
}

// runWorker runs one pod to its end, then writes its final status and, if
// it was deleted, removes it from the API as the kubelet's status manager
// does: once nothing of it runs, a delete with grace 0 and its UID.
func (n *Node) runWorker(pod *corev1.Pod, pw *podWorker, rep *apiReporter, cfg Config) {
	rctx, rcancel := context.WithCancel(context.Background())
	go rep.run(rctx)
	_, err := Run(context.Background(), cfg, pod, pw.stop)
	rcancel()
	<-rep.done

	select {
	case <-n.shutdown:
		n.mu.Lock()
		delete(n.workers, pod.UID)
		n.mu.Unlock()
		return
	default:
	}
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ferr := rep.flush(fctx); ferr != nil {
		n.log.Warn("final pod status not written", "pod", klogName(pod), "err", ferr)
	}

	n.mu.Lock()
	delete(n.workers, pod.UID)
	if n.deleting[pod.UID] {
		// Removed from the API while it ran (podGone): nothing of it is
		// left to report or retry.
		delete(n.deleting, pod.UID)
		n.mu.Unlock()
		n.removePodLogs(pod)
		return
	}
	if err != nil {
		n.log.Warn("pod worker failed, retrying", "pod", klogName(pod), "after", n.cfg.RetryAfter, "err", err)
		n.kubelet.Event(pod, corev1.EventTypeWarning, "FailedSync", err.Error())
		n.mu.Unlock()
		time.AfterFunc(n.cfg.RetryAfter, func() { n.resync(pod.Namespace, pod.Name, pod.UID) })
		return
	}
	n.finished[pod.UID] = true
	deleted := pw.stopped() && !n.deleting[pod.UID]
	if deleted {
		n.deleting[pod.UID] = true
	}
	n.mu.Unlock()
	if deleted {
		n.finalDelete(pod)
	}
}

// resync runs syncPod again from the lister's copy of the pod.
func (n *Node) resync(ns, name string, uid types.UID) {
	if p, err := n.pods.Pods(ns).Get(name); err == nil && p.UID == uid {
		n.syncPod(p)
	}
}

// finalDelete removes a pod whose containers are all gone.
func (n *Node) finalDelete(pod *corev1.Pod) {
	zero := int64(0)
	uid := pod.UID
	opts := metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}}
	var err error
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = n.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
		cancel()
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return
		}
		select {
		case <-n.shutdown:
			return // the next agent finishes the deletion
		case <-time.After(time.Second):
		}
	}
	n.log.Warn("pod not deleted", "pod", klogName(pod), "err", err)
}

// podGone handles a pod removed from the API (or unbound from this node)
// while its worker may still run: it is stopped, and nothing is left to
// delete.
func (n *Node) podGone(pod *corev1.Pod) {
	if pod == nil {
		return
	}
	if n.watched != nil {
		n.watched.UnregisterPod(pod)
	}
	n.mu.Lock()
	delete(n.finished, pod.UID)
	delete(n.deleting, pod.UID)
	w := n.workers[pod.UID]
	if w != nil {
		// Already gone: the worker removes the logs when it ends.
		n.deleting[pod.UID] = true
		w.stopWith(pod.DeletionGracePeriodSeconds)
	}
	n.mu.Unlock()
	if w == nil {
		n.removePodLogs(pod)
	}
}

func klogName(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// eventCacheSize sizes the event correlator's three caches (aggregation,
// spam filter, dedup), which matter for the keys of events that repeat
// (BackOff, Unhealthy, FailedMount: recently used, so an LRU keeps them).
// client-go's default, 4096 keys each, is sized for any client; here it
// kept the keys of ~300 deleted pods, ~10 MiB that nothing reads again.
func eventCacheSize(maxPods int) int { return max(1024, 8*maxPods) }

// orClient is c, or def if c is nil.
func orClient(c, def kubernetes.Interface) kubernetes.Interface {
	if c == nil {
		return def
	}
	return c
}
