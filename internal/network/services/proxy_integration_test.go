//go:build integration

package services

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"peapod/internal/testenv"
)

// TestProxySync100 applies the rules of 100 NodePort services of two
// endpoints each to a table of its own, twice (the second a full resync
// over the first), and removes it.
func TestProxySync100(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinaries(t, "nft")
	table := fmt.Sprintf("peapod-unit-%d", os.Getpid())
	p, err := New(Config{Table: table, PodCIDR: "10.88.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testenv.NoLeaks(t, testenv.Leaks{NFTables: []string{table}})
	t.Cleanup(func() {
		if err := p.Remove(ctx); err != nil {
			t.Error(err)
		}
	})
	in := manyServices(100)
	for i := range 2 {
		start := time.Now()
		if err := p.Sync(ctx, in.Services, in.Endpoints); err != nil {
			t.Fatal(err)
		}
		t.Logf("sync %d of 100 services: %v", i+1, time.Since(start))
	}
	out, err := exec.Command("nft", "list", "map", "ip", table, "service-ips").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if n := strings.Count(string(out), "goto service-"); n != 100 {
		t.Errorf("%d service-ips elements, want 100", n)
	}
}
