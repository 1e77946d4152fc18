package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"peapod/internal/registry"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// newScheme is the server's private scheme: the served groups and the
// meta types (options, Table, Status, WatchEvent). client-go's global
// scheme would register every built-in group for nothing.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{registry.AddToScheme, apidiscoveryv2.AddToScheme, metav1.AddMetaToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	metav1.AddToGroupVersion(s, metav1.SchemeGroupVersion)
	return s, nil
}

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	typ    string
	params map[string]string
}

func parseAccept(h string) []mediaRange {
	var out []mediaRange
	for _, part := range strings.Split(h, ",") {
		typ, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		out = append(out, mediaRange{typ: typ, params: params})
	}
	return out
}

// wantsAs reports whether the client accepts the JSON form of the
// meta.k8s.io/v1 (or other group) kind "as" (Table, APIGroupDiscoveryList...).
func wantsAs(r *http.Request, as, group, version string) bool {
	for _, m := range parseAccept(r.Header.Get("Accept")) {
		if m.params["as"] == as && m.params["g"] == group && m.params["v"] == version &&
			(m.typ == "application/json" || m.typ == "*/*" || m.typ == "application/*") {
			return true
		}
	}
	return false
}

// setKind stamps apiVersion and kind so responses decode on their own.
func (s *Server) setKind(obj runtime.Object) {
	if !obj.GetObjectKind().GroupVersionKind().Empty() {
		return
	}
	if gvks, _, err := s.scheme.ObjectKinds(obj); err == nil {
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, obj any) {
	if o, ok := obj.(runtime.Object); ok {
		s.setKind(o)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		s.writeError(w, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(data, '\n'))
}

// writeError answers with a metav1.Status, as kubectl expects.
func (s *Server) writeError(w http.ResponseWriter, err error) {
	var status metav1.Status
	if se, ok := err.(apierrors.APIStatus); ok {
		status = se.Status()
	} else {
		status = apierrors.NewInternalError(err).Status()
	}
	status.Kind, status.APIVersion = "Status", "v1"
	if status.Code == 0 {
		status.Code = http.StatusInternalServerError
	}
	data, _ := json.Marshal(status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	w.Write(append(data, '\n'))
}

// decodeBody decodes a request body as r's kind: JSON and YAML strictly
// (the strict errors are returned apart, the object is still complete),
// protobuf as sent by client-go's typed clients.
func (s *Server) decodeBody(req *http.Request, body []byte, res *resource) (runtime.Object, error, error) {
	ct := req.Header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mediaType = "application/json"
	}
	info, ok := runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		return nil, nil, unsupportedMediaType(ct)
	}
	dec := info.Serializer
	if info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	obj, gvk, err := dec.Decode(body, &res.gvk, res.New())
	var strictErr error
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		strictErr, err = err, nil
	}
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", res.Kind, res.gvk.Version, res.Kind, err))
	}
	if gvk != nil && *gvk != res.gvk {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %s", res.Kind, gvk.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	return obj, strictErr, nil
}

// fieldValidation applies the fieldValidation query parameter to a strict
// decoding error: Strict fails, Warn (the default) adds Warning headers,
// Ignore drops it.
func fieldValidation(w http.ResponseWriter, req *http.Request, res *resource, strictErr error) error {
	if strictErr == nil {
		return nil
	}
	switch req.URL.Query().Get("fieldValidation") {
	case "Strict":
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", res.Kind, res.gvk.Version, res.Kind, strictErr))
	case "Ignore":
		return nil
	}
	var errs []error
	if se, ok := strictErr.(interface{ Errors() []error }); ok {
		errs = se.Errors()
	} else {
		errs = []error{strictErr}
	}
	for _, e := range errs {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", e.Error()))
	}
	return nil
}

func newCodecs(s *runtime.Scheme) serializer.CodecFactory {
	return serializer.NewCodecFactory(s, serializer.EnableStrict)
}

func unsupportedMediaType(ct string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", ct),
	}}
}
