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
