// Package registry holds the per-resource rules of the API: defaulting,
// validation and table columns. It is pure: no I/O, no clock, no HTTP, so
// `peapod up` and the API server apply exactly the same rules.
package registry

import (
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// DefaultGracePeriodSeconds is the API default of terminationGracePeriodSeconds.
const DefaultGracePeriodSeconds int64 = 30

// DefaultPod fills the fields the API server defaults, as the core/v1
// defaulting functions do for the fields peapod reads.
func DefaultPod(pod *corev1.Pod) {
	if pod.Namespace == "" {
		pod.Namespace = corev1.NamespaceDefault
	}
	s := &pod.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := DefaultGracePeriodSeconds
		s.TerminationGracePeriodSeconds = &g
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.EnableServiceLinks == nil {
		t := true
		s.EnableServiceLinks = &t
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
	for i := range s.EphemeralContainers {
		c := corev1.Container(s.EphemeralContainers[i].EphemeralContainerCommon)
		defaultContainer(&c)
		s.EphemeralContainers[i].EphemeralContainerCommon = corev1.EphemeralContainerCommon(c)
	}
	for i := range s.Volumes {
		v := &s.Volumes[i]
		switch {
		case v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil:
			m := corev1.ConfigMapVolumeSourceDefaultMode
			v.ConfigMap.DefaultMode = &m
		case v.Secret != nil && v.Secret.DefaultMode == nil:
			m := corev1.SecretVolumeSourceDefaultMode
			v.Secret.DefaultMode = &m
		case v.DownwardAPI != nil && v.DownwardAPI.DefaultMode == nil:
			m := corev1.DownwardAPIVolumeSourceDefaultMode
			v.DownwardAPI.DefaultMode = &m
		case v.Projected != nil && v.Projected.DefaultMode == nil:
			m := corev1.ProjectedVolumeSourceDefaultMode
			v.Projected.DefaultMode = &m
		}
	}
}

func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if pr != nil {
			defaultProbe(pr)
		}
	}
	if l := c.Lifecycle; l != nil {
		for _, h := range []*corev1.LifecycleHandler{l.PostStart, l.PreStop} {
			if h != nil && h.HTTPGet != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

// defaultProbe is SetDefaults_Probe (and SetDefaults_HTTPGetAction).
func defaultProbe(p *corev1.Probe) {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		defaultHTTPGet(p.HTTPGet)
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// defaultPullPolicy is Always for ":latest" or an untagged reference, else
// IfNotPresent (a digest counts as a tag, but "name:latest@digest" is
// Always, as the API server parses the tag first).
func defaultPullPolicy(image string) corev1.PullPolicy {
	image, digest, hasDigest := strings.Cut(image, "@")
	name := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(name, ":")
	switch {
	case i >= 0:
		if name[i+1:] == "latest" {
			return corev1.PullAlways
		}
		return corev1.PullIfNotPresent
	case hasDigest && digest != "":
		return corev1.PullIfNotPresent
	}
	return corev1.PullAlways
}

func podResource() *Resource {
	gk := corev1.SchemeGroupVersion.WithKind("Pod").GroupKind()
	return &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "pods",
		Kind:         "Pod",
		SingularName: "pod",
		ShortNames:   []string{"po"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "log", "exec", "attach", "portforward", "ephemeralcontainers", "binding", "eviction"},
		Views:        []string{"ephemeralcontainers"},
		Connect:      []string{"log", "exec", "attach", "portforward"},
		Actions:      map[string]Action{"binding": bindingAction()},
		Delete: func(obj runtime.Object, opts *metav1.DeleteOptions) (Deletion, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return Deletion{}, wrongType("Pod", obj)
			}
			return Deletion{Grace: podGrace(pod, opts)}, nil
		},
		ReturnDeleted: true,
		New:           func() runtime.Object { return &corev1.Pod{} },
		NewList:       func() runtime.Object { return &corev1.PodList{} },
		Default:       defaulter(DefaultPod),
		Validate: func(obj runtime.Object) error {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return wrongType("Pod", obj)
			}
			return ValidatePod(pod)
		},
		ValidateUpdate: func(obj, old runtime.Object) error {
			pod, ok := obj.(*corev1.Pod)
			oldPod, ok2 := old.(*corev1.Pod)
			if !ok || !ok2 {
				return wrongType("Pod", obj)
			}
			if err := ValidatePod(pod); err != nil {
				return err
			}
			if errs := validateMetaUpdate(&pod.ObjectMeta, &oldPod.ObjectMeta); len(errs) > 0 {
				return apierrors.NewInvalid(gk, pod.Name, errs)
			}
			if errs := validateEphemeralContainersUpdate(pod, oldPod); len(errs) > 0 {
				return apierrors.NewInvalid(gk, pod.Name, errs)
			}
			// The spec of a pod is immutable but for a few fields (image,
			// activeDeadlineSeconds, tolerations additions).
			return validatePodSpecUpdate(pod, oldPod)
		},
		PrepareForCreate: creator(func(pod *corev1.Pod, _ time.Time) {
			// A new pod is Pending whatever the client sent; only the
			// node agent writes status, through pods/status.
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: PodQOSClass(pod)}
		}),
		PrepareForUpdate: updater(func(pod, old *corev1.Pod, subresource string) {
			switch subresource {
			case "":
				// Ephemeral containers change only through their
				// subresource, so an update from an older copy keeps them.
				pod.Status = old.Status
				pod.Spec.EphemeralContainers = old.Spec.EphemeralContainers
			case "ephemeralcontainers":
				// Only spec.ephemeralContainers; the rest stays as it is.
				eph, tm, rv := pod.Spec.EphemeralContainers, pod.TypeMeta, pod.ResourceVersion
				*pod = *old.DeepCopy()
				pod.TypeMeta, pod.ResourceVersion, pod.Spec.EphemeralContainers = tm, rv, eph
			case "status":
				pod.Spec = old.Spec
				pod.DeletionTimestamp = old.DeletionTimestamp
				pod.OwnerReferences = old.OwnerReferences
			}
		}),
		Fields: fielder(true, func(pod *corev1.Pod, set fields.Set) {
			podIP := ""
			if len(pod.Status.PodIPs) > 0 {
				podIP = pod.Status.PodIPs[0].IP
			}
			set["spec.nodeName"] = pod.Spec.NodeName
			set["spec.restartPolicy"] = string(pod.Spec.RestartPolicy)
			set["spec.schedulerName"] = pod.Spec.SchedulerName
			set["spec.serviceAccountName"] = pod.Spec.ServiceAccountName
			set["spec.hostNetwork"] = strconv.FormatBool(pod.Spec.HostNetwork)
			set["status.phase"] = string(pod.Status.Phase)
			set["status.podIP"] = podIP
			set["status.nominatedNodeName"] = pod.Status.NominatedNodeName
		}),
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
			column("Status", "string", "The aggregate status of the containers in this pod."),
			column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
			ageColumn,
			wideColumn("IP", corev1.PodStatus{}.SwaggerDoc()["podIP"]),
			wideColumn("Node", corev1.PodSpec{}.SwaggerDoc()["nodeName"]),
			wideColumn("Nominated Node", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]),
			wideColumn("Readiness Gates", corev1.PodSpec{}.SwaggerDoc()["readinessGates"]),
		},
		Row: rower(func(pod *corev1.Pod, now time.Time) []any {
			return anyRow(append(PodRow(pod, now), podWideCells(pod)...))
		}),
	}
}

// PodQOSClass is the pod's QoS class as the API server computes it on
// create: BestEffort without any cpu/memory request or limit, Guaranteed
// when every container limits both and requests equal limits, else
// Burstable. A missing request counts as its limit, as defaulting does.
func PodQOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := map[corev1.ResourceName]*resource.Quantity{}, map[corev1.ResourceName]*resource.Quantity{}
	add := func(m map[corev1.ResourceName]*resource.Quantity, name corev1.ResourceName, q resource.Quantity) {
		if m[name] == nil {
			m[name] = &resource.Quantity{}
		}
		m[name].Add(q)
	}
	guaranteed := true
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		limited := 0
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if !hasReq && hasLim {
				req, hasReq = lim, true
			}
			if hasReq && req.Sign() > 0 {
				add(requests, name, req)
			}
			if hasLim && lim.Sign() > 0 {
				add(limits, name, lim)
				limited++
			}
		}
		if limited < 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed && len(requests) == len(limits) {
		for name, req := range requests {
			if lim := limits[name]; lim == nil || lim.Cmp(*req) != 0 {
				return corev1.PodQOSBurstable
			}
		}
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func anyRow(cells []string) []any {
	out := make([]any, len(cells))
	for i, c := range cells {
		out[i] = c
	}
	return out
}
