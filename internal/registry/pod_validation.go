package registry

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePod checks a (defaulted) pod and returns an Invalid StatusError
// naming every bad field, as the API server would, or nil.
func ValidatePod(pod *corev1.Pod) error {
	var errs field.ErrorList
	errs = append(errs, validateObjectName(pod.Name, field.NewPath("metadata", "name"))...)
	if pod.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(pod.Namespace) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), pod.Namespace, msg))
		}
	}
	errs = append(errs, validatePodSpec(&pod.Spec, field.NewPath("spec"))...)
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Pod").GroupKind(), pod.Name, errs)
}

func validateObjectName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "name or generateName is required")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

func validatePodSpec(s *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes, verrs := validateVolumes(s.Volumes, p.Child("volumes"))
	errs = append(errs, verrs...)

	switch s.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), s.RestartPolicy,
			[]corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	}
	if g := s.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *g, "must be >= 0"))
	}
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	names := sets.New[string]()
	for i := range s.InitContainers {
		c := &s.InitContainers[i]
		cp := p.Child("initContainers").Index(i)
		errs = append(errs, validateContainer(c, cp, names, volumes)...)
		if c.RestartPolicy != nil {
			// Only sidecars may have probes and hooks (see below).
			errs = append(errs, validateProbesAndHooks(c, cp, s.TerminationGracePeriodSeconds)...)
		}
		if c.RestartPolicy != nil && *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			errs = append(errs, field.NotSupported(cp.Child("restartPolicy"), *c.RestartPolicy,
				[]corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
		}
		if c.RestartPolicy == nil {
			// Only restartable (sidecar) init containers may have these probes.
			// In the API server's order, so the message is stable.
			for _, probe := range []struct {
				name string
				set  bool
			}{{"lifecycle", c.Lifecycle != nil}, {"livenessProbe", c.LivenessProbe != nil}, {"readinessProbe", c.ReadinessProbe != nil}, {"startupProbe", c.StartupProbe != nil}} {
				if probe.set {
					errs = append(errs, field.Forbidden(cp.Child(probe.name), "may not be set for init containers without restartPolicy=Always"))
				}
			}
		}
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		cp := p.Child("containers").Index(i)
		errs = append(errs, validateContainer(c, cp, names, volumes)...)
		errs = append(errs, validateProbesAndHooks(c, cp, s.TerminationGracePeriodSeconds)...)
		if c.RestartPolicy != nil {
			errs = append(errs, field.Forbidden(cp.Child("restartPolicy"), "may not be set for non-init containers"))
		}
	}
	targets := names.Clone()
	for i := range s.EphemeralContainers {
		errs = append(errs, validateEphemeralContainer(&s.EphemeralContainers[i], p.Child("ephemeralContainers").Index(i), names, targets, volumes)...)
	}
	return errs
}

// validateEphemeralContainer applies the container rules and the API
// server's ephemeral ones: a debugging container serves nothing, so no
// ports, probes, hooks or resources, and its target is a container of the
// pod (not another ephemeral one).
func validateEphemeralContainer(ec *corev1.EphemeralContainer, p *field.Path, names, targets, volumes sets.Set[string]) field.ErrorList {
	c := corev1.Container(ec.EphemeralContainerCommon)
	errs := validateContainer(&c, p, names, volumes)
	const msg = "cannot be set for an Ephemeral Container"
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"ports", len(c.Ports) > 0},
		{"livenessProbe", c.LivenessProbe != nil},
		{"readinessProbe", c.ReadinessProbe != nil},
		{"startupProbe", c.StartupProbe != nil},
		{"lifecycle", c.Lifecycle != nil},
		{"resources", len(c.Resources.Limits) > 0 || len(c.Resources.Requests) > 0 || len(c.Resources.Claims) > 0},
		{"resizePolicy", len(c.ResizePolicy) > 0},
		{"restartPolicy", c.RestartPolicy != nil},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(p.Child(f.name), msg))
		}
	}
	if ec.TargetContainerName != "" && !targets.Has(ec.TargetContainerName) {
		errs = append(errs, field.NotFound(p.Child("targetContainerName"), ec.TargetContainerName))
	}
	return errs
}

// validateEphemeralContainersUpdate: ephemeral containers are only ever
// added; the node agent started the existing ones as they are.
func validateEphemeralContainersUpdate(pod, old *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "ephemeralContainers")
	for i := range old.Spec.EphemeralContainers {
		oc := &old.Spec.EphemeralContainers[i]
		found := false
		for j := range pod.Spec.EphemeralContainers {
			if nc := &pod.Spec.EphemeralContainers[j]; nc.Name == oc.Name {
				found = true
				if !apiequality.Semantic.DeepEqual(nc, oc) {
					errs = append(errs, field.Forbidden(p.Index(j), fmt.Sprintf("existing ephemeral containers %q may not be changed", oc.Name)))
				}
			}
		}
		if !found {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("existing ephemeral containers %q may not be removed", oc.Name)))
		}
	}
	return errs
}

// validateUniqueName checks a container or volume name: required, a
// DNS-1123 label, not already in names (to which it is added).
func validateUniqueName(name string, names sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case name == "":
		errs = append(errs, field.Required(p, ""))
	case names.Has(name):
		errs = append(errs, field.Duplicate(p, name))
	default:
		for _, msg := range validation.IsDNS1123Label(name) {
			errs = append(errs, field.Invalid(p, name, msg))
		}
	}
	names.Insert(name)
	return errs
}

func validateContainer(c *corev1.Container, p *field.Path, names sets.Set[string], volumes sets.Set[string]) field.ErrorList {
	errs := validateUniqueName(c.Name, names, p.Child("name"))
	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	}
	switch c.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy,
			[]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}))
	}
	portNames := sets.New[string]()
	for i, port := range c.Ports {
		pp := p.Child("ports").Index(i)
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(pp.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(pp.Child("hostPort"), port.HostPort, msg))
			}
		}
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if portNames.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			portNames.Insert(port.Name)
		}
		switch port.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			errs = append(errs, field.NotSupported(pp.Child("protocol"), port.Protocol,
				[]corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}))
		}
	}
	for i, env := range c.Env {
		ep := p.Child("env").Index(i)
		if env.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			for _, msg := range validation.IsEnvVarName(env.Name) {
				errs = append(errs, field.Invalid(ep.Child("name"), env.Name, msg))
			}
		}
		if env.Value != "" && env.ValueFrom != nil {
			errs = append(errs, field.Invalid(ep.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
		}
	}
	mountPaths := sets.New[string]()
	for i, m := range c.VolumeMounts {
		mp := p.Child("volumeMounts").Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		case !strings.HasPrefix(m.MountPath, "/"):
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be an absolute path"))
		case mountPaths.Has(m.MountPath):
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountPaths.Insert(m.MountPath)
		if m.SubPath != "" && m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(mp.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
		}
		errs = append(errs, validateLocalRelativePath(m.SubPath, mp.Child("subPath"))...)
		errs = append(errs, validateLocalRelativePath(m.SubPathExpr, mp.Child("subPathExpr"))...)
	}
	return errs
}

// validateLocalRelativePath rejects absolute paths and ".." elements, which
// would let a subPath escape its volume.
func validateLocalRelativePath(path string, p *field.Path) field.ErrorList {
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "/") {
		return field.ErrorList{field.Invalid(p, path, "must be a relative path")}
	}
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(p, path, "must not contain '..'")}
		}
	}
	return nil
}

func validateVolumes(vols []corev1.Volume, p *field.Path) (sets.Set[string], field.ErrorList) {
	names := sets.New[string]()
	var errs field.ErrorList
	for i, v := range vols {
		vp := p.Index(i)
		errs = append(errs, validateUniqueName(v.Name, names, vp.Child("name"))...)
		switch n := countSources(&v.VolumeSource); {
		case n == 0:
			errs = append(errs, field.Required(vp, "must specify a volume type"))
		case n > 1:
			errs = append(errs, field.Forbidden(vp, "may not specify more than 1 volume type"))
		}
		if v.HostPath != nil && !strings.HasPrefix(v.HostPath.Path, "/") {
			errs = append(errs, field.Invalid(vp.Child("hostPath", "path"), v.HostPath.Path, "must be an absolute path"))
		}
		if v.ConfigMap != nil && v.ConfigMap.Name == "" {
			errs = append(errs, field.Required(vp.Child("configMap", "name"), ""))
		}
		if v.Secret != nil && v.Secret.SecretName == "" {
			errs = append(errs, field.Required(vp.Child("secret", "secretName"), ""))
		}
	}
	return names, errs
}

// countSources counts the volume types set in a VolumeSource; exactly one is
// allowed.
func countSources(s *corev1.VolumeSource) int {
	n := 0
	for _, set := range []bool{
		s.EmptyDir != nil, s.HostPath != nil, s.ConfigMap != nil, s.Secret != nil,
		s.DownwardAPI != nil, s.Projected != nil, s.PersistentVolumeClaim != nil,
		s.NFS != nil, s.CSI != nil, s.Ephemeral != nil, s.Image != nil,
		s.GCEPersistentDisk != nil, s.AWSElasticBlockStore != nil, s.GitRepo != nil,
		s.ISCSI != nil, s.Glusterfs != nil, s.RBD != nil, s.FlexVolume != nil,
		s.Cinder != nil, s.CephFS != nil, s.Flocker != nil, s.FC != nil,
		s.AzureFile != nil, s.VsphereVolume != nil, s.Quobyte != nil, s.AzureDisk != nil,
		s.PhotonPersistentDisk != nil, s.PortworxVolume != nil, s.ScaleIO != nil,
		s.StorageOS != nil,
	} {
		if set {
			n++
		}
	}
	return n
}

// validatePodSpecUpdate allows only the pod spec changes the API server
// allows: container images and activeDeadlineSeconds.
func validatePodSpecUpdate(pod, old *corev1.Pod) error {
	a, b := pod.Spec.DeepCopy(), old.Spec.DeepCopy()
	for _, s := range []*corev1.PodSpec{a, b} {
		for i := range s.Containers {
			s.Containers[i].Image = ""
		}
		for i := range s.InitContainers {
			s.InitContainers[i].Image = ""
		}
		s.ActiveDeadlineSeconds = nil
		s.Tolerations = nil
		s.EphemeralContainers = nil
	}
	if equalSpec(a, b) {
		return nil
	}
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Pod").GroupKind(), pod.Name, fieldForbiddenSpec())
}

// validateProbesAndHooks checks a container's probes and lifecycle hooks
// as the API server's validateProbe and validateLifecycle.
func validateProbesAndHooks(c *corev1.Container, p *field.Path, grace *int64) field.ErrorList {
	var errs field.ErrorList
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if pr.probe == nil {
			continue
		}
		pp := p.Child(pr.name)
		h := &pr.probe.ProbeHandler
		errs = append(errs, validateHandler(pp, h.Exec, h.HTTPGet, h.TCPSocket, h.GRPC, nil, grace)...)
		for _, f := range []struct {
			name  string
			value int32
		}{
			{"initialDelaySeconds", pr.probe.InitialDelaySeconds}, {"timeoutSeconds", pr.probe.TimeoutSeconds},
			{"periodSeconds", pr.probe.PeriodSeconds}, {"successThreshold", pr.probe.SuccessThreshold},
			{"failureThreshold", pr.probe.FailureThreshold},
		} {
			if f.value < 0 {
				errs = append(errs, field.Invalid(pp.Child(f.name), f.value, "must be greater than or equal to 0"))
			}
		}
		// 0 is the undefaulted value (the API server validates defaulted
		// objects; DefaultPod makes it 1).
		if pr.name != "readinessProbe" && pr.probe.SuccessThreshold > 1 {
			errs = append(errs, field.Invalid(pp.Child("successThreshold"), pr.probe.SuccessThreshold, "must be 1"))
		}
		if g := pr.probe.TerminationGracePeriodSeconds; g != nil {
			switch {
			case pr.name == "readinessProbe":
				errs = append(errs, field.Invalid(pp.Child("terminationGracePeriodSeconds"), *g, "must not be set for readinessProbes"))
			case *g <= 0:
				errs = append(errs, field.Invalid(pp.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
			}
		}
	}
	if l := c.Lifecycle; l != nil {
		for _, hook := range []struct {
			name string
			h    *corev1.LifecycleHandler
		}{{"postStart", l.PostStart}, {"preStop", l.PreStop}} {
			if hook.h == nil {
				continue
			}
			hp := p.Child("lifecycle", hook.name)
			if hook.h.TCPSocket != nil {
				// The kubelet cannot run it: refuse it up front.
				errs = append(errs, field.Forbidden(hp.Child("tcpSocket"), "may not be set for lifecycle hooks"))
			}
			errs = append(errs, validateHandler(hp, hook.h.Exec, hook.h.HTTPGet, nil, nil, hook.h.Sleep, grace)...)
		}
	}
	return errs
}

// validateHandler is the API server's validateHandler: exactly one
// handler, and that one valid.
func validateHandler(p *field.Path, exec *corev1.ExecAction, get *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction,
	grpc *corev1.GRPCAction, sleep *corev1.SleepAction, grace *int64) field.ErrorList {
	var errs field.ErrorList
	n := 0
	one := func(name string) bool {
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 handler type"))
			return false
		}
		n++
		return true
	}
	if exec != nil && one("exec") && len(exec.Command) == 0 {
		errs = append(errs, field.Required(p.Child("exec", "command"), ""))
	}
	if get != nil && one("httpGet") {
		gp := p.Child("httpGet")
		if get.Path == "" {
			errs = append(errs, field.Required(gp.Child("path"), ""))
		}
		errs = append(errs, validatePortNumOrName(get.Port, gp.Child("port"))...)
		if get.Scheme != corev1.URISchemeHTTP && get.Scheme != corev1.URISchemeHTTPS {
			errs = append(errs, field.NotSupported(gp.Child("scheme"), get.Scheme, []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}))
		}
		for _, h := range get.HTTPHeaders {
			for _, msg := range validation.IsHTTPHeaderName(h.Name) {
				errs = append(errs, field.Invalid(gp.Child("httpHeaders"), h.Name, msg))
			}
		}
	}
	if tcp != nil && one("tcpSocket") {
		errs = append(errs, validatePortNumOrName(tcp.Port, p.Child("tcpSocket", "port"))...)
	}
	if grpc != nil && one("grpc") {
		for _, msg := range validation.IsValidPortNum(int(grpc.Port)) {
			errs = append(errs, field.Invalid(p.Child("grpc", "port"), grpc.Port, msg))
		}
	}
	if sleep != nil && one("sleep") {
		g := DefaultGracePeriodSeconds
		if grace != nil {
			g = *grace
		}
		if sleep.Seconds < 0 || sleep.Seconds > g {
			errs = append(errs, field.Invalid(p.Child("sleep", "seconds"), sleep.Seconds,
				fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", g)))
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a handler type"))
	}
	return errs
}

// validatePortNumOrName is the API server's: a valid number or port name.
func validatePortNumOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Type == intstr.Int {
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(p, port.IntValue(), msg))
		}
		return errs
	}
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		errs = append(errs, field.Invalid(p, port.StrVal, msg))
	}
	return errs
}
