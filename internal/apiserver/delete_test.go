package apiserver

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"peapod/internal/registry"
)

func TestGCFinalizers(t *testing.T) {
	policy := func(p metav1.DeletionPropagation) *metav1.DeleteOptions {
		return &metav1.DeleteOptions{PropagationPolicy: &p}
	}
	no, yes := false, true
	cases := []struct {
		name            string
		orphanByDefault bool
		terminates      bool
		have            []string
		opts            *metav1.DeleteOptions
		want            []string
		changed         bool
	}{
		{name: "no policy: the garbage collector deletes dependents in the background", opts: &metav1.DeleteOptions{}},
		{name: "a kind that orphans by default gets the orphan finalizer", orphanByDefault: true, opts: &metav1.DeleteOptions{},
			want: []string{"orphan"}, changed: true},
		{name: "an explicit background deletion overrides the kind's default", orphanByDefault: true, opts: policy(metav1.DeletePropagationBackground)},
		{name: "orphan", opts: policy(metav1.DeletePropagationOrphan), want: []string{"orphan"}, changed: true},
		{name: "foreground", opts: policy(metav1.DeletePropagationForeground), want: []string{"foregroundDeletion"}, changed: true},
		{name: "foreground replaces an earlier orphan", have: []string{"orphan"}, opts: policy(metav1.DeletePropagationForeground),
			want: []string{"foregroundDeletion"}, changed: true},
		{name: "a finalizer already there decides when the request does not", have: []string{"foregroundDeletion"}, opts: &metav1.DeleteOptions{},
			want: []string{"foregroundDeletion"}},
		{name: "other finalizers stay", have: []string{"example.com/x"}, opts: policy(metav1.DeletePropagationOrphan),
			want: []string{"example.com/x", "orphan"}, changed: true},
		{name: "orphanDependents=false overrides the kind's default", orphanByDefault: true, opts: orphanDependents(&no, nil)},
		{name: "orphanDependents=true wins over a propagation policy", opts: orphanDependents(&yes, policy(metav1.DeletePropagationForeground).PropagationPolicy),
			want: []string{"orphan"}, changed: true},
		{name: "a kind that terminates itself (namespaces) is left alone", terminates: true, opts: policy(metav1.DeletePropagationForeground)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &registry.Resource{OrphanByDefault: tc.orphanByDefault}
			if tc.terminates {
				r.Terminate = func(runtime.Object) {}
			}
			m := &metav1.ObjectMeta{Finalizers: tc.have}
			got, changed := gcFinalizers(&resource{Resource: r}, m, tc.opts)
			if !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) || changed != tc.changed {
				t.Errorf("got %v (changed %v), want %v (changed %v)", got, changed, tc.want, tc.changed)
			}
		})
	}
}

// orphanDependents is a delete that sets the deprecated field, as old
// clients do.
func orphanDependents(orphan *bool, policy *metav1.DeletionPropagation) *metav1.DeleteOptions {
	//lint:ignore SA1019 the deprecated field is what is tested
	return &metav1.DeleteOptions{OrphanDependents: orphan, PropagationPolicy: policy}
}
