package build

import (
	"encoding/json"
	"reflect"
	"testing"

	"peapod/internal/apiserver"
	"peapod/internal/apiserver/openapi"
	"peapod/internal/registry"
)

func decode(t *testing.T, gz []byte) any {
	t.Helper()
	data, err := openapi.Gunzip(gz)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The committed documents are what upstream's definitions give for the
// kinds served now: run `go generate ./internal/apiserver/openapi` when
// this fails.
func TestCommittedDocs(t *testing.T) {
	docs, err := Build(registry.Resources(registry.DefaultServiceAllocator(), nil), apiserver.Version.GitVersion)
	if err != nil {
		t.Fatal(err)
	}
	committed := openapi.V3()
	if len(committed) != len(docs.V3) {
		t.Errorf("%d v3 documents committed, %d built", len(committed), len(docs.V3))
	}
	for p, gz := range docs.V3 {
		if c, ok := committed[p]; !ok || !reflect.DeepEqual(decode(t, c), decode(t, gz)) {
			t.Errorf("%s: the committed document is stale (go generate ./internal/apiserver/openapi)", p)
		}
	}
	if !reflect.DeepEqual(decode(t, openapi.V2()), decode(t, docs.V2)) {
		t.Error("v2: the committed document is stale (go generate ./internal/apiserver/openapi)")
	}
	// Every kind has its schema, known by its group-version-kind.
	for _, r := range registry.Resources(registry.DefaultServiceAllocator(), nil) {
		p := "api/" + r.GroupVersion.Version
		if r.GroupVersion.Group != "" {
			p = "apis/" + r.GroupVersion.Group + "/" + r.GroupVersion.Version
		}
		doc := decode(t, committed[p]).(map[string]any)
		found := false
		for _, s := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
			gvks, _ := s.(map[string]any)["x-kubernetes-group-version-kind"].([]any)
			for _, g := range gvks {
				g := g.(map[string]any)
				if g["group"] == r.GroupVersion.Group && g["version"] == r.GroupVersion.Version && g["kind"] == r.Kind {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: no schema of %s", p, r.Kind)
		}
	}
}
