// Package manifest reads Kubernetes objects from YAML or JSON files, the way
// `kubectl apply --validate=strict` does: multi-document files, List kinds,
// and an error naming the field for anything unknown.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// Objects is what a set of manifests declares, in file order.
type Objects struct {
	Pods       []*corev1.Pod
	ConfigMaps []*corev1.ConfigMap
	Secrets    []*corev1.Secret
	Services   []*corev1.Service
}

var scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		panic(err) // static registration of the core types cannot fail
	}
	return s
}

// strict rejects unknown and duplicate fields; YAML is a superset of JSON so
// one serializer reads both.
var strict = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// Decode reads every document of r into objs. source names r in errors.
func (objs *Objects) Decode(r io.Reader, source string) error {
	reader := yaml.NewYAMLReader(bufio.NewReader(r))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || isOnlyComments(doc) {
			continue
		}
		if err := objs.decodeDoc(doc); err != nil {
			return fmt.Errorf("%s: document %d: %w", source, n, err)
		}
	}
}

func (objs *Objects) decodeDoc(doc []byte) error {
	obj, gvk, err := strict.Decode(doc, nil, nil)
	if err != nil {
		if gvk != nil && gvk.Kind != "" && runtime.IsNotRegisteredError(err) {
			return unsupported(*gvk)
		}
		return err
	}
	return objs.add(obj, *gvk)
}

func (objs *Objects) add(obj runtime.Object, gvk schema.GroupVersionKind) error {
	switch o := obj.(type) {
	case *corev1.Pod:
		objs.Pods = append(objs.Pods, o)
	case *corev1.ConfigMap:
		objs.ConfigMaps = append(objs.ConfigMaps, o)
	case *corev1.Secret:
		objs.Secrets = append(objs.Secrets, o)
	case *corev1.Service:
		objs.Services = append(objs.Services, o)
	case *corev1.List:
		for i, item := range o.Items {
			if err := objs.decodeDoc(item.Raw); err != nil {
				return fmt.Errorf("items[%d]: %w", i, err)
			}
		}
	default:
		return unsupported(gvk)
	}
	return nil
}

func unsupported(gvk schema.GroupVersionKind) error {
	return fmt.Errorf("unsupported kind %q (apiVersion %q): peapod runs Pods and reads ConfigMaps, Secrets and Services",
		gvk.Kind, gvk.GroupVersion().String())
}

func isOnlyComments(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}
