package registry

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/core/event"
)

func eventResource() *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "events",
		Kind:         "Event",
		SingularName: "event",
		ShortNames:   []string{"ev"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Event{} },
		NewList:      func() runtime.Object { return &corev1.EventList{} },
		Fields: fielder(true, func(e *corev1.Event, set fields.Set) {
			o := e.InvolvedObject
			set["involvedObject.kind"] = o.Kind
			set["involvedObject.namespace"] = o.Namespace
			set["involvedObject.name"] = o.Name
			set["involvedObject.uid"] = string(o.UID)
			set["involvedObject.apiVersion"] = o.APIVersion
			set["involvedObject.resourceVersion"] = o.ResourceVersion
			set["involvedObject.fieldPath"] = o.FieldPath
			set["reason"] = e.Reason
			set["reportingComponent"] = e.ReportingController
			set["source"] = e.Source.Component
			set["type"] = e.Type
		}),
	}
	// kube-apiserver's event strategy, validation (core/v1's legacy rules)
	// and printer; it stores what the client sent, timestamps included.
	upstream{gvk: corev1.SchemeGroupVersion.WithKind("Event"), newInternal: func() runtime.Object { return &core.Event{} }, main: event.Strategy}.apply(r)
	// The printer's times are the wall clock's; they are made again from
	// the server's, by the printer's rules.
	last, first := -1, -1
	for i, c := range r.Columns {
		switch c.Name {
		case "Last Seen":
			last = i
		case "First Seen":
			first = i
		}
	}
	row := r.Row
	r.Row = func(obj runtime.Object, now time.Time) []any {
		cells := row(obj, now)
		e, ok := obj.(*corev1.Event)
		if !ok || cells == nil || last < 0 || first < 0 || last >= len(cells) || first >= len(cells) {
			return cells
		}
		firstSeen := age(e.FirstTimestamp, now)
		if e.FirstTimestamp.IsZero() {
			firstSeen = microAge(e.EventTime, now)
		}
		lastSeen := age(e.LastTimestamp, now)
		switch {
		case e.Series != nil:
			lastSeen = microAge(e.Series.LastObservedTime, now)
		case e.LastTimestamp.IsZero():
			lastSeen = firstSeen
		}
		cells[first], cells[last] = firstSeen, lastSeen
		return cells
	}
	return r
}

// microAge is a MicroTime's age at now, as the printers show it.
func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return age(metav1.NewTime(t.Time), now)
}
