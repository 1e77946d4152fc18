package store

import (
	"bytes"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// decoded remembers, per key, the object an update last wrote, with the
// bytes it was stored as: the next read of that key, the start of the next
// read-modify-write of a pod's status, takes a copy instead of decoding
// the JSON again (the decode was most of a status write's CPU). Byte
// equality with what is stored is the only check, so an entry whose
// transaction failed, or that a later write outdated, is merely unused.
// Objects only ever created (events) are not kept.
type decoded struct {
	mu sync.Mutex
	m  map[string]decodedObject
}

type decodedObject struct {
	data []byte
	obj  runtime.Object // never changed: readers get copies
}

// get returns a copy of the object stored as data under key, if it is the
// one remembered, and the remembered bytes (equal to data, and kept
// unchanged, so they outlive data's transaction).
func (d *decoded) get(key string, data []byte) (runtime.Object, []byte) {
	d.mu.Lock()
	e, ok := d.m[key]
	d.mu.Unlock()
	if !ok || !bytes.Equal(e.data, data) {
		return nil, nil
	}
	return e.obj.DeepCopyObject(), e.data
}

// put remembers obj, stored as data, under key; neither may change after.
func (d *decoded) put(key string, data []byte, obj runtime.Object) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]decodedObject{}
	}
	d.m[key] = decodedObject{data: data, obj: obj}
}

// forget drops what is remembered under key.
func (d *decoded) forget(key string) {
	d.mu.Lock()
	delete(d.m, key)
	d.mu.Unlock()
}
