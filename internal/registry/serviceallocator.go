package registry

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/big"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ServiceAllocator assigns Services their cluster IP and node ports. It
// holds no state: what is taken is read from the existing services, so
// the API server calls Allocate inside the same store transaction that
// writes the service (and serialises service writes), and a deleted
// service frees its values by being gone.
type ServiceAllocator struct {
	// CIDR is the service IP range; its first address (.1) is kept for
	// the "kubernetes" service, which must request it.
	CIDR netip.Prefix
	// NodePortBase and NodePortSize are the node port range
	// (30000 and 2768: 30000-32767).
	NodePortBase, NodePortSize int
}

// DefaultServiceAllocator has the kube-apiserver defaults: 10.96.0.0/12
// and ports 30000-32767.
func DefaultServiceAllocator() ServiceAllocator {
	return ServiceAllocator{CIDR: netip.MustParsePrefix("10.96.0.0/12"), NodePortBase: 30000, NodePortSize: 2768}
}

// ParseServiceAllocator takes kube-apiserver's --service-cluster-ip-range
// (an IPv4 CIDR with room for the kubernetes Service and one more) and
// --service-node-port-range ("30000-32767", or "30000+2768": base and size).
func ParseServiceAllocator(cidr, portRange string) (ServiceAllocator, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil || !prefix.Addr().Is4() {
		return ServiceAllocator{}, fmt.Errorf("--service-cluster-ip-range: %q is not an IPv4 CIDR", cidr)
	}
	if prefix.Bits() > 30 {
		return ServiceAllocator{}, fmt.Errorf("--service-cluster-ip-range: %s is too small: it needs the kubernetes Service's address and one more", cidr)
	}
	a := ServiceAllocator{CIDR: prefix.Masked()}
	var base, last int
	if b, n, ok := strings.Cut(portRange, "+"); ok {
		base, err = strconv.Atoi(b)
		if size, err2 := strconv.Atoi(n); err == nil && err2 == nil {
			last = base + size - 1
		} else {
			err = errors.Join(err, err2)
		}
	} else if b, l, ok := strings.Cut(portRange, "-"); ok {
		base, err = strconv.Atoi(b)
		if l, err2 := strconv.Atoi(l); err2 == nil {
			last = l
		} else {
			err = errors.Join(err, err2)
		}
	} else {
		err = errors.New("no - or +")
	}
	if err != nil || base < 1 || last > 65535 || last < base {
		return ServiceAllocator{}, fmt.Errorf("--service-node-port-range: %q is not a port range such as 30000-32767", portRange)
	}
	a.NodePortBase, a.NodePortSize = base, last-base+1
	return a, nil
}

// KubernetesIP is the cluster IP of the default/kubernetes Service: the
// range's first address.
func (a ServiceAllocator) KubernetesIP() netip.Addr { return a.addrAt(1) }

// Allocate fills svc's empty clusterIP (unless headless or ExternalName)
// and its empty nodePorts (NodePort, and LoadBalancer unless
// allocateLoadBalancerNodePorts is false), and checks the values the
// user asked for, given all existing services (svc's own stored version
// among them is ignored, so it keeps its values on update). Call it
// after Default and before Validate. Errors are the API server's:
// Invalid "provided IP is already allocated" / "provided port is already
// allocated" / not in the valid range, and InternalError "range is full".
func (a ServiceAllocator) Allocate(svc *corev1.Service, existing []corev1.Service) error {
	if err := a.checkFamilies(svc); err != nil {
		return err
	}
	usedIPs, usedPorts := map[netip.Addr]bool{}, map[int32]bool{}
	for i := range existing {
		o := &existing[i]
		if o.Namespace == svc.Namespace && o.Name == svc.Name {
			continue
		}
		for _, s := range o.Spec.ClusterIPs {
			if ip, err := netip.ParseAddr(s); err == nil {
				usedIPs[ip] = true
			}
		}
		if ip, err := netip.ParseAddr(o.Spec.ClusterIP); err == nil {
			usedIPs[ip] = true
		}
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 {
				usedPorts[p.NodePort] = true
			}
		}
	}
	seed := fnv.New64a()
	_, _ = seed.Write([]byte(svc.Namespace + "/" + svc.Name))
	hash := seed.Sum64()
	if err := a.allocateIP(svc, usedIPs, hash); err != nil {
		return err
	}
	return a.allocatePorts(svc, usedPorts, hash)
}

// checkFamilies refuses what a single-stack IPv4 cluster cannot give, as
// the service storage's allocator does: another family, or dual-stack
// required.
func (a ServiceAllocator) checkFamilies(svc *corev1.Service) error {
	var errs field.ErrorList
	if p := svc.Spec.IPFamilyPolicy; p != nil && *p == corev1.IPFamilyPolicyRequireDualStack {
		errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), *p, "this cluster is not configured for dual-stack services"))
	}
	for i, f := range svc.Spec.IPFamilies {
		if f != corev1.IPv4Protocol {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilies").Index(i), f, fmt.Sprintf("ipfamily %v is not configured on cluster", f)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
}

func (a ServiceAllocator) allocateIP(svc *corev1.Service, used map[netip.Addr]bool, hash uint64) error {
	s := &svc.Spec
	if s.Type == corev1.ServiceTypeExternalName || s.ClusterIP == corev1.ClusterIPNone {
		return nil
	}
	if s.ClusterIP != "" {
		ip, err := netip.ParseAddr(s.ClusterIP)
		if err != nil {
			return nil // Validate reports it
		}
		msg := ""
		switch {
		case !a.CIDR.Contains(ip) || ip == a.CIDR.Masked().Addr() || ip == a.broadcast():
			msg = fmt.Sprintf("the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, a.CIDR.Masked())
		case used[ip]:
			msg = "provided IP is already allocated"
		default:
			return nil
		}
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "clusterIPs"), s.ClusterIPs, fmt.Sprintf("failed to allocate IP %s: %s", ip, msg))})
	}
	// Addresses at offsets 1 (the kubernetes service) .. size; dynamic
	// picks start in the upper band, as the API server keeps the lower
	// band for static assignments, and probe linearly from a point
	// derived from the name, so allocation is deterministic.
	size := a.ipCount()
	band := min(max(16, size/16), 256, size)
	for _, r := range [][2]int64{{band + 1, size}, {2, band}} {
		lo, hi := r[0], r[1]
		if hi < lo {
			continue
		}
		n := hi - lo + 1
		start := int64(hash % uint64(n))
		for i := int64(0); i < n; i++ {
			ip := a.addrAt(lo + (start+i)%n)
			if !used[ip] {
				s.ClusterIP = ip.String()
				s.ClusterIPs = []string{s.ClusterIP}
				return nil
			}
		}
	}
	return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
}

func (a ServiceAllocator) allocatePorts(svc *corev1.Service, used map[int32]bool, hash uint64) error {
	if !needsNodePorts(svc) {
		return nil
	}
	ports := svc.Spec.Ports
	// User-requested ports first, so a dynamic pick never takes one.
	mine := map[int32]bool{}
	for i, p := range ports {
		if p.NodePort == 0 {
			continue
		}
		msg := ""
		switch {
		case int(p.NodePort) < a.NodePortBase || int(p.NodePort) >= a.NodePortBase+a.NodePortSize:
			msg = fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.NodePortBase, a.NodePortBase+a.NodePortSize-1)
		case used[p.NodePort]:
			msg = "provided port is already allocated"
		}
		if msg != "" {
			return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort, msg)})
		}
		mine[p.NodePort] = true
	}
	size := a.NodePortSize
	band := min(max(16, size/32), 128, size)
	for i := range ports {
		if ports[i].NodePort != 0 {
			continue
		}
		port, ok := int32(0), false
		for _, r := range [][2]int{{band, size - 1}, {0, band - 1}} {
			lo, hi := r[0], r[1]
			n := hi - lo + 1
			if n <= 0 {
				continue
			}
			start := int(hash % uint64(n))
			for j := 0; j < n && !ok; j++ {
				p := int32(a.NodePortBase + lo + (start+j)%n)
				if !used[p] && !mine[p] {
					port, ok = p, true
				}
			}
			if ok {
				break
			}
		}
		if !ok {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: range is full"))
		}
		ports[i].NodePort = port
		mine[port] = true
	}
	return nil
}

// ipCount is the number of usable offsets (network and broadcast
// excluded), capped so huge IPv6 ranges stay cheap.
func (a ServiceAllocator) ipCount() int64 {
	bits := a.CIDR.Addr().BitLen() - a.CIDR.Bits()
	if bits > 20 {
		bits = 20
	}
	return int64(1)<<bits - 2
}

func (a ServiceAllocator) addrAt(offset int64) netip.Addr {
	base := new(big.Int).SetBytes(a.CIDR.Masked().Addr().AsSlice())
	base.Add(base, big.NewInt(offset))
	b := base.FillBytes(make([]byte, a.CIDR.Addr().BitLen()/8))
	ip, _ := netip.AddrFromSlice(b)
	return ip
}

func (a ServiceAllocator) broadcast() netip.Addr {
	bits := a.CIDR.Addr().BitLen() - a.CIDR.Bits()
	last := new(big.Int).SetBytes(a.CIDR.Masked().Addr().AsSlice())
	last.Add(last, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(bits)), big.NewInt(1)))
	ip, _ := netip.AddrFromSlice(last.FillBytes(make([]byte, a.CIDR.Addr().BitLen()/8)))
	return ip
}
