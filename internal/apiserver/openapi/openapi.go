// Package openapi holds the OpenAPI documents the API server serves,
// made from upstream's generated definitions by `go generate` (package
// build) and embedded gzipped: kubectl explain, kubectl's validation and
// its strategic merge patches read the same schemas as from
// kube-apiserver.
package openapi

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io"
	"io/fs"
	"strings"
)

//go:generate go run ./gen

//go:embed docs
var files embed.FS

// V2 is the gzipped OpenAPI v2 document.
func V2() []byte {
	data, _ := files.ReadFile("docs/v2.json.gz")
	return data
}

// V2Proto is the gzipped OpenAPI v2 document as gnostic's protobuf.
func V2Proto() []byte {
	data, _ := files.ReadFile("docs/v2.pb.gz")
	return data
}

// V3 are the gzipped OpenAPI v3 documents by group-version path
// ("api/v1", "apis/apps/v1").
func V3() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := fs.ReadDir(files, "docs")
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json.gz")
		if !ok || !strings.HasPrefix(name, "v3_") {
			continue
		}
		data, _ := files.ReadFile("docs/" + e.Name())
		out[FromFile(name)] = data
	}
	return out
}

// FileName is the file a group-version path's document is kept in.
func FileName(path string) string { return "v3_" + strings.ReplaceAll(path, "/", "_") }

// FromFile is the group-version path of a document's file name.
func FromFile(name string) string {
	p := strings.TrimPrefix(name, "v3_")
	if rest, ok := strings.CutPrefix(p, "apis_"); ok {
		// apis_<group>_<version>: groups have dots, not underscores.
		i := strings.LastIndex(rest, "_")
		return "apis/" + rest[:i] + "/" + rest[i+1:]
	}
	return strings.Replace(p, "_", "/", 1)
}

// Gunzip is a document uncompressed.
func Gunzip(gz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
