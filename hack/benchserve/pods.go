package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

type kind string

const (
	plain       kind = "plain"         // one container
	sidecarHTTP kind = "sidecar-http"  // init + native sidecar + main with an httpGet readiness probe
	execProbe   kind = "exec-probe-1s" // one container, exec readiness probe every second
)

// The containers stop at once on SIGTERM: a shell as PID 1 ignores it
// without a trap.
const idleCmd = `[sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]`

func pods(prefix string, n int, k kind) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "apiVersion: v1\nkind: Pod\nmetadata: {name: %s-%d}\nspec:\n  terminationGracePeriodSeconds: 1\n", prefix, i)
		switch k {
		case plain:
			fmt.Fprintf(&sb, "  containers:\n  - {name: main, image: busybox:1.36, command: %s}\n", idleCmd)
		case sidecarHTTP:
			fmt.Fprintf(&sb, `  initContainers:
  - {name: init, image: busybox:1.36, command: [sh, -c, "echo ok > /www/index.html"], volumeMounts: [{name: www, mountPath: /www}]}
  - {name: sidecar, image: busybox:1.36, restartPolicy: Always, command: %s}
  containers:
  - name: main
    image: busybox:1.36
    command: [sh, -c, "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    volumeMounts: [{name: www, mountPath: /www}]
    readinessProbe: {httpGet: {path: /index.html, port: 8080}, periodSeconds: 1}
  volumes:
  - {name: www, emptyDir: {}}
`, idleCmd)
		case execProbe:
			fmt.Fprintf(&sb, `  containers:
  - name: main
    image: busybox:1.36
    command: %s
    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
`, idleCmd)
		}
		sb.WriteString("---\n")
	}
	return sb.String()
}

// ---- readings ----

func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var ticks float64
	for _, i := range []int{11, 12} { // utime, stime (fields 14, 15)
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ticks / 100 // USER_HZ
}

// machineCPU is the machine's busy and total CPU seconds so far, summed
// over its cores, from /proc/stat (idle and iowait are not busy).
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		t, _ := strconv.ParseFloat(v, 64)
		total += t / 100 // USER_HZ
		if i != 3 && i != 4 {
			busy += t / 100
		}
	}
	return busy, total
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}
