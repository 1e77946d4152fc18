// Package build makes the OpenAPI documents the API server serves, from
// upstream's generated definitions (k8s.io/kubernetes/pkg/generated/openapi)
// and kube-openapi's builders, for the kinds the registry serves. It runs
// at `go generate` time, not in peapod: the generated definitions would add
// every API group's types to the binary and ~100 MB of garbage at the first
// request, for documents that only change with the kinds served. The test
// here keeps the committed documents equal to what it builds.
package build

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	generated "k8s.io/kubernetes/pkg/generated/openapi"

	"peapod/internal/registry"
)

// Docs are the documents: OpenAPI v3 per group-version path ("api/v1",
// "apis/apps/v1") and the one OpenAPI v2 document, each gzipped JSON, and
// the v2 one as protobuf too (gnostic's, which client-go asks for).
type Docs struct {
	V3      map[string][]byte
	V2      []byte
	V2Proto []byte
}

// typeName is the Go name upstream's definitions are keyed by
// ("k8s.io/api/core/v1.Pod").
func typeName(obj any) string {
	t := reflect.TypeOf(obj)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() + "." + t.Name()
}

// Build makes the documents for resources, titled with version.
func Build(resources []*registry.Resource, version string) (*Docs, error) {
	namer := openapi.NewDefinitionNamer(legacyscheme.Scheme)
	byGV := map[string][]*registry.Resource{}
	var all []string
	for _, r := range resources {
		p := "apis/" + r.GroupVersion.Group + "/" + r.GroupVersion.Version
		if r.GroupVersion.Group == "" {
			p = "api/" + r.GroupVersion.Version
		}
		byGV[p] = append(byGV[p], r)
		all = append(all, typeName(r.New()), typeName(r.NewList()))
	}
	// What every group-version's operations return or take.
	common3 := []string{"k8s.io/apimachinery/pkg/apis/meta/v1.Status", "k8s.io/apimachinery/pkg/apis/meta/v1.DeleteOptions", "k8s.io/apimachinery/pkg/apis/meta/v1.WatchEvent"}
	docs := &Docs{V3: map[string][]byte{}}
	for p, rs := range byGV {
		names := append([]string{}, common3...)
		for _, r := range rs {
			names = append(names, typeName(r.New()), typeName(r.NewList()))
		}
		schemas, err := builder3.BuildOpenAPIDefinitionsForResources(&common.OpenAPIV3Config{
			Info:              &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version}},
			GetDefinitions:    generated.GetOpenAPIDefinitions,
			GetDefinitionName: namer.GetDefinitionName,
		}, names...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		doc := &spec3.OpenAPI{
			Version:    "3.0.0",
			Info:       &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version}},
			Paths:      &spec3.Paths{Paths: paths3(p, rs)},
			Components: &spec3.Components{Schemas: schemas},
		}
		if docs.V3[p], err = gzipJSON(doc); err != nil {
			return nil, err
		}
	}
	sw, err := builder.BuildOpenAPIDefinitionsForResources(&common.Config{
		Info:              &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version}},
		GetDefinitions:    generated.GetOpenAPIDefinitions,
		GetDefinitionName: namer.GetDefinitionName,
	}, append(all, common3...)...)
	if err != nil {
		return nil, fmt.Errorf("v2: %w", err)
	}
	sw.Swagger = "2.0"
	sw.Paths = &spec.Paths{Paths: paths2(byGV)}
	if docs.V2, err = gzipJSON(sw); err != nil {
		return nil, err
	}
	data, err := json.Marshal(sw)
	if err != nil {
		return nil, err
	}
	pb, err := openapi_v2.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("v2 protobuf: %w", err)
	}
	if data, err = (proto.MarshalOptions{Deterministic: true}).Marshal(pb); err != nil {
		return nil, err
	}
	if docs.V2Proto, err = gzipBytes(data); err != nil {
		return nil, err
	}
	return docs, nil
}

// pathOf is a kind's item path in group-version path p.
func pathOf(p string, r *registry.Resource) string {
	if r.Namespaced {
		return "/" + p + "/namespaces/{namespace}/" + r.Resource + "/{name}"
	}
	return "/" + p + "/" + r.Resource + "/{name}"
}

// gvkExt is the extension kubectl matches operations by.
func gvkExt(r *registry.Resource) spec.Extensions {
	return spec.Extensions{"x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": map[string]string{
		"group": r.GroupVersion.Group, "version": r.GroupVersion.Version, "kind": r.Kind}}
}

// paths3 are one PATCH operation per kind that declares the
// fieldValidation parameter: kubectl then leaves validation to the
// server's strict decoding.
func paths3(p string, rs []*registry.Resource) map[string]*spec3.Path {
	out := map[string]*spec3.Path{}
	for _, r := range rs {
		param := func(name string) *spec3.Parameter {
			return &spec3.Parameter{ParameterProps: spec3.ParameterProps{Name: name, In: "query", Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}, UniqueItems: true}}}}
		}
		out[pathOf(p, r)] = &spec3.Path{PathProps: spec3.PathProps{Patch: &spec3.Operation{
			OperationProps: spec3.OperationProps{
				OperationId: "patch" + r.Kind,
				Parameters:  []*spec3.Parameter{param("fieldValidation"), param("fieldManager")},
				Responses:   &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: map[int]*spec3.Response{200: {ResponseProps: spec3.ResponseProps{Description: "OK"}}}}},
			},
			VendorExtensible: spec.VendorExtensible{Extensions: gvkExt(r)},
		}}}
	}
	return out
}

// paths2 are the same operations in the v2 document.
func paths2(byGV map[string][]*registry.Resource) map[string]spec.PathItem {
	out := map[string]spec.PathItem{}
	gvs := make([]string, 0, len(byGV))
	for p := range byGV {
		gvs = append(gvs, p)
	}
	sort.Strings(gvs)
	for _, p := range gvs {
		for _, r := range byGV[p] {
			param := func(name string) spec.Parameter {
				return spec.Parameter{ParamProps: spec.ParamProps{Name: name, In: "query"}, SimpleSchema: spec.SimpleSchema{Type: "string"}}
			}
			out[pathOf(p, r)] = spec.PathItem{PathItemProps: spec.PathItemProps{Patch: &spec.Operation{
				OperationProps: spec.OperationProps{
					ID:         "patch" + r.Kind,
					Parameters: []spec.Parameter{param("fieldValidation"), param("fieldManager")},
					Responses:  &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{200: {ResponseProps: spec.ResponseProps{Description: "OK"}}}}},
				},
				VendorExtensible: spec.VendorExtensible{Extensions: gvkExt(r)},
			}}}
		}
	}
	return out
}

// gzipJSON is v as JSON, gzipped without a time stamp (the same bytes
// every build).
func gzipJSON(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return gzipBytes(data)
}

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
