package services

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"
)

// DefaultTable is the nftables table (family ip) peapod owns; tests use
// their own.
const DefaultTable = "peapod"

// Config says where the rules go.
type Config struct {
	Table   string // default DefaultTable
	PodCIDR string
	// Bridge, if set, gets route_localnet, so a NodePort reached on
	// 127.0.0.1 can be forwarded to a pod on it.
	Bridge string
}

// Proxy keeps the table equal to Rules of the current state.
type Proxy struct {
	cfg  Config
	nft  knftables.Interface
	kick chan struct{}
}

// New checks that nft works; it changes nothing yet.
func New(cfg Config) (*Proxy, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	nft, err := knftables.New(knftables.IPv4Family, cfg.Table)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	return newProxy(cfg, nft), nil
}

func newProxy(cfg Config, nft knftables.Interface) *Proxy {
	return &Proxy{cfg: cfg, nft: nft, kick: make(chan struct{}, 1)}
}

// State returns the services and endpoint slices to proxy now.
type State func() ([]*corev1.Service, []*discoveryv1.EndpointSlice)

// Sync replaces the table with the rules for services and slices.
func (p *Proxy) Sync(ctx context.Context, services []*corev1.Service, slices []*discoveryv1.EndpointSlice) error {
	if p.cfg.Bridge != "" {
		// The bridge appears with the first pod; until then no NodePort
		// has anywhere to go anyway.
		f := filepath.Join("/proc/sys/net/ipv4/conf", p.cfg.Bridge, "route_localnet")
		if err := os.WriteFile(f, []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("services: %w", err)
		}
	}
	tx := p.nft.NewTransaction()
	Rules(tx, Input{PodCIDR: p.cfg.PodCIDR, Services: services, Endpoints: slices})
	if err := p.nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("services: sync nftables table %s: %w", p.cfg.Table, err)
	}
	return nil
}

// Kick asks Run for a sync; it never blocks.
func (p *Proxy) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run syncs once at start and then on every Kick until ctx ends, a failed
// sync being retried after a second. onErr sees each failure.
func (p *Proxy) Run(ctx context.Context, state State, onErr func(error)) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-retry.C:
		}
		svcs, slices := state()
		if err := p.Sync(ctx, svcs, slices); err != nil && ctx.Err() == nil {
			onErr(err)
			retry.Reset(time.Second)
		}
	}
}

// Remove deletes the table, and with it every rule; removing a table that
// is not there is fine.
func (p *Proxy) Remove(ctx context.Context) error {
	tx := p.nft.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	if err := p.nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("services: remove nftables table %s: %w", p.cfg.Table, err)
	}
	return nil
}
