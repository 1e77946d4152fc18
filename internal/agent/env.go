package agent

import (
	"fmt"
	"maps"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"peapod/internal/fieldpath"
)

// expand replaces each $(NAME) in s by its value from lookup, by the rules
// of the kubelet's third_party/forked/golang/expansion: $$ is an escaped $,
// a name lookup does not know stays as written, a $ before anything else
// and an unterminated $( are copied as they are. Values are inserted
// verbatim, never expanded again.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			ref := s[i : i+3+end] // $(NAME)
			if v, ok := lookupVar(lookup, ref[2:len(ref)-1]); ok {
				b.WriteString(v)
			} else {
				b.WriteString(ref)
			}
			i += len(ref) - 1
		default:
			b.WriteByte('$') // the next byte is copied on its own turn
		}
	}
	return b.String()
}

func lookupVar(lookup func(string) (string, bool), name string) (string, bool) {
	if lookup == nil {
		return "", false
	}
	return lookup(name)
}

// envLookup answers expand's lookups from a resolved environment.
func envLookup(env []corev1.EnvVar) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// expandCommand expands the pod's own command or args against the
// container's environment; the image's entrypoint and cmd are never
// expanded, so this runs before commandArgs merges them in.
func expandCommand(list []string, env []corev1.EnvVar) []string {
	if len(list) == 0 {
		return nil
	}
	lookup := envLookup(env)
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = expand(s, lookup)
	}
	return out
}

// expandSubPathExpr expands a volumeMount's subPathExpr as the kubelet's
// ExpandContainerVolumeMounts does: every reference must name a variable
// of the container's environment (from podEnv) with a non-empty value.
func expandSubPathExpr(expr string, env []corev1.EnvVar) (string, error) {
	vars := envLookup(env)
	missing := map[string]bool{}
	out := expand(expr, func(name string) (string, bool) {
		v, ok := vars(name)
		if !ok || v == "" {
			missing[name] = true
		}
		return v, true
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("missing value for %s", strings.Join(slices.Sorted(maps.Keys(missing)), ", "))
	}
	return out, nil
}

// envSet is the kubelet's variable map, kept in the order names were first
// defined so that the container's environment is stable across restarts
// (the kubelet's own order is a map's).
type envSet struct {
	names []string
	vals  map[string]string
}

func (s *envSet) set(name, value string) {
	if _, ok := s.vals[name]; !ok {
		s.names = append(s.names, name)
	}
	s.vals[name] = value
}

func (s *envSet) lookup(name string) (string, bool) {
	v, ok := s.vals[name]
	return v, ok
}

// podEnv builds the variables the kubelet gives a container
// (makeEnvironmentVariables): the envFrom sources in order, then env in
// order, each overriding earlier definitions of its name. The image's env
// is not part of it: the runtime puts it underneath (containerEnv), and
// $(VAR) references cannot see it. A missing ConfigMap, Secret or key is an
// error unless the reference is optional.
func podEnv(in containerInput) ([]corev1.EnvVar, error) {
	c, pod := in.Container, in.Pod
	ns := namespaceOf(pod.Namespace)
	src := objectCache{objects: in.Objects, namespace: ns}
	links, err := serviceLinks(pod, in.Objects)
	if err != nil {
		return nil, err
	}
	linkVals := make(map[string]string, len(links))
	for _, l := range links {
		linkVals[l.Name] = l.Value
	}
	env := envSet{vals: map[string]string{}}
	// $(VAR) in env values sees the variables defined so far, then the
	// service links (the kubelet's MappingFuncFor(tmpEnv, serviceEnv)).
	lookup := func(name string) (string, bool) {
		if v, ok := env.lookup(name); ok {
			return v, ok
		}
		v, ok := linkVals[name]
		return v, ok
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := src.configMap(from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			data = cm.Data
		case from.SecretRef != nil:
			sec, err := src.secret(from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			data = secretData(sec)
		}
		// Keys that are not valid names are skipped; the kubelet only
		// records an InvalidEnvironmentVariableNames event for them.
		for _, k := range slices.Sorted(maps.Keys(data)) {
			if name := from.Prefix + k; len(validation.IsEnvVarName(name)) == 0 {
				env.set(name, data[k])
			}
		}
	}
	for _, e := range c.Env {
		value := e.Value
		if value != "" {
			value = expand(value, lookup)
		} else if e.ValueFrom != nil {
			v, ok, err := valueFrom(e.ValueFrom, in, &src)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // optional and missing: the variable is left out
			}
			value = v
		}
		env.set(e.Name, value)
	}
	// The service links go last, under what envFrom and env defined.
	for _, l := range links {
		if _, ok := env.lookup(l.Name); !ok {
			env.set(l.Name, l.Value)
		}
	}
	out := make([]corev1.EnvVar, len(env.names))
	for i, name := range env.names {
		out[i] = corev1.EnvVar{Name: name, Value: env.vals[name]}
	}
	return out, nil
}

// serviceLinks are the kubelet's service environment variables
// (getServiceEnvVarMap, envvars.FromServices) for the Services that exist
// now: those with a cluster IP in the pod's namespace unless
// enableServiceLinks is false, and always default/kubernetes. Services go
// by name, so the order is stable (the kubelet's is a map's).
func serviceLinks(pod *corev1.Pod, objects Objects) ([]corev1.EnvVar, error) {
	if objects == nil {
		return nil, nil
	}
	byName := map[string]*corev1.Service{}
	def, err := objects.ServicesIn(corev1.NamespaceDefault)
	if err != nil {
		return nil, fmt.Errorf("services for the environment: %w", err)
	}
	for _, svc := range def {
		if svc.Name == "kubernetes" && serviceIPSet(svc) {
			byName[svc.Name] = svc
		}
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		svcs, err := objects.ServicesIn(namespaceOf(pod.Namespace))
		if err != nil {
			return nil, fmt.Errorf("services for the environment: %w", err)
		}
		for _, svc := range svcs {
			if serviceIPSet(svc) {
				byName[svc.Name] = svc
			}
		}
	}
	var out []corev1.EnvVar
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, serviceVars(byName[name])...)
	}
	return out, nil
}

func serviceIPSet(svc *corev1.Service) bool {
	ip := svc.Spec.ClusterIP
	return ip != "" && ip != corev1.ClusterIPNone && len(svc.Spec.Ports) > 0
}

// serviceVars are one Service's variables: NAME_SERVICE_HOST, _PORT (the
// first port) and _PORT_<PORTNAME>, then the Docker link ones for each
// port; NAME is the Service's name upper-cased with '-' as '_'.
func serviceVars(svc *corev1.Service) []corev1.EnvVar {
	envName := func(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
	prefix := envName(svc.Name)
	ip := svc.Spec.ClusterIP
	out := []corev1.EnvVar{
		{Name: prefix + "_SERVICE_HOST", Value: ip},
		{Name: prefix + "_SERVICE_PORT", Value: strconv.Itoa(int(svc.Spec.Ports[0].Port))},
	}
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			out = append(out, corev1.EnvVar{Name: prefix + "_SERVICE_PORT_" + envName(p.Name), Value: strconv.Itoa(int(p.Port))})
		}
	}
	for i, p := range svc.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))
		if i == 0 {
			out = append(out, corev1.EnvVar{Name: prefix + "_PORT", Value: url})
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
		out = append(out,
			corev1.EnvVar{Name: pp, Value: url},
			corev1.EnvVar{Name: pp + "_PROTO", Value: strings.ToLower(proto)},
			corev1.EnvVar{Name: pp + "_PORT", Value: strconv.Itoa(int(p.Port))},
			corev1.EnvVar{Name: pp + "_ADDR", Value: ip},
		)
	}
	return out
}

// valueFrom resolves one env source; ok is false when an optional
// ConfigMap, Secret or key is missing.
func valueFrom(vf *corev1.EnvVarSource, in containerInput, src *objectCache) (value string, ok bool, err error) {
	switch {
	case vf.FieldRef != nil:
		v, err := fieldRefValue(vf.FieldRef, in.Pod, in.PodIPs, in.HostIPs)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		v, err := resourceFieldValue(vf.ResourceFieldRef, in.Pod, in.Container, in.NodeAllocatable)
		return v, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := src.configMap(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		if v, found := cm.Data[ref.Key]; found {
			return v, true, nil
		}
		if isTrue(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, src.namespace, ref.Name)
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		sec, err := src.secret(ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		if v, found := secretData(sec)[ref.Key]; found {
			return v, true, nil
		}
		if isTrue(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, src.namespace, ref.Name)
	}
	return "", true, nil // an empty source: the kubelet sets the variable to ""
}

func isTrue(b *bool) bool { return b != nil && *b }

// objectCache reads each ConfigMap and Secret once per container, as the
// kubelet does, so one container sees one version of each. Not-found errors
// carry the kubelet's wording (its object managers say "configmap", not
// "configmaps").
type objectCache struct {
	objects    Objects
	namespace  string
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (o *objectCache) configMap(name string) (*corev1.ConfigMap, error) {
	if cm, ok := o.configMaps[name]; ok {
		return cm, nil
	}
	if o.objects == nil {
		return nil, fmt.Errorf("couldn't get configMap %s/%s, no source of objects", o.namespace, name)
	}
	cm, err := o.objects.ConfigMap(o.namespace, name)
	if err == nil && cm == nil {
		err = apierrors.NewNotFound(corev1.Resource("configmap"), name)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(corev1.Resource("configmap"), name)
		}
		return nil, fmt.Errorf("couldn't get configMap %s/%s: %w", o.namespace, name, err)
	}
	if o.configMaps == nil {
		o.configMaps = map[string]*corev1.ConfigMap{}
	}
	o.configMaps[name] = cm
	return cm, nil
}

func (o *objectCache) secret(name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[name]; ok {
		return s, nil
	}
	if o.objects == nil {
		return nil, fmt.Errorf("couldn't get secret %s/%s, no source of objects", o.namespace, name)
	}
	s, err := o.objects.Secret(o.namespace, name)
	if err == nil && s == nil {
		err = apierrors.NewNotFound(corev1.Resource("secret"), name)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(corev1.Resource("secret"), name)
		}
		return nil, fmt.Errorf("couldn't get secret %s/%s: %w", o.namespace, name, err)
	}
	if o.secrets == nil {
		o.secrets = map[string]*corev1.Secret{}
	}
	o.secrets[name] = s
	return s, nil
}

// secretData is a Secret's values as the API server stores them: stringData
// merged over data. Secrets read from files by `peapod up` never went
// through an API server, so stringData may still be there.
func secretData(s *corev1.Secret) map[string]string {
	out := make(map[string]string, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	maps.Copy(out, s.StringData)
	return out
}

// fieldRefValue is the kubelet's podFieldSelectorRuntimeValue: the paths
// the downward API allows in env, with its error messages for the rest.
// The pod and host IPs come from the caller: the first is the primary one.
func fieldRefValue(fs *corev1.ObjectFieldSelector, pod *corev1.Pod, podIPs, hostIPs []string) (string, error) {
	if v := fs.APIVersion; v != "" && v != "v1" {
		return "", fmt.Errorf("unsupported pod version: %s", v)
	}
	path := fs.FieldPath
	if field, _, ok := fieldpath.SplitSubscript(path); ok {
		if field != "metadata.annotations" && field != "metadata.labels" {
			return "", fmt.Errorf("field label does not support subscript: %s", path)
		}
		return fieldpath.Extract(pod, path)
	}
	first := func(ips []string) string {
		if len(ips) == 0 {
			return ""
		}
		return ips[0]
	}
	switch path {
	case "metadata.namespace":
		return namespaceOf(pod.Namespace), nil
	case "metadata.name", "metadata.uid", "metadata.labels", "metadata.annotations":
		return fieldpath.Extract(pod, path)
	case "spec.nodeName", "spec.host": // spec.host: old clients' name for it
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return first(hostIPs), nil
	case "status.hostIPs":
		return strings.Join(hostIPs, ","), nil
	case "status.podIP":
		return first(podIPs), nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	case "spec.restartPolicy", "spec.schedulerName", "status.phase":
		// Field labels the API knows but the kubelet cannot resolve in env:
		// its fieldpath answers "unsupported fieldPath".
		return fieldpath.Extract(pod, path)
	}
	return "", fmt.Errorf("field label not supported: %s", path)
}

// resourceFieldValue is the kubelet's containerResourceRuntimeValue over
// defaultPodLimitsForDownwardAPI: an unset limit reads as the pod-level
// limit, else the node's allocatable; values are divided by the divisor
// (default 1) and rounded up. A named container is looked up among the
// regular containers (limits defaulted), then the init containers (limits
// as written), as in the kubelet.
func resourceFieldValue(fs *corev1.ResourceFieldSelector, pod *corev1.Pod, c *corev1.Container, allocatable corev1.ResourceList) (string, error) {
	limitsFrom := fieldpath.PodLimitsOver(allocatable, pod)
	res := c.Resources
	if name := fs.ContainerName; name != "" {
		named, init := fieldpath.Container(pod, name)
		if named == nil {
			return "", fmt.Errorf("container %s not found", name)
		}
		res = named.Resources
		if init {
			limitsFrom = nil
		}
	}
	return fieldpath.ContainerResource(fs, res, limitsFrom)
}

// nodeAllocatable reads this machine's capacity and subtracts what the
// kubelet reserves by default (no kube/system reservation, the default hard
// eviction thresholds memory.available<100Mi and nodefs.available<10%), so
// unset limits read as they would on a default kubelet. Unlike the rest of
// this file it reads the host; podsDir's filesystem stands for the nodefs.
func nodeAllocatable(podsDir string) corev1.ResourceList {
	out := corev1.ResourceList{
		corev1.ResourceCPU: *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		total := int64(si.Totalram) * int64(si.Unit)
		out[corev1.ResourceMemory] = *resource.NewQuantity(max(total-100<<20, 0), resource.BinarySI)
	}
	var st unix.Statfs_t
	if podsDir != "" && unix.Statfs(podsDir, &st) == nil {
		total := int64(st.Blocks) * st.Bsize
		out[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(total-total/10, resource.BinarySI)
	}
	return out
}
