package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

type proc struct {
	what           string
	pss, anon, rss int // kB; anon: the anonymous part of pss
}

type memory struct {
	tool       string
	containers int
	procs      []proc
}

// only keeps the processes whose description mentions what.
func (m *memory) only(what string) *memory {
	out := &memory{tool: m.tool, containers: m.containers}
	for _, p := range m.procs {
		if strings.Contains(p.what, what) {
			out.procs = append(out.procs, p)
		}
	}
	return out
}

func (m *memory) pss() (n int) {
	for _, p := range m.procs {
		n += p.pss
	}
	return n
}

func (m *memory) anon() (n int) {
	for _, p := range m.procs {
		n += p.anon
	}
	return n
}

func (m *memory) rss() (n int) {
	for _, p := range m.procs {
		n += p.rss
	}
	return n
}

func readMem(pid int, what string) (proc, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return proc{}, err
	}
	p := proc{what: what}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Pss:":
			p.pss = v
		case "Pss_Anon:":
			p.anon = v
		case "Rss:":
			p.rss = v
		}
	}
	return p, nil
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// peapodMemory reads `peapod up` itself and the conmon processes it started
// (its children: it is their subreaper).
func peapodMemory(pid int) (*memory, error) {
	m := &memory{tool: "peapod", containers: 3}
	self, err := readMem(pid, "peapod up")
	if err != nil {
		return nil, err
	}
	m.procs = append(m.procs, self)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var conmons []proc
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || ppid(child) != pid || comm(child) != "conmon" {
			continue
		}
		p, err := readMem(child, "")
		if err != nil {
			return nil, err
		}
		conmons = append(conmons, p)
	}
	if len(conmons) != m.containers {
		return nil, fmt.Errorf("found %d conmon children of peapod up, want %d", len(conmons), m.containers)
	}
	m.procs = append(m.procs, sum(fmt.Sprintf("%d × conmon", len(conmons)), conmons))
	return m, nil
}

func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold spaces
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func sum(what string, ps []proc) proc {
	t := proc{what: what}
	for _, p := range ps {
		t.pss += p.pss
		t.anon += p.anon
		t.rss += p.rss
	}
	return t
}

// podmanMemory reads the conmon of every container of the pod, the infra
// container's included.
func podmanMemory(s scenario) (*memory, error) {
	out, err := podmanCmd("ps", "--all", "--filter", "pod="+s.pod, "--format", "{{.ID}} {{.IsInfra}}").Output()
	if err != nil {
		return nil, fmt.Errorf("podman ps: %w", err)
	}
	var app, infra []proc
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		o, err := podmanCmd("inspect", "--format", "{{.State.ConmonPid}}", f[0]).Output()
		if err != nil {
			return nil, fmt.Errorf("podman inspect: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(o)))
		if err != nil || comm(pid) != "conmon" {
			return nil, fmt.Errorf("container %s: no conmon process (%q)", f[0], o)
		}
		p, err := readMem(pid, "")
		if err != nil {
			return nil, err
		}
		if f[1] == "true" {
			infra = append(infra, p)
		} else {
			app = append(app, p)
		}
	}
	if len(app) != len(s.running) {
		return nil, fmt.Errorf("found %d containers in pod %s, want %d", len(app), s.pod, len(s.running))
	}
	return &memory{tool: "podman", containers: len(s.running), procs: []proc{
		sum(fmt.Sprintf("%d × conmon", len(app)), app),
		sum(fmt.Sprintf("%d × conmon (infra container)", len(infra)), infra),
	}}, nil
}

// tail keeps the last 8 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = t.buf[len(t.buf)-8<<10:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
