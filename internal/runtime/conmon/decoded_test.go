package conmon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A kept file is decoded once while it is unchanged, again once writeJSON
// replaced it or it was forgotten, and not at all once it is gone.
func TestDecodedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.json")
	var c decodedFiles[meta]
	if err := writeJSON(path, meta{ID: "a", ConmonPID: 1}); err != nil {
		t.Fatal(err)
	}
	first, err := c.read(path)
	if err != nil || first.ID != "a" {
		t.Fatalf("first read: %+v %v", first, err)
	}
	if again, _ := c.read(path); again != first {
		t.Error("an unchanged file was decoded again")
	}
	// Same size, new content: the rename gives it a new inode.
	if err := writeJSON(path, meta{ID: "b", ConmonPID: 2}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.read(path); err != nil || got.ID != "b" || got.ConmonPID != 2 {
		t.Errorf("after a rewrite: %+v %v", got, err)
	}
	kept, _ := c.read(path)
	c.forget(path)
	if got, _ := c.read(path); got == kept || got.ID != "b" {
		t.Errorf("after forget: %p %+v, kept %p", got, got, kept)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := c.read(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a removed file: %v", err)
	}
}
