package apiserver

import (
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// defaultColumns are the API server's for kinds without their own.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

// table renders objects as a meta.k8s.io/v1 Table with the resource's
// columns; each row carries the object as includeObject asks (default
// PartialObjectMetadata, which kubectl reads for -A and --show-labels).
func (s *Server) table(r *http.Request, res *resource, objs []runtime.Object, withColumns bool) (*metav1.Table, error) {
	include := metav1.IncludeMetadata
	switch v := r.URL.Query().Get("includeObject"); v {
	case "", string(metav1.IncludeMetadata):
	case string(metav1.IncludeObject), string(metav1.IncludeNone):
		include = metav1.IncludeObjectPolicy(v)
	default:
		return nil, badRequestf("includeObject: Unsupported value: %q: supported values: \"Metadata\", \"None\", \"Object\"", v)
	}
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}, Rows: []metav1.TableRow{}}
	cols := res.Columns
	if res.Row == nil || len(cols) == 0 {
		cols = defaultColumns
	}
	if withColumns {
		t.ColumnDefinitions = cols
	}
	now := s.cfg.Now()
	for _, obj := range objs {
		var cells []any
		if res.Row != nil && len(res.Columns) > 0 {
			cells = res.Row(obj, now)
		}
		if cells == nil {
			m, err := meta.Accessor(obj)
			if err != nil {
				continue
			}
			cells = []any{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
			if len(cols) != 2 {
				cells = append([]any{m.GetName()}, make([]any, len(cols)-1)...)
			}
		}
		row := metav1.TableRow{Cells: cells}
		switch include {
		case metav1.IncludeMetadata:
			row.Object.Object = partial(obj)
		case metav1.IncludeObject:
			s.setKind(obj)
			row.Object.Object = obj
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}
