package manifest

import (
	"bytes"
	"testing"

	"peapod/internal/registry"
)

// FuzzDecode: no input may panic the decoder, or the defaulting and
// validation every decoded pod goes through next. The seed corpus in
// testdata/fuzz/FuzzDecode holds the examples and seed pods.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, image: busybox}]\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Pod}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var objs Objects
		if err := objs.Decode(bytes.NewReader(data), "fuzz.yaml"); err != nil {
			return
		}
		for _, pod := range objs.Pods {
			registry.DefaultPod(pod)
			_ = registry.ValidatePod(pod)
		}
	})
}
