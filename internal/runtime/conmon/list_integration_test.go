//go:build integration

package conmon_test

import (
	"os"
	"path/filepath"
	"testing"
)

// Listing one sandbox's containers reads only theirs: the other sandboxes'
// metadata is not read again (a pod start and a teardown list their own,
// and would otherwise read every container's on the node). Shown with a
// container of another sandbox whose metadata cannot be parsed: only the
// full listing meets it.
func TestIntegration_ListContainersReadsOnlyTheSandboxs(t *testing.T) {
	e := newEnv(t)
	a, b := e.sandbox(t, "a"), e.sandbox(t, "b")
	ida := e.run(t, e.spec(a.ID, "a", "sleep", "100"))
	idb := e.run(t, e.spec(b.ID, "b", "sleep", "100"))
	meta := filepath.Join(e.cfg.Root, idb, "meta.json")
	good, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := e.rt.ListContainers(ctxT(t), a.ID)
	if err != nil || len(list) != 1 || list[0].ID != ida {
		t.Errorf("ListContainers(%s) = %v, %v; want only %s", a.ID, list, err, ida)
	}
	if _, err := e.rt.ListContainers(ctxT(t), ""); err == nil {
		t.Error("the full listing did not read the damaged metadata")
	}
	if err := os.WriteFile(meta, good, 0o600); err != nil {
		t.Fatal(err)
	}
	list, err = e.rt.ListContainers(ctxT(t), b.ID)
	if err != nil || len(list) != 1 || list[0].ID != idb {
		t.Errorf("ListContainers(%s) = %v, %v; want only %s", b.ID, list, err, idb)
	}
}
