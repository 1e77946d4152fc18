// Command gen writes the OpenAPI documents of the kinds peapod serves
// into ../docs (run by `go generate ./internal/apiserver/openapi`).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"peapod/internal/apiserver"
	"peapod/internal/apiserver/openapi"
	"peapod/internal/apiserver/openapi/build"
	"peapod/internal/registry"
)

func main() {
	docs, err := build.Build(registry.Resources(registry.DefaultServiceAllocator(), nil), apiserver.Version.GitVersion)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	dir := "docs"
	old, _ := filepath.Glob(filepath.Join(dir, "*.gz"))
	for _, f := range old {
		os.Remove(f)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name+".json.gz"), data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
	for p, data := range docs.V3 {
		write(openapi.FileName(p), data)
	}
	write("v2", docs.V2)
	if err := os.WriteFile(filepath.Join(dir, "v2.pb.gz"), docs.V2Proto, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
