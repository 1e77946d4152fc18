package why

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// services explains the Services an init container's command names:
// missing, or without endpoints and why.
func services(f Facts, c corev1.Container) string {
	var out []string
	for _, ref := range ServiceRefs(f.Pod.Namespace, c) {
		svc := f.Services[ref]
		ns, name, _ := strings.Cut(ref, "/")
		switch {
		case ns != f.Pod.Namespace && !f.Namespaces[ns]:
			continue // an outside name
		case svc == nil:
			out = append(out, fmt.Sprintf("Service %s does not exist in namespace %s", name, ns))
		case f.Ready[ref] > 0:
			out = append(out, fmt.Sprintf("Service %s has %s", name, plural(f.Ready[ref], "ready endpoint")))
		case len(svc.Spec.Selector) == 0:
			out = append(out, fmt.Sprintf("Service %s has no endpoints (it has no selector)", name))
		default:
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			matching := 0
			for _, p := range f.Pods {
				if p.Namespace == ns && sel.Matches(labels.Set(p.Labels)) {
					matching++
				}
			}
			if matching == 0 {
				out = append(out, fmt.Sprintf("Service %s has no endpoints (no pod matches %s)", name, sel))
			} else {
				out = append(out, fmt.Sprintf("Service %s has no endpoints (%s of %s, none ready)", name, plural(matching, "pod"), sel))
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " " + strings.Join(out, "; ") + "."
}

// ServiceRefs are the Services ("namespace/name") that c's command names
// as the host of a tool that reaches one (nslookup, nc, wget, curl, ...).
func ServiceRefs(namespace string, c corev1.Container) []string {
	words := strings.FieldsFunc(strings.Join(append(append([]string{}, c.Command...), c.Args...), " "), func(r rune) bool {
		return r == ' ' || r == ';' || r == '&' || r == '|' || r == '\'' || r == '"' || r == '\n' || r == '\t' || r == '(' || r == ')'
	})
	seen := map[string]bool{}
	var refs []string
	for i, w := range words {
		if !tools[w] {
			continue
		}
		for _, arg := range words[i+1:] {
			if strings.HasPrefix(arg, "-") || isNumber(arg) {
				continue
			}
			if ref := serviceRef(namespace, arg); ref != "" && !seen[ref] {
				seen[ref] = true
				refs = append(refs, ref)
			}
			break
		}
	}
	sort.Strings(refs)
	return refs
}

var tools = map[string]bool{"nslookup": true, "nc": true, "wget": true, "curl": true, "ping": true, "host": true, "dig": true, "getent": true, "telnet": true}

// serviceRef turns a host argument (name, name.ns, name.ns.svc[.cluster.local],
// a URL, host:port) into "namespace/name"; "" for an IP or a name that
// cannot be a Service.
func serviceRef(namespace, arg string) string {
	if _, rest, ok := strings.Cut(arg, "://"); ok {
		arg = rest
	}
	arg, _, _ = strings.Cut(arg, "/")
	arg, _, _ = strings.Cut(arg, ":")
	arg = strings.TrimSuffix(arg, ".")
	parts := strings.Split(arg, ".")
	switch {
	case len(parts) == 1:
	case len(parts) == 2 || len(parts) >= 3 && parts[2] == "svc":
		namespace = parts[1]
	default:
		return "" // an outside name or an address
	}
	for _, p := range parts[:min(len(parts), 2)] {
		if p == "" || isNumber(p) || strings.ToLower(p) != p {
			return ""
		}
	}
	if arg == "localhost" {
		return ""
	}
	return namespace + "/" + parts[0]
}

func isNumber(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
