package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// maxJSONPatchOperations bounds a JSON patch, as the API server does.
const maxJSONPatchOperations = 10000

func (s *Server) patch(w http.ResponseWriter, r *http.Request, q *request) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(mediaType)
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	dry, err := dryRun(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	o := writeOptions{manager: fieldManager(r), dryRun: dry}
	if pt == types.ApplyYAMLPatchType {
		s.apply(w, r, q, body, o)
		return
	}
	var warned bool
	out, err := s.updateObject(r.Context(), q, func(cur runtime.Object) (runtime.Object, error) {
		patched, err := applyPatch(pt, cur, body, q.res)
		if err != nil {
			return nil, err
		}
		obj, strictErr, err := s.decodeJSON(patched, q.res)
		if err != nil {
			return nil, err
		}
		if strictErr != nil && !warned {
			// Warnings are added once even if the update is retried.
			warned = true
			if err := fieldValidation(w, r, q.res, strictErr); err != nil {
				return nil, err
			}
		}
		return obj, nil
	}, o)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.respond(w, r, q.res, http.StatusOK, out)
}

// applyPatch applies a JSON, merge or strategic merge patch to cur's JSON.
// It never panics on bad input: errors are BadRequest or Invalid.
func applyPatch(pt types.PatchType, cur runtime.Object, body []byte, res *resource) (out []byte, err error) {
	curJSON, err := json.Marshal(cur)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	defer func() {
		// The patch libraries have panicked on hostile input before.
		if p := recover(); p != nil {
			out, err = nil, apierrors.NewBadRequest(fmt.Sprintf("invalid patch: %v", p))
		}
	}()
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(body)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
		}
		out, err = p.Apply(curJSON)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		out, err = jsonpatch.MergePatch(curJSON, body)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	case types.StrategicMergePatchType:
		schema, err := strategicpatch.NewPatchMetaFromStruct(res.New())
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		var patchMap map[string]any
		if err := json.Unmarshal(body, &patchMap); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		var curMap map[string]any
		if err := json.Unmarshal(curJSON, &curMap); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		m, err := strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta(curMap, patchMap, schema)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return json.Marshal(m)
	}
	return nil, unsupportedMediaType(string(pt))
}

// decodeJSON decodes a patched object strictly.
func (s *Server) decodeJSON(data []byte, res *resource) (runtime.Object, error, error) {
	info, _ := runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	obj, _, err := info.StrictSerializer.Decode(data, &res.gvk, res.New())
	var strictErr error
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		strictErr, err = err, nil
	}
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	return obj, strictErr, nil
}

// apply is server-side apply: the managed-fields merge of the applied
// configuration into the live object (or a new one), with ownership
// conflicts as 409 FieldManagerConflict.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, q *request, body []byte, o writeOptions) {
	if r.URL.Query().Get("fieldManager") == "" {
		s.writeError(w, apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "PatchOptions"}, "", field.ErrorList{field.Required(field.NewPath("fieldManager"), "is required for apply patch")}))
		return
	}
	fm := q.res.fm
	if q.subresource == "status" {
		fm = q.res.statusFM
	}
	if fm == nil {
		s.writeError(w, apierrors.NewMethodNotSupported(q.res.GroupVersionResource().GroupResource(), "apply"))
		return
	}
	force := isTrue(r.URL.Query().Get("force"))
	data, err := yaml.YAMLToJSON(body)
	if err != nil {
		s.writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		s.writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	if u.GroupVersionKind() != q.res.gvk {
		s.writeError(w, badRequestf("the API version in the data (%s) does not match the expected API version (%s)", u.GetAPIVersion(), q.res.gvk.GroupVersion()))
		return
	}
	if u.GetName() != q.name {
		s.writeError(w, badRequestf("the name of the object (%s) does not match the name on the URL (%s)", u.GetName(), q.name))
		return
	}
	if _, strictErr, err := s.decodeJSON(data, q.res); err != nil {
		s.writeError(w, err)
		return
	} else if err := fieldValidation(w, r, q.res, strictErr); err != nil {
		s.writeError(w, err)
		return
	}
	o.managed = true
	out, err := s.updateObject(r.Context(), q, func(cur runtime.Object) (runtime.Object, error) {
		return fm.Apply(cur, u.DeepCopy(), o.manager, force)
	}, o)
	if apierrors.IsNotFound(err) && q.subresource == "" {
		live := q.res.New()
		live.GetObjectKind().SetGroupVersionKind(q.res.gvk)
		obj, aerr := fm.Apply(live, u.DeepCopy(), o.manager, force)
		if aerr != nil {
			s.writeError(w, aerr)
			return
		}
		out, err = s.createObject(r.Context(), q.res, q.namespace, obj, o)
		if err == nil {
			s.respond(w, r, q.res, http.StatusCreated, out)
			return
		}
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.respond(w, r, q.res, http.StatusOK, out)
}
