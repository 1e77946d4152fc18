package testenv

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Escape probes: what a process in a pod can reach of the host. Each probe
// prints "probe <name> yes|no" and changes nothing outside the container. The same probes run in a default container, in one that drops
// NET_RAW and asks for the RuntimeDefault seccomp profile, and in a
// privileged pod with the host's PID and network namespaces and the key's
// directory mounted, which shows that each probe can say yes.
// Write access is read from the mount's options, not by writing.
const escapeProbes = `
p() { if eval "$2" >/dev/null 2>&1; then echo "probe $1 yes"; else echo "probe $1 no"; fi; }
p host_pids '[ $(ls -d /proc/[0-9]* | wc -l) -gt 20 ]'
p mount 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m'
p umount 'umount /etc/hostname'
# Whether the mount a path is on is read-write (busybox's test -w says
# yes to root whatever the mount): the last mount at or above it wins.
rw() { awk -v p="$1" '$5 == "/" || $5 == p || index(p, $5 "/") == 1 { m = $6 } END { exit !(m ~ /^rw/) }' /proc/self/mountinfo; }
p proc_sys_writable 'rw /proc/sys/kernel'
p sys_writable 'rw /sys/kernel'
# A masked path (/dev/null over it); /proc/kcore is one, but not every
# kernel has it, /proc/timer_list always has content.
p masked_proc_readable 'head -c 5 /proc/timer_list | grep -q Timer'
p raw_socket 'ping -c1 -W2 127.0.0.1'
p host_network '[ "$(ls /sys/class/net | sort | tr "\n" " ")" != "eth0 lo " ]'
p key_readable 'head -c1 "$KEY"'
p device 'mknod /tmp/kmsg c 1 11 && head -n1 /tmp/kmsg'
p seccomp 'grep -q "^Seccomp:[[:space:]]*2" /proc/self/status'
echo probes done
`

// EscapeWant is what each container of EscapePod must answer per probe.
var EscapeWant = map[string]map[string]bool{
	"default": {"host_pids": false, "mount": false, "umount": false, "proc_sys_writable": false, "sys_writable": false,
		"masked_proc_readable": false, "raw_socket": true, "host_network": false, "key_readable": false, "device": false, "seccomp": false},
	"restricted": {"host_pids": false, "mount": false, "umount": false, "proc_sys_writable": false, "sys_writable": false,
		"masked_proc_readable": false, "raw_socket": false, "host_network": false, "key_readable": false, "device": false, "seccomp": true},
	"privileged": {"host_pids": true, "mount": true, "umount": true, "proc_sys_writable": true, "sys_writable": true,
		"masked_proc_readable": true, "raw_socket": true, "host_network": true, "key_readable": true, "device": true, "seccomp": false},
}

// EscapePods is a manifest of two pods running the probes: escape (the
// default and the restricted container) and escape-privileged. key is a
// host file that must stay out of reach (the API server's key); image is a
// busybox.
func EscapePods(key, image string) string {
	script, _ := json.Marshal(escapeProbes)
	keyJSON, _ := json.Marshal(key)
	dirJSON, _ := json.Marshal(key[:strings.LastIndex(key, "/")+1])
	c := func(name, extra string) string {
		return fmt.Sprintf(`  - name: %s
    image: %s
    command: ["sh", "-c", %s]
    env: [{name: KEY, value: %s}]
%s`, name, image, script, keyJSON, extra)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: escape}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
%s%s---
apiVersion: v1
kind: Pod
metadata: {name: escape-privileged}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  hostPID: true
  hostNetwork: true
  containers:
%s  volumes:
  - name: keys
    hostPath: {path: %s}
`,
		c("default", ""),
		c("restricted", "    securityContext: {capabilities: {drop: [NET_RAW]}, seccompProfile: {type: RuntimeDefault}}\n"),
		c("privileged", "    securityContext: {privileged: true}\n    volumeMounts: [{name: keys, mountPath: "+string(dirJSON)+", readOnly: true}]\n"),
		dirJSON)
}

var probeLine = regexp.MustCompile(`^probe (\w+) (yes|no)$`)

// CheckEscape compares one container's answers with EscapeWant and
// returns what differs: a probe answered otherwise, or not answered.
// output is its log, or peapod up's output, whose lines of this container
// are "[<pod>/]<container> | probe NAME yes|no".
func CheckEscape(container, output string) []string {
	got := map[string]bool{}
	for _, l := range strings.Split(output, "\n") {
		if prefix, rest, ok := strings.Cut(l, " | "); ok {
			if prefix != container && !strings.HasSuffix(prefix, "/"+container) {
				continue
			}
			l = rest
		}
		if m := probeLine.FindStringSubmatch(l); m != nil {
			got[m[1]] = m[2] == "yes"
		}
	}
	var bad []string
	for _, probe := range slices.Sorted(maps.Keys(EscapeWant[container])) {
		w := EscapeWant[container][probe]
		g, ok := got[probe]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: probe %s did not answer", container, probe))
		case g != w:
			bad = append(bad, fmt.Sprintf("%s: probe %s answered %v, want %v", container, probe, g, w))
		}
	}
	return bad
}
