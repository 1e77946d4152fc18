package why

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func init() { time.Local = time.UTC } // the sentences' clock times

var t0 = time.Date(2026, 12, 6, 12, 1, 5, 0, time.UTC)

func ts(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }

// pod is a scheduled pod of the given init and regular containers.
func pod(init, main []corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"},
		Spec:       corev1.PodSpec{NodeName: "node", RestartPolicy: corev1.RestartPolicyAlways, InitContainers: init, Containers: main},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
}

func ctr(name string, cmd ...string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox:1.36", Command: cmd}
}

func withProbe(c corev1.Container, startup, readiness *corev1.Probe) corev1.Container {
	c.StartupProbe, c.ReadinessProbe = startup, readiness
	return c
}

func sidecarCtr(name string) corev1.Container {
	c := ctr(name, "sleep", "3600")
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func waitingStatus(name, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func running(name string, ready bool) corev1.ContainerStatus {
	started := true
	return corev1.ContainerStatus{Name: name, Ready: ready, Started: &started, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(0)}}}
}

func exited(name string, code int32, reason string) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: ts(0), FinishedAt: ts(time.Second)}
}

func event(container, reason, msg string, count int32) corev1.Event {
	path := ""
	if container != "" {
		path = "spec.containers{" + container + "}"
	}
	return corev1.Event{Reason: reason, Message: msg, Count: count, FirstTimestamp: ts(0), LastTimestamp: ts(time.Minute),
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", FieldPath: path}}
}

func TestExplain(t *testing.T) {
	boolp := func(b bool) *bool { return &b }
	grace := int64(30)
	httpProbe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
	execProbe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/started"}}}}
	waitDB := ctr("wait-db", "sh", "-c", "nc -z db-service 5432")
	waitSvc := ctr("init-myservice", "sh", "-c", "until nslookup myservice; do echo waiting for myservice; sleep 2; done;")
	dbSvc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db-service", Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"}}}

	for _, tc := range []struct {
		name string
		f    func() Facts
		want string
	}{
		{"terminating", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			now := ts(0)
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &grace
			return Facts{Pod: p}
		}, "Pod default/p is terminating (deleted at 12:01:05 with 30 s of grace): its containers are being stopped."},
		{"succeeded", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.Phase = corev1.PodSucceeded
			return Facts{Pod: p}
		}, "Pod default/p has completed: every container exited 0 (phase Succeeded); it waits for nothing."},
		{"failed: activeDeadlineSeconds (DeadlineExceeded)", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
			return Facts{Pod: p}
		}, "Pod default/p has failed: DeadlineExceeded (Pod was active on the node longer than the specified deadline)."},
		{"failed at admission (SysctlForbidden)", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "SysctlForbidden", `forbidden sysctl: "kernel.msgmax" not allowlisted`
			return Facts{Pod: p}
		}, `Pod default/p has failed: SysctlForbidden (forbidden sysctl: "kernel.msgmax" not allowlisted).`},
		{"failed: a container exited under restartPolicy Never", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: exited("app", 137, "OOMKilled")}}}
			return Facts{Pod: p}
		}, "Pod default/p has failed: app exited 137, OOMKilled."},
		{"unschedulable", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Spec.NodeName = ""
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}}
			return Facts{Pod: p}
		}, "Pod default/p is not scheduled: Unschedulable (0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector)."},
		{"not scheduled yet", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Spec.NodeName = ""
			return Facts{Pod: p}
		}, "Pod default/p is not scheduled yet: no node has taken it."},
		{"a missing ConfigMap", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nginx-conf"}}}}}
			return Facts{Pod: p}
		}, "Pod default/p cannot start: ConfigMap nginx-conf not found; volume config cannot mount."},
		{"a missing optional ConfigMap holds nothing", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nginx-conf"}, Optional: boolp(true)}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "ContainerCreating", "")}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app is being created."},
		{"a missing Secret in a projected volume", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "db-pass"}}}}}}}}
			return Facts{Pod: p, ConfigMaps: map[string]bool{}}
		}, "Pod default/p cannot start: Secret db-pass not found; volume creds cannot mount."},
		{"another mount failure, from the node's event", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			return Facts{Pod: p, Events: []corev1.Event{event("", "FailedMount", "MountVolume.SetUp failed: hostPath type check failed: /data is not a directory", 3)}}
		}, "Pod default/p cannot start: MountVolume.SetUp failed: hostPath type check failed: /data is not a directory."},
		{"init container runs, waiting for a Service that does not exist", func() Facts {
			p := pod([]corev1.Container{waitSvc, ctr("init-mydb", "sh", "-c", "until nslookup mydb; do sleep 2; done")}, []corev1.Container{ctr("app")})
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{running("init-myservice", false), waitingStatus("init-mydb", "PodInitializing", "")}
			return Facts{Pod: p, LastLog: map[string]string{"init-myservice": "waiting for myservice"}}
		}, `Pod default/p is initializing: init container init-myservice (1/2) has run since 12:01:05 and has not finished (its last log line: "waiting for myservice"). Service myservice does not exist in namespace default.`},
		{"init container exits 1, its Service has no endpoints", func() Facts {
			p := pod([]corev1.Container{ctr("a", "true"), ctr("b", "true"), waitDB}, []corev1.Container{ctr("app")})
			ok := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: exited("", 0, "Completed")}}
			a, b := ok, ok
			a.Name, b.Name = "a", "b"
			db := waitingStatus("wait-db", "CrashLoopBackOff", "back-off 40s restarting failed container=wait-db pod=p_default(u)")
			db.RestartCount, db.LastTerminationState.Terminated = 3, exited("wait-db", 1, "Error")
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{a, b, db}
			return Facts{Pod: p, Services: map[string]*corev1.Service{"default/db-service": dbSvc}, Pods: []*corev1.Pod{p}}
		}, "Pod default/p is initializing: init container wait-db (3/3) has run 4 times: `nc -z db-service 5432` exits 1; is in back-off 40s restarting after exit 1 (restarted 3 times). Service db-service has no endpoints (no pod matches app=db)."},
		{"init container's Service has pods, none ready", func() Facts {
			p := pod([]corev1.Container{waitDB}, []corev1.Container{ctr("app")})
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{running("wait-db", false)}
			db := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "default", Labels: map[string]string{"app": "db"}}}
			return Facts{Pod: p, Services: map[string]*corev1.Service{"default/db-service": dbSvc}, Pods: []*corev1.Pod{p, db}}
		}, "Pod default/p is initializing: init container wait-db (1/1) has run since 12:01:05 and has not finished. Service db-service has no endpoints (1 pod of app=db, none ready)."},
		{"init container's Service is ready: the command itself waits", func() Facts {
			p := pod([]corev1.Container{waitDB}, []corev1.Container{ctr("app")})
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{running("wait-db", false)}
			return Facts{Pod: p, Services: map[string]*corev1.Service{"default/db-service": dbSvc}, Ready: map[string]int{"default/db-service": 2}}
		}, "Pod default/p is initializing: init container wait-db (1/1) has run since 12:01:05 and has not finished. Service db-service has 2 ready endpoints."},
		{"an outside name in an init container is not a Service", func() Facts {
			p := pod([]corev1.Container{ctr("fetch", "sh", "-c", "until wget -q http://example.com/; do sleep 2; done")}, []corev1.Container{ctr("app")})
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{running("fetch", false)}
			return Facts{Pod: p}
		}, "Pod default/p is initializing: init container fetch (1/1) has run since 12:01:05 and has not finished."},
		{"init container being created", func() Facts {
			p := pod([]corev1.Container{ctr("init", "true")}, []corev1.Container{ctr("app")})
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{waitingStatus("init", "ContainerCreating", "")}
			return Facts{Pod: p}
		}, "Pod default/p is initializing: init container init (1/1) is being created."},
		{"init container image cannot be pulled (ErrImagePull)", func() Facts {
			p := pod([]corev1.Container{ctr("init", "true")}, []corev1.Container{ctr("app")})
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{waitingStatus("init", "ErrImagePull", `pull busybox:1.36: manifest unknown`)}
			return Facts{Pod: p}
		}, "Pod default/p is initializing: init container init (1/1) cannot get its image busybox:1.36: pull busybox:1.36: manifest unknown."},
		{"CrashLoopBackOff after an OOM kill", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			st := waitingStatus("app", "CrashLoopBackOff", "back-off 40s restarting failed container=app pod=p_default(u)")
			st.RestartCount, st.LastTerminationState.Terminated = 3, exited("app", 137, "OOMKilled")
			p.Status.ContainerStatuses = []corev1.ContainerStatus{st}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app is in back-off 40s restarting after exit 137, OOMKilled (restarted 3 times)."},
		{"ImagePullBackOff", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "ImagePullBackOff", `Back-off pulling image "busybox:1.36"`)}
			return Facts{Pod: p}
		}, `Pod default/p is not ready: container app cannot get its image busybox:1.36: Back-off pulling image "busybox:1.36".`},
		{"ErrImageNeverPull", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "ErrImageNeverPull", "")}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app needs image busybox:1.36, which is not on the node, and its pull policy (or the node's --image-pull=never) forbids a pull."},
		{"CreateContainerConfigError", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "CreateContainerConfigError", `configmap "settings" not found`)}
			return Facts{Pod: p}
		}, `Pod default/p is not ready: container app cannot be configured: configmap "settings" not found.`},
		{"CreateContainerError", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "CreateContainerError", "mount /data: permission denied")}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app could not be started (CreateContainerError): mount /data: permission denied."},
		{"RunContainerError", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "RunContainerError", `exec: "nginx": executable file not found in $PATH`)}
			return Facts{Pod: p}
		}, `Pod default/p is not ready: container app could not be started (RunContainerError): exec: "nginx": executable file not found in $PATH.`},
		{"PostStartHookError", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "PostStartHookError", "Exec lifecycle hook ([false]) for Container \"app\" in Pod \"p_default(u)\" failed - error: command 'false' exited with 1: , message: \"\"")}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app was killed because its postStart hook failed: Exec lifecycle hook ([false]) for Container \"app\" in Pod \"p_default(u)\" failed - error: command 'false' exited with 1: , message: \"\"."},
		{"ContainerStatusUnknown", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "ContainerStatusUnknown", "")}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app was in a state the node could not read (its monitor was gone); it is killed and started again."},
		{"PodInitializing", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "PodInitializing", "")}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app waits for the init containers to finish."},
		{"readiness probe fails", func() Facts {
			p := pod(nil, []corev1.Container{withProbe(ctr("web"), nil, httpProbe)})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("web", false)}
			return Facts{Pod: p, Events: []corev1.Event{event("web", "Unhealthy", `Readiness probe failed: Get "http://10.88.0.5:8080/healthz": dial tcp 10.88.0.5:8080: connect: connection refused`, 3)}}
		}, `Pod default/p is not ready: container web fails its readiness probe: HTTP GET :8080/healthz → Get "http://10.88.0.5:8080/healthz": dial tcp 10.88.0.5:8080: connect: connection refused, 3 failures since 12:01:05.`},
		{"readiness probe without a result yet", func() Facts {
			p := pod(nil, []corev1.Container{withProbe(ctr("web"), nil, httpProbe)})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("web", false)}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container web fails its readiness probe: no result yet."},
		{"startup probe not passed, a sidecar's", func() Facts {
			side := sidecarCtr("proxy")
			side.StartupProbe = execProbe
			p := pod([]corev1.Container{side}, []corev1.Container{ctr("app")})
			st := running("proxy", false)
			st.Started = new(bool)
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{st}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "PodInitializing", "")}
			ev := event("proxy", "Unhealthy", "Startup probe failed: cat: can't open '/tmp/started': No such file or directory", 1)
			ev.InvolvedObject.FieldPath = "spec.initContainers{proxy}"
			return Facts{Pod: p, Events: []corev1.Event{ev}}
		}, "Pod default/p is not ready: sidecar proxy has not passed its startup probe: exec `cat /tmp/started` → cat: can't open '/tmp/started': No such file or directory, 1 failure since 12:01:05. container app waits for the init containers to finish."},
		{"a container that exited and is not restarted", func() Facts {
			p := pod(nil, []corev1.Container{ctr("job"), ctr("app")})
			p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "job", State: corev1.ContainerState{Terminated: exited("job", 0, "Completed")}}, running("app", true)}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container job has exited 0 and is not restarted (restartPolicy OnFailure)."},
		{"a container not created yet", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app has not been created yet."},
		{"running, not ready, no probe", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("app", false)}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: container app runs but is not ready yet."},
		{"a readiness gate", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/feature-1"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("app", true)}
			return Facts{Pod: p}
		}, "Pod default/p is not ready: readiness gate example.com/feature-1 is not True."},
		{"ready", func() Facts {
			p := pod(nil, []corev1.Container{ctr("app")})
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("app", true)}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			return Facts{Pod: p}
		}, "Pod default/p is Ready: every container runs and passes its probes; it waits for nothing."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Explain(tc.f()); got != tc.want {
				t.Errorf("\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestServiceRefs(t *testing.T) {
	for _, tc := range []struct {
		cmd  []string
		want []string
	}{
		{[]string{"sh", "-c", "until nslookup myservice; do sleep 2; done"}, []string{"default/myservice"}},
		{[]string{"sh", "-c", "nc -z -w 2 db-service 5432"}, []string{"default/db-service"}},
		{[]string{"sh", "-c", "until nslookup mydb.other.svc.cluster.local; do sleep 2; done"}, []string{"other/mydb"}},
		{[]string{"wget", "-qO-", "http://api.prod:8080/healthz"}, []string{"prod/api"}},
		{[]string{"curl", "-s", "http://10.0.0.1/"}, nil},
		// A candidate; Explain passes over it when namespace com does not exist.
		{[]string{"curl", "https://example.com/"}, []string{"com/example"}},
		{[]string{"ping", "localhost"}, nil},
		{[]string{"sleep", "3600"}, nil},
	} {
		got := ServiceRefs("default", corev1.Container{Command: tc.cmd})
		if len(got) != len(tc.want) || len(got) > 0 && got[0] != tc.want[0] {
			t.Errorf("%q: %v, want %v", tc.cmd, got, tc.want)
		}
	}
}
