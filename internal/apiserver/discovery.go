package apiserver

import (
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"peapod/internal/apiserver/openapi"
	"peapod/internal/registry"
	"runtime"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// Version is what /version answers. kubectl dispatchers pick their client
// by major/minor, so they must look like the Kubernetes release peapod's
// API follows (k8s.io/api v0.32).
var Version = version.Info{
	Major:        "1",
	Minor:        "32",
	GitVersion:   "v1.32.3-peapod",
	GitTreeState: "clean",
	BuildDate:    "2025-03-11T00:00:00Z",
	GoVersion:    runtime.Version(),
	Compiler:     runtime.Compiler,
	Platform:     runtime.GOOS + "/" + runtime.GOARCH,
}

const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

var verbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// groupVersions lists the served group-versions, core first.
func (s *Server) groupVersions() []metav1.GroupVersion {
	seen := map[metav1.GroupVersion]bool{}
	var out []metav1.GroupVersion
	for _, r := range s.resources {
		gv := metav1.GroupVersion{Group: r.gvk.Group, Version: r.gvk.Version}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Group == "" && out[j].Group != "" })
	return out
}

func (s *Server) resourcesOf(gv metav1.GroupVersion) []*resource {
	var out []*resource
	for _, r := range s.resources {
		if r.gvk.Group == gv.Group && r.gvk.Version == gv.Version {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) aggregated(core bool) *apidiscoveryv2.APIGroupDiscoveryList {
	list := &apidiscoveryv2.APIGroupDiscoveryList{}
	list.APIVersion, list.Kind = "apidiscovery.k8s.io/v2", "APIGroupDiscoveryList"
	for _, gv := range s.groupVersions() {
		if (gv.Group == "") != core {
			continue
		}
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range s.resourcesOf(gv) {
			scope := apidiscoveryv2.ScopeCluster
			if r.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			d := apidiscoveryv2.APIResourceDiscovery{
				Resource:         r.Resource.Resource,
				ResponseKind:     &metav1.GroupVersionKind{Group: r.gvk.Group, Version: r.gvk.Version, Kind: r.Kind},
				Scope:            scope,
				SingularResource: r.SingularName,
				Verbs:            verbs,
				ShortNames:       r.ShortNames,
				Categories:       r.Categories,
			}
			for _, sub := range r.Subresources {
				subVerbs, kind := registry.Subresource(sub)
				if kind.Kind == "" {
					kind = *d.ResponseKind
				}
				d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource: sub, ResponseKind: &kind, Verbs: subVerbs,
				})
			}
			v.Resources = append(v.Resources, d)
		}
		// The group may already be listed with another version.
		found := false
		for i := range list.Items {
			if list.Items[i].Name == gv.Group {
				list.Items[i].Versions = append(list.Items[i].Versions, v)
				found = true
			}
		}
		if !found {
			g := apidiscoveryv2.APIGroupDiscovery{Versions: []apidiscoveryv2.APIVersionDiscovery{v}}
			g.Name = gv.Group
			list.Items = append(list.Items, g)
		}
	}
	return list
}

func (s *Server) writeAggregated(w http.ResponseWriter, core bool) {
	data, _ := json.Marshal(s.aggregated(core))
	w.Header().Set("Content-Type", aggregatedContentType)
	w.Write(data)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if wantsAs(r, "APIGroupDiscoveryList", "apidiscovery.k8s.io", "v2") {
		s.writeAggregated(w, true)
		return
	}
	s.writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
	})
}

func (s *Server) serveAPIs(w http.ResponseWriter, r *http.Request) {
	if wantsAs(r, "APIGroupDiscoveryList", "apidiscovery.k8s.io", "v2") {
		s.writeAggregated(w, false)
		return
	}
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, gv := range s.groupVersions() {
		if gv.Group == "" {
			continue
		}
		gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{gvd}, PreferredVersion: gvd})
	}
	s.writeJSON(w, http.StatusOK, list)
}

func (s *Server) serveResourceList(w http.ResponseWriter, gv metav1.GroupVersion) {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, r := range s.resourcesOf(gv) {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.Resource.Resource, SingularName: r.SingularName, Namespaced: r.Namespaced,
			Kind: r.Kind, Verbs: verbs, ShortNames: r.ShortNames, Categories: r.Categories,
		})
		for _, sub := range r.Subresources {
			subVerbs, kind := registry.Subresource(sub)
			if kind.Kind == "" {
				kind.Kind = r.Kind
			}
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: r.Resource.Resource + "/" + sub, Namespaced: r.Namespaced,
				Group: kind.Group, Version: kind.Version, Kind: kind.Kind, Verbs: subVerbs,
			})
		}
	}
	s.writeJSON(w, http.StatusOK, list)
}

func docHash(doc []byte) string {
	return fmt.Sprintf("%X", sha512.Sum512(doc))
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
	if p == "" {
		paths := map[string]any{}
		for k, doc := range s.openapi {
			paths[k] = map[string]string{"serverRelativeURL": "/openapi/v3/" + k + "?hash=" + docHash(doc)}
		}
		data, _ := json.Marshal(map[string]any{"paths": paths})
		w.Header().Set("Content-Type", "application/json")
		w.Write(data)
		return
	}
	doc, ok := s.openapi[p]
	if !ok {
		s.writeError(w, notFoundPath())
		return
	}
	h := docHash(doc)
	if q := r.URL.Query().Get("hash"); q != "" && q != h {
		http.Redirect(w, r, "/openapi/v3/"+p+"?hash="+h, http.StatusMovedPermanently)
		return
	}
	writeDoc(w, r, h, "application/json", doc)
}

// serveOpenAPIV2 serves the v2 document, as protobuf to the clients that
// ask for it (client-go's discovery) and as JSON otherwise.
func (s *Server) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	doc, ct := openapi.V2(), "application/json"
	if strings.Contains(r.Header.Get("Accept"), "protobuf") {
		doc, ct = openapi.V2Proto(), "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	}
	writeDoc(w, r, docHash(doc), ct, doc)
}

// writeDoc writes a gzipped document, as it is to a client that takes
// gzip and uncompressed otherwise, with its ETag.
func writeDoc(w http.ResponseWriter, r *http.Request, etag, contentType string, gz []byte) {
	w.Header().Set("Etag", `"`+etag+`"`)
	w.Header().Set("Vary", "Accept, Accept-Encoding")
	if r.Header.Get("If-None-Match") == `"`+etag+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", contentType)
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
		return
	}
	data, err := openapi.Gunzip(gz)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(data)
}
