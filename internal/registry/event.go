package registry

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func eventResource() *Resource {
	gk := corev1.SchemeGroupVersion.WithKind("Event").GroupKind()
	return &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "events",
		Kind:         "Event",
		SingularName: "event",
		ShortNames:   []string{"ev"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Event{} },
		NewList:      func() runtime.Object { return &corev1.EventList{} },
		Validate:     validator(gk, ValidateEvent),
		ValidateUpdate: updateValidator(gk, func(e, old *corev1.Event) field.ErrorList {
			return append(validateMetaUpdate(&e.ObjectMeta, &old.ObjectMeta), ValidateEvent(e)...)
		}),
		PrepareForCreate: creator(DefaultEvent),
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
		Columns: []metav1.TableColumnDefinition{
			column("Last Seen", "string", corev1.Event{}.SwaggerDoc()["lastTimestamp"]),
			column("Type", "string", corev1.Event{}.SwaggerDoc()["type"]),
			column("Reason", "string", corev1.Event{}.SwaggerDoc()["reason"]),
			column("Object", "string", corev1.Event{}.SwaggerDoc()["involvedObject"]),
			wideColumn("Subobject", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
			wideColumn("Source", corev1.Event{}.SwaggerDoc()["source"]),
			column("Message", "string", corev1.Event{}.SwaggerDoc()["message"]),
			wideColumn("First Seen", corev1.Event{}.SwaggerDoc()["firstTimestamp"]),
			wideColumn("Count", corev1.Event{}.SwaggerDoc()["count"]),
			{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		},
		Row: rower(EventRow),
	}
}

// DefaultEvent fills, at creation, what a core/v1 event recorder always
// sets and kubectl prints: first/last timestamps (from eventTime, else
// now), count 1, and source and reportingComponent from each other. The
// real API server stores what the client sent; peapod's writers are its
// own, and an event without timestamps would show LAST SEEN <unknown>.
func DefaultEvent(e *corev1.Event, now time.Time) {
	if e.FirstTimestamp.IsZero() && e.EventTime.IsZero() {
		e.FirstTimestamp = metav1.NewTime(now)
	} else if e.FirstTimestamp.IsZero() {
		e.FirstTimestamp = metav1.NewTime(e.EventTime.Time)
	}
	if e.LastTimestamp.IsZero() {
		e.LastTimestamp = e.FirstTimestamp
	}
	if e.Count == 0 {
		e.Count = 1
	}
	if e.Source.Component == "" {
		e.Source.Component = e.ReportingController
	}
	if e.ReportingController == "" {
		e.ReportingController = e.Source.Component
	}
	if e.Source.Host == "" {
		e.Source.Host = e.ReportingInstance
	}
}

// ValidateEvent checks a core/v1 event as the API server does:
// involvedObject.namespace must match for legacy events (no eventTime);
// events with eventTime need reportingComponent, reportingInstance,
// action and reason, within their length limits.
func ValidateEvent(e *corev1.Event) field.ErrorList {
	errs := validateMeta(&e.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain)
	ns := field.NewPath("involvedObject", "namespace")
	if e.EventTime.IsZero() {
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(ns, e.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(ns, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(ns, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		rc := field.NewPath("reportingComponent")
		if e.ReportingController == "" {
			errs = append(errs, field.Required(rc, ""))
		}
		for _, msg := range validation.IsQualifiedName(e.ReportingController) {
			errs = append(errs, field.Invalid(rc, e.ReportingController, msg))
		}
		for _, f := range []struct {
			name  string
			value string
			limit int
		}{{"reportingInstance", e.ReportingInstance, 128}, {"action", e.Action, 128}, {"reason", e.Reason, 128}} {
			switch {
			case f.value == "":
				errs = append(errs, field.Required(field.NewPath(f.name), ""))
			case len(f.value) > f.limit:
				errs = append(errs, field.Invalid(field.NewPath(f.name), "", fmt.Sprintf("can have at most %v characters", f.limit)))
			}
		}
		if len(e.Message) > 1024 {
			errs = append(errs, field.Invalid(field.NewPath("message"), "", "can have at most 1024 characters"))
		}
	}
	return errs
}

// EventRow renders an event as printEvent does with wide output: LAST
// SEEN, TYPE, REASON, OBJECT (kind/name, lower-cased kind), SUBOBJECT,
// SOURCE, MESSAGE, FIRST SEEN, COUNT, NAME.
func EventRow(e *corev1.Event, now time.Time) []any {
	first := age(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = microAge(e.EventTime, now)
	}
	last := age(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = microAge(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	source := firstNonEmpty(e.Source.Component, e.ReportingController)
	if host := firstNonEmpty(e.Source.Host, e.ReportingInstance); host != "" {
		source += ", " + host
	}
	return []any{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source,
		strings.TrimSpace(e.Message), first, int64(count), e.Name}
}

func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return age(metav1.NewTime(t.Time), now)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
