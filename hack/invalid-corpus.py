#!/usr/bin/env python3
"""invalid-corpus.py: writes internal/apiserver/testdata/invalid/corpus.jsonl,
the corpus of invalid objects TestInvalidCorpus posts to the API server.
Each line is one case: the request (method, path, body), the status code
and reason kube-apiserver v1.32 answers with, and for 422 the field of a
details.causes entry. A string "@repeat:S:N" stands for S repeated N
times (the objects over the size limits). Cases are mutations of one valid object per kind;
add a case here and run it again (then check the answer it expects
against kube-apiserver's validation code, pkg/apis/*/validation)."""
import copy, json, os, sys

cases = []

def case(name, path, obj, code, field=None, method="POST", raw=None, query="", reason=None):
    c = {"name": name, "method": method, "path": path + query, "code": code}
    if reason is not None:
        c["reason"] = reason
    if field is not None:
        c["field"] = field
    if raw is not None:
        c["raw"] = raw
    elif obj is not None:
        c["object"] = obj
    cases.append(c)

def setp(obj, path, value):
    """path: list of keys/indices; value DELETE removes."""
    cur = obj
    for k in path[:-1]:
        cur = cur[k]
    if value is DELETE:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value

DELETE = object()

def mutate(base, muts):
    o = copy.deepcopy(base)
    for p, v in muts:
        setp(o, p, v)
    return o

NS = "/api/v1/namespaces/corpus"
n = [0]
def name(prefix):
    n[0] += 1
    return "%s-%03d" % (prefix, n[0])

# --- Pod ---------------------------------------------------------------
def pod():
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name("pod")},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}}
C = ["spec", "containers", 0]
def P(desc, muts, field, code=422):
    case("pod: " + desc, NS + "/pods", mutate(pod(), muts), code, field)

P("name with upper case and underscore", [(["metadata", "name"], "Bad_Name")], "metadata.name")
P("name of 254 characters", [(["metadata", "name"], "a" * 254)], "metadata.name")
P("label key with a space", [(["metadata", "labels"], {"bad key": "v"})], "metadata.labels")
P("label value of 64 characters", [(["metadata", "labels"], {"k": "v" * 64})], "metadata.labels")
P("label value with a slash", [(["metadata", "labels"], {"k": "a/b"})], "metadata.labels")
P("annotation key with a space", [(["metadata", "annotations"], {"a b": "v"})], "metadata.annotations")
P("no containers", [(["spec", "containers"], [])], "spec.containers")
P("container without a name", [(C + ["name"], DELETE)], "spec.containers[0].name")
P("container name with upper case", [(C + ["name"], "App")], "spec.containers[0].name")
P("two containers of one name", [(["spec", "containers"], [{"name": "a", "image": "x"}, {"name": "a", "image": "x"}])], "spec.containers[1].name")
P("container without an image", [(C + ["image"], DELETE)], "spec.containers[0].image")
P("image with leading space", [(C + ["image"], " busybox")], "spec.containers[0].image")
P("containerPort 0", [(C + ["ports"], [{"containerPort": 0}])], "spec.containers[0].ports[0].containerPort")
P("containerPort 70000", [(C + ["ports"], [{"containerPort": 70000}])], "spec.containers[0].ports[0].containerPort")
P("port protocol ICMP", [(C + ["ports"], [{"containerPort": 80, "protocol": "ICMP"}])], "spec.containers[0].ports[0].protocol")
P("two ports of one name", [(C + ["ports"], [{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}])], "spec.containers[0].ports[1].name")
P("port name of 16 characters", [(C + ["ports"], [{"name": "a" * 16, "containerPort": 80}])], "spec.containers[0].ports[0].name")
P("port name with upper case", [(C + ["ports"], [{"name": "HTTP", "containerPort": 80}])], "spec.containers[0].ports[0].name")
P("hostPort 70000", [(C + ["ports"], [{"containerPort": 80, "hostPort": 70000}])], "spec.containers[0].ports[0].hostPort")
P("env var without a name", [(C + ["env"], [{"value": "x"}])], "spec.containers[0].env[0].name")
P("env var with value and valueFrom", [(C + ["env"], [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])], "spec.containers[0].env[0].valueFrom")
P("env valueFrom with two sources", [(C + ["env"], [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}, "configMapKeyRef": {"name": "c", "key": "k"}}}])], "spec.containers[0].env[0].valueFrom")
P("env valueFrom with no source", [(C + ["env"], [{"name": "A", "valueFrom": {}}])], "spec.containers[0].env[0].valueFrom")
P("env fieldRef to an unknown field", [(C + ["env"], [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}])], "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")
P("env fieldRef with a bad apiVersion", [(C + ["env"], [{"name": "A", "valueFrom": {"fieldRef": {"apiVersion": "v2", "fieldPath": "metadata.name"}}}])], "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")
P("env resourceFieldRef to an unknown resource", [(C + ["env"], [{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}])], "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource")
P("env configMapKeyRef without a key", [(C + ["env"], [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": ""}}}])], "spec.containers[0].env[0].valueFrom.configMapKeyRef.key")
P("env secretKeyRef with a bad key", [(C + ["env"], [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a b"}}}])], "spec.containers[0].env[0].valueFrom.secretKeyRef.key")
P("envFrom configMapRef without a name", [(C + ["envFrom"], [{"configMapRef": {"name": ""}}])], "spec.containers[0].envFrom[0].configMapRef.name")
P("envFrom with both refs", [(C + ["envFrom"], [{"configMapRef": {"name": "c"}, "secretRef": {"name": "s"}}])], "spec.containers[0].envFrom")
P("mount of a missing volume", [(C + ["volumeMounts"], [{"name": "nope", "mountPath": "/x"}])], "spec.containers[0].volumeMounts[0].name")
VOL = [(["spec", "volumes"], [{"name": "v", "emptyDir": {}}])]
P("mount without a mountPath", VOL + [(C + ["volumeMounts"], [{"name": "v", "mountPath": ""}])], "spec.containers[0].volumeMounts[0].mountPath")
P("subPath with ..", VOL + [(C + ["volumeMounts"], [{"name": "v", "mountPath": "/x", "subPath": "../etc"}])], "spec.containers[0].volumeMounts.subPath")
P("absolute subPath", VOL + [(C + ["volumeMounts"], [{"name": "v", "mountPath": "/x", "subPath": "/etc"}])], "spec.containers[0].volumeMounts.subPath")
P("subPath and subPathExpr", VOL + [(C + ["volumeMounts"], [{"name": "v", "mountPath": "/x", "subPath": "a", "subPathExpr": "$(B)"}])], "spec.containers[0].volumeMounts[0].subPathExpr")
P("two mounts at one path", VOL + [(C + ["volumeMounts"], [{"name": "v", "mountPath": "/x"}, {"name": "v", "mountPath": "/x"}])], "spec.containers[0].volumeMounts[1].mountPath")
P("mountPropagation Bidirectional unprivileged", VOL + [(C + ["volumeMounts"], [{"name": "v", "mountPath": "/x", "mountPropagation": "Bidirectional"}])], "spec.containers[0].volumeMounts.mountPropagation")
P("mountPropagation bogus", VOL + [(C + ["volumeMounts"], [{"name": "v", "mountPath": "/x", "mountPropagation": "Sideways"}])], "spec.containers[0].volumeMounts.mountPropagation")
P("two volumes of one name", [(["spec", "volumes"], [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}])], "spec.volumes[1].name")
P("volume name with upper case", [(["spec", "volumes"], [{"name": "V", "emptyDir": {}}])], "spec.volumes[0].name")
P("volume with two sources", [(["spec", "volumes"], [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/tmp"}}])], "spec.volumes[0].hostPath")
P("hostPath type bogus", [(["spec", "volumes"], [{"name": "v", "hostPath": {"path": "/tmp", "type": "Bogus"}}])], "spec.volumes[0].hostPath.type")
P("hostPath without a path", [(["spec", "volumes"], [{"name": "v", "hostPath": {"path": ""}}])], "spec.volumes[0].hostPath.path")
P("hostPath path with ..", [(["spec", "volumes"], [{"name": "v", "hostPath": {"path": "/tmp/../etc"}}])], "spec.volumes[0].hostPath.path")
P("configMap item path with ..", [(["spec", "volumes"], [{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../x"}]}}])], "spec.volumes[0].configMap.items[0].path")
P("configMap absolute item path", [(["spec", "volumes"], [{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "/x"}]}}])], "spec.volumes[0].configMap.items[0].path")
P("configMap item without a key", [(["spec", "volumes"], [{"name": "v", "configMap": {"name": "c", "items": [{"key": "", "path": "x"}]}}])], "spec.volumes[0].configMap.items[0].key")
P("configMap item mode 01000", [(["spec", "volumes"], [{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "x", "mode": 512}]}}])], "spec.volumes[0].configMap.items[0].mode")
P("configMap defaultMode 01000", [(["spec", "volumes"], [{"name": "v", "configMap": {"name": "c", "defaultMode": 512}}])], "spec.volumes[0].configMap.defaultMode")
P("configMap without a name", [(["spec", "volumes"], [{"name": "v", "configMap": {"name": ""}}])], "spec.volumes[0].configMap.name")
P("secret without a secretName", [(["spec", "volumes"], [{"name": "v", "secret": {}}])], "spec.volumes[0].secret.secretName")
P("secret defaultMode -1", [(["spec", "volumes"], [{"name": "v", "secret": {"secretName": "s", "defaultMode": -1}}])], "spec.volumes[0].secret.defaultMode")
P("downwardAPI item to an unknown field", [(["spec", "volumes"], [{"name": "v", "downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "spec.bogus"}}]}}])], "spec.volumes[0].downwardAPI.fieldRef.fieldPath")
P("downwardAPI item with .. in its path", [(["spec", "volumes"], [{"name": "v", "downwardAPI": {"items": [{"path": "../x", "fieldRef": {"fieldPath": "metadata.name"}}]}}])], "spec.volumes[0].downwardAPI.path")
P("projected token path with ..", [(["spec", "volumes"], [{"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "../t"}}]}}])], "spec.volumes[0].projected.path")
P("projected token expiring in a minute", [(["spec", "volumes"], [{"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 60}}]}}])], "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds")
P("negative cpu request", [(C + ["resources"], {"requests": {"cpu": "-1"}})], "spec.containers[0].resources.requests[cpu]")
P("negative memory limit", [(C + ["resources"], {"limits": {"memory": "-1Mi"}})], "spec.containers[0].resources.limits[memory]")
P("cpu limit below its request", [(C + ["resources"], {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}})], "spec.containers[0].resources.requests")
P("memory limit below its request", [(C + ["resources"], {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}})], "spec.containers[0].resources.requests")
P("unknown resource name", [(C + ["resources"], {"requests": {"bogus": "1"}})], "spec.containers[0].resources.requests[bogus]")
P("hugepages request without a limit", [(C + ["resources"], {"requests": {"hugepages-2Mi": "2Mi"}})], "spec.containers[0].resources.limits")
P("restartPolicy Sometimes", [(["spec", "restartPolicy"], "Sometimes")], "spec.restartPolicy")
P("dnsPolicy bogus", [(["spec", "dnsPolicy"], "Bogus")], "spec.dnsPolicy")
P("dnsPolicy None without dnsConfig", [(["spec", "dnsPolicy"], "None")], "spec.dnsConfig")
P("dnsConfig nameserver not an IP", [(["spec", "dnsConfig"], {"nameservers": ["dns.local"]})], "spec.dnsConfig.nameservers[0]")
P("dnsConfig with four nameservers", [(["spec", "dnsConfig"], {"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"]})], "spec.dnsConfig.nameservers")
P("dnsConfig search domain bogus", [(["spec", "dnsConfig"], {"searches": ["bad_domain!"]})], "spec.dnsConfig.searches[0]")
P("dnsConfig option without a name", [(["spec", "dnsConfig"], {"options": [{"value": "2"}]})], "spec.dnsConfig.options[0]")
P("hostAliases IP bogus", [(["spec", "hostAliases"], [{"ip": "999.1.1.1", "hostnames": ["a"]}])], "spec.hostAliases[0].ip")
P("hostAliases hostname bogus", [(["spec", "hostAliases"], [{"ip": "10.0.0.1", "hostnames": ["Bad_Host"]}])], "spec.hostAliases[0].hostnames[0]")
P("activeDeadlineSeconds 0", [(["spec", "activeDeadlineSeconds"], 0)], "spec.activeDeadlineSeconds")
P("pod runAsUser -1", [(["spec", "securityContext"], {"runAsUser": -1})], "spec.securityContext.runAsUser")
P("pod runAsGroup -1", [(["spec", "securityContext"], {"runAsGroup": -1})], "spec.securityContext.runAsGroup")
P("pod fsGroup -1", [(["spec", "securityContext"], {"fsGroup": -1})], "spec.securityContext.fsGroup")
P("supplementalGroups -1", [(["spec", "securityContext"], {"supplementalGroups": [-1]})], "spec.securityContext.supplementalGroups[0]")
P("container runAsUser -1", [(C + ["securityContext"], {"runAsUser": -1})], "spec.containers[0].securityContext.runAsUser")
P("privileged with allowPrivilegeEscalation false", [(C + ["securityContext"], {"privileged": True, "allowPrivilegeEscalation": False})], "spec.containers[0].securityContext")
P("seccomp Localhost without a profile", [(C + ["securityContext"], {"seccompProfile": {"type": "Localhost"}})], "spec.containers[0].securityContext.seccompProfile.localhostProfile")
P("seccomp type bogus", [(["spec", "securityContext"], {"seccompProfile": {"type": "Bogus"}})], "spec.securityContext.seccompProfile.type")
P("fsGroupChangePolicy bogus", [(["spec", "securityContext"], {"fsGroupChangePolicy": "Sometimes"})], "spec.securityContext.fsGroupChangePolicy")
P("sysctl with a bad name", [(["spec", "securityContext"], {"sysctls": [{"name": "kernel..x", "value": "1"}]})], "spec.securityContext.sysctls[0].name")
P("sysctl twice", [(["spec", "securityContext"], {"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}, {"name": "kernel.shm_rmid_forced", "value": "0"}]})], "spec.securityContext.sysctls[1].name")
P("hostNetwork with a net sysctl", [(["spec", "hostNetwork"], True), (["spec", "securityContext"], {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}]})], "spec.securityContext.sysctls[0].name")
P("toleration operator bogus", [(["spec", "tolerations"], [{"key": "k", "operator": "Maybe"}])], "spec.tolerations[0].operator")
P("toleration Exists with a value", [(["spec", "tolerations"], [{"key": "k", "operator": "Exists", "value": "v"}])], "spec.tolerations[0].operator")
P("toleration effect bogus", [(["spec", "tolerations"], [{"key": "k", "operator": "Exists", "effect": "Sometimes"}])], "spec.tolerations[0].effect")
P("tolerationSeconds without NoExecute", [(["spec", "tolerations"], [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}])], "spec.tolerations[0].effect")
P("toleration key bogus", [(["spec", "tolerations"], [{"key": "bad key", "operator": "Exists"}])], "spec.tolerations[0].key")
P("nodeSelector key bogus", [(["spec", "nodeSelector"], {"bad key": "v"})], "spec.nodeSelector")
NA = ["spec", "affinity"]
P("node affinity operator bogus", [(NA, {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Near", "values": ["a"]}]}]}}})],
  "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator")
P("node affinity In without values", [(NA, {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In"}]}]}}})],
  "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values")
P("node affinity without terms", [(NA, {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}})],
  "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")
P("preferred node affinity weight 0", [(NA, {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "preference": {"matchExpressions": [{"key": "k", "operator": "Exists"}]}}]}})],
  "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight")
P("pod anti-affinity without a topologyKey", [(NA, {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": ""}]}})],
  "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")
P("pod affinity selector operator bogus", [(NA, {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}, "topologyKey": "kubernetes.io/hostname"}]}})],
  "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator")
P("topology spread maxSkew 0", [(["spec", "topologySpreadConstraints"], [{"maxSkew": 0, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule"}])], "spec.topologySpreadConstraints[0].maxSkew")
P("topology spread whenUnsatisfiable bogus", [(["spec", "topologySpreadConstraints"], [{"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "Shrug"}])], "spec.topologySpreadConstraints[0].whenUnsatisfiable")
P("topology spread without a topologyKey", [(["spec", "topologySpreadConstraints"], [{"maxSkew": 1, "topologyKey": "", "whenUnsatisfiable": "DoNotSchedule"}])], "spec.topologySpreadConstraints[0].topologyKey")
P("liveness probe without a handler", [(C + ["livenessProbe"], {"periodSeconds": 5})], "spec.containers[0].livenessProbe")
P("probe with two handlers", [(C + ["livenessProbe"], {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}})], "spec.containers[0].livenessProbe.tcpSocket")
P("probe periodSeconds -1", [(C + ["livenessProbe"], {"exec": {"command": ["true"]}, "periodSeconds": -1})], "spec.containers[0].livenessProbe.periodSeconds")
P("probe timeoutSeconds -1", [(C + ["readinessProbe"], {"exec": {"command": ["true"]}, "timeoutSeconds": -1})], "spec.containers[0].readinessProbe.timeoutSeconds")
P("liveness successThreshold 2", [(C + ["livenessProbe"], {"exec": {"command": ["true"]}, "successThreshold": 2})], "spec.containers[0].livenessProbe.successThreshold")
P("startup successThreshold 2", [(C + ["startupProbe"], {"exec": {"command": ["true"]}, "successThreshold": 2})], "spec.containers[0].startupProbe.successThreshold")
P("httpGet port 0", [(C + ["livenessProbe"], {"httpGet": {"port": 0}})], "spec.containers[0].livenessProbe.httpGet.port")
P("httpGet port name bogus", [(C + ["livenessProbe"], {"httpGet": {"port": "Bad_Port"}})], "spec.containers[0].livenessProbe.httpGet.port")
P("httpGet scheme bogus", [(C + ["livenessProbe"], {"httpGet": {"port": 80, "scheme": "FTP"}})], "spec.containers[0].livenessProbe.httpGet.scheme")
P("httpGet header name bogus", [(C + ["livenessProbe"], {"httpGet": {"port": 80, "httpHeaders": [{"name": "bad header", "value": "v"}]}})], "spec.containers[0].livenessProbe.httpGet.httpHeaders")
P("exec probe without a command", [(C + ["livenessProbe"], {"exec": {}})], "spec.containers[0].livenessProbe.exec.command")
P("grpc probe port 0", [(C + ["livenessProbe"], {"grpc": {"port": 0}})], "spec.containers[0].livenessProbe.grpc.port")
P("terminationGracePeriodSeconds on a readiness probe", [(C + ["readinessProbe"], {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 5})], "spec.containers[0].readinessProbe.terminationGracePeriodSeconds")
P("preStop without a handler", [(C + ["lifecycle"], {"preStop": {}})], "spec.containers[0].lifecycle.preStop")
P("postStart sleep of -1 seconds", [(C + ["lifecycle"], {"postStart": {"sleep": {"seconds": -1}}})], "spec.containers[0].lifecycle.postStart.sleep")
P("imagePullPolicy bogus", [(C + ["imagePullPolicy"], "Sometimes")], "spec.containers[0].imagePullPolicy")
P("terminationMessagePolicy bogus", [(C + ["terminationMessagePolicy"], "Shout")], "spec.containers[0].terminationMessagePolicy")
P("init container restartPolicy Never", [(["spec", "initContainers"], [{"name": "init", "image": "x", "restartPolicy": "Never"}])], "spec.initContainers[0].restartPolicy")
P("regular container restartPolicy Always", [(C + ["restartPolicy"], "Always")], "spec.containers[0].restartPolicy")
P("init container with a readiness probe", [(["spec", "initContainers"], [{"name": "init", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}}}])], "spec.initContainers[0].readinessProbe")
P("init container with a lifecycle", [(["spec", "initContainers"], [{"name": "init", "image": "x", "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}])], "spec.initContainers[0].lifecycle")
P("init container named as a container", [(["spec", "initContainers"], [{"name": "app", "image": "x"}])], "spec.initContainers[0].name")
P("init container without an image", [(["spec", "initContainers"], [{"name": "init"}])], "spec.initContainers[0].image")
P("sidecar with startup successThreshold 2", [(["spec", "initContainers"], [{"name": "side", "image": "x", "restartPolicy": "Always", "startupProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}}])], "spec.initContainers[0].startupProbe.successThreshold")
P("hostNetwork with hostPort unlike containerPort", [(["spec", "hostNetwork"], True), (C + ["ports"], [{"containerPort": 80, "hostPort": 8080}])], "spec.containers[0].ports[0].hostPort")
P("ephemeral containers on create", [(["spec", "ephemeralContainers"], [{"name": "debug", "image": "x"}])], "spec.ephemeralContainers")
P("schedulingGates name bogus", [(["spec", "schedulingGates"], [{"name": "bad gate!"}])], "spec.schedulingGates[0]")
P("schedulingGates twice", [(["spec", "schedulingGates"], [{"name": "a"}, {"name": "a"}])], "spec.schedulingGates[1]")
P("hostname bogus", [(["spec", "hostname"], "Bad_Host")], "spec.hostname")
P("subdomain bogus", [(["spec", "subdomain"], "bad.sub_domain")], "spec.subdomain")
# Admission comes before validation: the account is looked up first.
P("serviceAccountName bogus", [(["spec", "serviceAccountName"], "Bad_SA")], None, 403)
P("os name bogus", [(["spec", "os"], {"name": "plan9"})], "spec.os")
P("windows os with a linux securityContext", [(["spec", "os"], {"name": "windows"}), (["spec", "securityContext"], {"seLinuxOptions": {"level": "s0"}})], "spec.securityContext.seLinuxOptions")
P("priority without a class", [(["spec", "priority"], 10)], None, 403)
P("readinessGates conditionType bogus", [(["spec", "readinessGates"], [{"conditionType": "bad type!"}])], "spec.readinessGates[0].conditionType")
P("enableServiceLinks and a bad overhead", [(["spec", "overhead"], {"cpu": "-1"})], "spec.overhead.limits[cpu]")
P("workingDir and stdinOnce without stdin", [(C + ["stdinOnce"], True)], None, 201)  # stdinOnce alone is allowed
cases.pop()  # (kept out: valid)
P("generateName with an underscore", [(["metadata", "name"], DELETE), (["metadata", "generateName"], "bad_")], "metadata.generateName")
P("neither name nor generateName", [(["metadata", "name"], DELETE)], "metadata.name")
P("ownerReference without a uid", [(["metadata", "ownerReferences"], [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": ""}])], "metadata.ownerReferences.uid")
P("finalizer name bogus", [(["metadata", "finalizers"], ["bad finalizer"])], "metadata.finalizers[0]")

# Requests the decoder refuses: 400.
def B(desc, raw=None, obj=None, query="", path=NS + "/pods"):
    case(desc, path, obj, 400, raw=raw, query=query)
B("pod: malformed JSON", raw='{"apiVersion": "v1", "kind": "Pod", ')
B("pod: a ConfigMap posted to pods", obj={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})
B("pod: apiVersion v2", obj={"apiVersion": "v2", "kind": "Pod", "metadata": {"name": "p"}})
B("pod: containers as a string", obj={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": "app"}})
B("pod: containerPort as a string", obj=mutate(pod(), [(C + ["ports"], [{"containerPort": "eighty"}])]))
B("pod: cpu request not a quantity", obj=mutate(pod(), [(C + ["resources"], {"requests": {"cpu": "lots"}})]))
B("pod: unknown field, fieldValidation=Strict", obj=mutate(pod(), [(C + ["bogus"], 1)]), query="?fieldValidation=Strict")
B("pod: duplicate field, fieldValidation=Strict", raw='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dup","name":"dup2"},"spec":{"containers":[{"name":"a","image":"x"}]}}', query="?fieldValidation=Strict")
case("pod: fieldValidation=Bogus", NS + "/pods", pod(), 422, "fieldValidation", query="?fieldValidation=Bogus")
case("pod: dryRun=Sometimes", NS + "/pods", pod(), 422, "dryRun", query="?dryRun=Sometimes")
B("pod: namespace in body unlike the URL", obj=mutate(pod(), [(["metadata", "namespace"], "other")]))
B("pod: metadata as a list", raw='{"apiVersion":"v1","kind":"Pod","metadata":[]}')
B("pod: restartPolicy as a number", obj=mutate(pod(), [(["spec", "restartPolicy"], 1)]))
B("pod: labels as a list", obj=mutate(pod(), [(["metadata", "labels"], ["a"])]))

# --- ConfigMap, Secret -----------------------------------------------------
def cm():
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name("cm")}, "data": {"k": "v"}}
def CM(desc, muts, field, code=422):
    case("configmap: " + desc, NS + "/configmaps", mutate(cm(), muts), code, field)
CM("name with upper case", [(["metadata", "name"], "Config")], "metadata.name")
CM("key with a space", [(["data"], {"a b": "v"})], "data[a b]")
CM("key ..", [(["data"], {"..": "v"})], "data[..]")
CM("key of 254 characters", [(["data"], {"k" * 254: "v"})], "data[" + "k" * 254 + "]")
CM("one key in data and binaryData", [(["binaryData"], {"k": "dg=="})], "data[k]")
CM("binaryData key with a slash", [(["binaryData"], {"a/b": "dg=="})], "binaryData[a/b]")
CM("over 1 MiB of data", [(["data"], {"big": "@repeat:x:1048577"})], "[]")
CM("label key bogus", [(["metadata", "labels"], {"-bad": "v"})], "metadata.labels")
case("configmap: binaryData not base64", NS + "/configmaps", mutate(cm(), [(["binaryData"], {"b": "!!!"})]), 400)

def secret(t=None):
    s = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name("secret")}, "data": {"k": "dg=="}}
    if t:
        s["type"] = t
        s["data"] = {}
    return s
def S(desc, obj, field, code=422):
    case("secret: " + desc, NS + "/secrets", obj, code, field)
S("name with upper case", mutate(secret(), [(["metadata", "name"], "Secret")]), "metadata.name")
S("key with a space", mutate(secret(), [(["data"], {"a b": "dg=="})]), "data[a b]")
S("key with a slash", mutate(secret(), [(["stringData"], {"a/b": "v"})]), "data[a/b]")
S("tls without tls.crt", secret("kubernetes.io/tls"), "data[tls.crt]")
S("tls without tls.key", mutate(secret("kubernetes.io/tls"), [(["data"], {"tls.crt": "dg=="})]), "data[tls.key]")
S("dockerconfigjson without its key", secret("kubernetes.io/dockerconfigjson"), "data[.dockerconfigjson]")
S("dockerconfigjson that is not JSON", mutate(secret("kubernetes.io/dockerconfigjson"), [(["data"], {".dockerconfigjson": "bm90IGpzb24="})]), "data[.dockerconfigjson]")
S("dockercfg without its key", secret("kubernetes.io/dockercfg"), "data[.dockercfg]")
S("basic-auth with neither username nor password", secret("kubernetes.io/basic-auth"), "data[username]")
S("ssh-auth without a key", secret("kubernetes.io/ssh-auth"), "data[ssh-privatekey]")
S("service-account-token without the account annotation", secret("kubernetes.io/service-account-token"), "metadata.annotations[kubernetes.io/service-account.name]")
S("over 1 MiB of data", mutate(secret(), [(["stringData"], {"big": "@repeat:x:1048577"})]), "data")
case("secret: data not base64", NS + "/secrets", mutate(secret(), [(["data"], {"k": "not base64!"})]), 400)

# --- Service -----------------------------------------------------------
def svc():
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name("svc")},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
SP = ["spec", "ports", 0]
def SV(desc, muts, field, code=422):
    case("service: " + desc, NS + "/services", mutate(svc(), muts), code, field)
SV("name with upper case", [(["metadata", "name"], "Web")], "metadata.name")
SV("name starting with a digit", [(["metadata", "name"], "1web")], "metadata.name")
SV("no ports", [(["spec", "ports"], [])], "spec.ports")
SV("port 0", [(SP + ["port"], 0)], "spec.ports[0].port")
SV("port 70000", [(SP + ["port"], 70000)], "spec.ports[0].port")
SV("targetPort name bogus", [(SP + ["targetPort"], "Bad_Name")], "spec.ports[0].targetPort")
SV("protocol ICMP", [(SP + ["protocol"], "ICMP")], "spec.ports[0].protocol")
SV("two ports without names", [(["spec", "ports"], [{"port": 80}, {"port": 81}])], "spec.ports[0].name")
SV("two ports of one name", [(["spec", "ports"], [{"name": "a", "port": 80}, {"name": "a", "port": 81}])], "spec.ports[1].name")
SV("two ports of one port and protocol", [(["spec", "ports"], [{"name": "a", "port": 80}, {"name": "b", "port": 80}])], "spec.ports[1]")
SV("port name with upper case", [(SP + ["name"], "HTTP")], "spec.ports[0].name")
SV("type bogus", [(["spec", "type"], "Magic")], "spec.type")
SV("clusterIP bogus", [(["spec", "clusterIP"], "1.2.3")], "spec.clusterIPs[0]")
SV("clusterIP out of range", [(["spec", "clusterIP"], "192.0.2.10")], "spec.clusterIPs")
SV("sessionAffinity bogus", [(["spec", "sessionAffinity"], "Sticky")], "spec.sessionAffinity")
SV("ClientIP timeout 0", [(["spec", "sessionAffinity"], "ClientIP"), (["spec", "sessionAffinityConfig"], {"clientIP": {"timeoutSeconds": 0}})], "spec.sessionAffinityConfig.clientIP.timeoutSeconds")
SV("ExternalName without externalName", [(["spec", "type"], "ExternalName"), (["spec", "selector"], DELETE)], "spec.externalName")
SV("externalName not a DNS name", [(["spec", "type"], "ExternalName"), (["spec", "externalName"], "bad_name!")], "spec.externalName")
SV("nodePort on a ClusterIP service", [(SP + ["nodePort"], 30001)], "spec.ports[0].nodePort")
SV("nodePort out of range", [(["spec", "type"], "NodePort"), (SP + ["nodePort"], 99999)], "spec.ports[0].nodePort")
SV("ipFamilies bogus", [(["spec", "ipFamilies"], ["IPv5"])], "spec.ipFamilies[0]")
SV("ipFamilyPolicy bogus", [(["spec", "ipFamilyPolicy"], "Sometimes")], "spec.ipFamilyPolicy")
SV("two ipFamilies under SingleStack", [(["spec", "ipFamilyPolicy"], "SingleStack"), (["spec", "ipFamilies"], ["IPv4", "IPv6"])], "spec.ipFamilies[1]")
SV("RequireDualStack on a single-stack cluster", [(["spec", "ipFamilyPolicy"], "RequireDualStack")], "spec.ipFamilyPolicy")
SV("externalTrafficPolicy on ClusterIP", [(["spec", "externalTrafficPolicy"], "Local")], "spec.externalTrafficPolicy")
SV("internalTrafficPolicy bogus", [(["spec", "internalTrafficPolicy"], "Nearby")], "spec.internalTrafficPolicy")
SV("selector key bogus", [(["spec", "selector"], {"bad key": "v"})], "spec.selector")
SV("loadBalancerSourceRanges on ClusterIP", [(["spec", "loadBalancerSourceRanges"], ["10.0.0.0/8"])], "spec.LoadBalancerSourceRanges")
SV("loadBalancerSourceRanges not a CIDR", [(["spec", "type"], "LoadBalancer"), (["spec", "loadBalancerSourceRanges"], ["10.0.0.0/33"])], "spec.LoadBalancerSourceRanges[0]")
SV("externalIPs bogus", [(["spec", "externalIPs"], ["not-an-ip"])], "spec.externalIPs[0]")
SV("healthCheckNodePort on ClusterIP", [(["spec", "healthCheckNodePort"], 30002)], "spec.healthCheckNodePort")
SV("appProtocol bogus", [(SP + ["appProtocol"], "bad proto!")], "spec.ports[0].appProtocol")
SV("headless service with a nodePort type", [(["spec", "type"], "NodePort"), (["spec", "clusterIP"], "None")], "spec.clusterIPs[0]")

# --- Workloads -----------------------------------------------------------
def template():
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}}
def deploy():
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name("deploy")},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template()}}
APPS = "/apis/apps/v1/namespaces/corpus"
def D(desc, muts, field, code=422):
    case("deployment: " + desc, APPS + "/deployments", mutate(deploy(), muts), code, field)
D("name with upper case", [(["metadata", "name"], "Web")], "metadata.name")
D("no selector", [(["spec", "selector"], DELETE)], "spec.selector")
D("empty selector", [(["spec", "selector"], {})], "spec.selector")
D("selector unlike the template's labels", [(["spec", "selector"], {"matchLabels": {"app": "db"}})], "spec.template.metadata.labels")
D("replicas -1", [(["spec", "replicas"], -1)], "spec.replicas")
D("strategy type bogus", [(["spec", "strategy"], {"type": "Sudden"})], "spec.strategy")
D("maxUnavailable and maxSurge both 0", [(["spec", "strategy"], {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}})], "spec.strategy.rollingUpdate.maxUnavailable")
D("maxUnavailable 150%", [(["spec", "strategy"], {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%"}})], "spec.strategy.rollingUpdate.maxUnavailable")
D("rollingUpdate with Recreate", [(["spec", "strategy"], {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}})], "spec.strategy.rollingUpdate")
D("template restartPolicy Never", [(["spec", "template", "spec", "restartPolicy"], "Never")], "spec.template.spec.restartPolicy")
D("template container without an image", [(["spec", "template", "spec", "containers", 0, "image"], DELETE)], "spec.template.spec.containers[0].image")
D("template without containers", [(["spec", "template", "spec", "containers"], [])], "spec.template.spec.containers")
D("minReadySeconds -1", [(["spec", "minReadySeconds"], -1)], "spec.minReadySeconds")
D("revisionHistoryLimit -1", [(["spec", "revisionHistoryLimit"], -1)], "spec.revisionHistoryLimit")
D("progressDeadlineSeconds not above minReadySeconds", [(["spec", "minReadySeconds"], 10), (["spec", "progressDeadlineSeconds"], 10)], "spec.progressDeadlineSeconds")
D("selector operator bogus", [(["spec", "selector"], {"matchExpressions": [{"key": "app", "operator": "Near"}]})], "spec.selector.matchExpressions[0].operator")
D("template activeDeadlineSeconds", [(["spec", "template", "spec", "activeDeadlineSeconds"], 10)], "spec.template.spec.activeDeadlineSeconds")

def rs():
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name("rs")},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template()}}
def R(desc, muts, field, code=422):
    case("replicaset: " + desc, APPS + "/replicasets", mutate(rs(), muts), code, field)
R("name with upper case", [(["metadata", "name"], "Web")], "metadata.name")
R("no selector", [(["spec", "selector"], DELETE)], "spec.selector")
R("selector unlike the template's labels", [(["spec", "selector"], {"matchLabels": {"app": "db"}})], "spec.template.metadata.labels")
R("replicas -1", [(["spec", "replicas"], -1)], "spec.replicas")
R("minReadySeconds -1", [(["spec", "minReadySeconds"], -1)], "spec.minReadySeconds")
R("template restartPolicy OnFailure", [(["spec", "template", "spec", "restartPolicy"], "OnFailure")], "spec.template.spec.restartPolicy")
R("template container name bogus", [(["spec", "template", "spec", "containers", 0, "name"], "App")], "spec.template.spec.containers[0].name")

def rc():
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name("rc")},
            "spec": {"replicas": 1, "selector": {"app": "web"}, "template": template()}}
def RC(desc, muts, field, code=422):
    case("replicationcontroller: " + desc, NS + "/replicationcontrollers", mutate(rc(), muts), code, field)
RC("name with upper case", [(["metadata", "name"], "Web")], "metadata.name")
RC("selector unlike the template's labels", [(["spec", "selector"], {"app": "db"})], "spec.template.metadata.labels")
RC("replicas -1", [(["spec", "replicas"], -1)], "spec.replicas")
RC("no template", [(["spec", "template"], DELETE)], "spec.template")
RC("template restartPolicy Never", [(["spec", "template", "spec", "restartPolicy"], "Never")], "spec.template.spec.restartPolicy")
RC("selector key bogus", [(["spec", "selector"], {"bad key": "web"}), (["spec", "template", "metadata", "labels"], {"bad key": "web"})], "spec.template.labels")

def job():
    t = template()
    t["spec"]["restartPolicy"] = "Never"
    t["metadata"] = {}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name("job")}, "spec": {"template": t}}
BATCH = "/apis/batch/v1/namespaces/corpus"
def J(desc, muts, field, code=422):
    case("job: " + desc, BATCH + "/jobs", mutate(job(), muts), code, field)
J("name with upper case", [(["metadata", "name"], "Job")], "metadata.name")
J("template restartPolicy Always", [(["spec", "template", "spec", "restartPolicy"], "Always")], "spec.template.spec.restartPolicy")
J("parallelism -1", [(["spec", "parallelism"], -1)], "spec.parallelism")
J("completions -1", [(["spec", "completions"], -1)], "spec.completions")
J("backoffLimit -1", [(["spec", "backoffLimit"], -1)], "spec.backoffLimit")
J("ttlSecondsAfterFinished -1", [(["spec", "ttlSecondsAfterFinished"], -1)], "spec.ttlSecondsAfterFinished")
J("completionMode bogus", [(["spec", "completionMode"], "Sometimes")], "spec.completionMode")
J("selector without manualSelector", [(["spec", "selector"], {"matchLabels": {"a": "b"}})], "spec.selector")
J("podFailurePolicy action bogus", [(["spec", "podFailurePolicy"], {"rules": [{"action": "Shrug", "onExitCodes": {"operator": "In", "values": [1]}}]})], "spec.podFailurePolicy.rules[0].action")
J("podFailurePolicy exit code 0 with In", [(["spec", "podFailurePolicy"], {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0]}}]})], "spec.podFailurePolicy.rules[0].onExitCodes.values[0]")
J("suspend with a template without containers", [(["spec", "template", "spec", "containers"], [])], "spec.template.spec.containers")
J("backoffLimitPerIndex without Indexed", [(["spec", "backoffLimitPerIndex"], 1)], "spec.backoffLimitPerIndex")

# --- Namespace, ServiceAccount, Endpoints, EndpointSlice, Node, Event ----------
def nsobj(nm):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": nm}}
case("namespace: name with upper case", "/api/v1/namespaces", nsobj("Corpus"), 422, "metadata.name")
case("namespace: name of 64 characters", "/api/v1/namespaces", nsobj("n" * 64), 422, "metadata.name")
case("namespace: name with a dot", "/api/v1/namespaces", nsobj("a.b"), 422, "metadata.name")
case("namespace: finalizer bogus", "/api/v1/namespaces", mutate(nsobj("corpus-fin"), [(["spec"], {"finalizers": ["bad finalizer"]})]), 422, "spec.finalizers")
case("namespace: label bogus", "/api/v1/namespaces", mutate(nsobj("corpus-lbl"), [(["metadata", "labels"], {"a": "b c"})]), 422, "metadata.labels")

def sa():
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name("sa")}}
case("serviceaccount: name with upper case", NS + "/serviceaccounts", mutate(sa(), [(["metadata", "name"], "Robot")]), 422, "metadata.name")
case("serviceaccount: annotation key bogus", NS + "/serviceaccounts", mutate(sa(), [(["metadata", "annotations"], {"bad key": "v"})]), 422, "metadata.annotations")

def ep():
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name("ep")},
            "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}
EP = ["subsets", 0]
def E(desc, muts, field, code=422):
    case("endpoints: " + desc, NS + "/endpoints", mutate(ep(), muts), code, field)
E("address not an IP", [(EP + ["addresses", 0, "ip"], "web")], "subsets[0].addresses[0].ip")
E("loopback address", [(EP + ["addresses", 0, "ip"], "127.0.0.1")], "subsets[0].addresses[0].ip")
E("link-local address", [(EP + ["addresses", 0, "ip"], "169.254.1.1")], "subsets[0].addresses[0].ip")
E("port 0", [(EP + ["ports", 0, "port"], 0)], "subsets[0].ports[0].port")
E("protocol bogus", [(EP + ["ports", 0, "protocol"], "ICMP")], "subsets[0].ports[0].protocol")
E("two ports without names", [(EP + ["ports"], [{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}])], "subsets[0].ports[0].name")
E("subset without addresses", [(EP + ["addresses"], DELETE)], "subsets[0]")
E("address nodeName bogus", [(EP + ["addresses", 0, "nodeName"], "Bad_Node")], "subsets[0].addresses[0].nodeName")

def slice_():
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name("slice")},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.2.3"]}], "ports": [{"port": 80, "protocol": "TCP"}]}
DISC = "/apis/discovery.k8s.io/v1/namespaces/corpus/endpointslices"
def ES(desc, muts, field, code=422):
    case("endpointslice: " + desc, DISC, mutate(slice_(), muts), code, field)
ES("addressType bogus", [(["addressType"], "IPv5")], "addressType")
ES("endpoint without addresses", [(["endpoints", 0, "addresses"], [])], "endpoints[0].addresses")
ES("address not IPv4", [(["endpoints", 0, "addresses"], ["fd00::1"])], "endpoints[0].addresses[0]")
ES("port protocol bogus", [(["ports", 0, "protocol"], "ICMP")], "ports[0].protocol")
ES("port name with upper case", [(["ports", 0, "name"], "HTTP")], "ports[0].name")
ES("hostname bogus", [(["endpoints", 0, "hostname"], "Bad_Host")], "endpoints[0].hostname")

def node():
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name("node")}}
def N(desc, muts, field, code=422):
    case("node: " + desc, "/api/v1/nodes", mutate(node(), muts), code, field)
N("name with upper case", [(["metadata", "name"], "Node")], "metadata.name")
N("taint effect bogus", [(["spec"], {"taints": [{"key": "k", "effect": "Sometimes"}]})], "metadata.taints[0].effect")
N("taint key bogus", [(["spec"], {"taints": [{"key": "bad key", "effect": "NoSchedule"}]})], "metadata.taints[0].key")
N("taint twice", [(["spec"], {"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}]})], "metadata.taints[1]")
N("podCIDR bogus", [(["spec"], {"podCIDR": "10.0.0.0/33", "podCIDRs": ["10.0.0.0/33"]})], "spec.podCIDRs[0]")
N("negative capacity", [(["status"], {"capacity": {"cpu": "-1"}})], None, 201)
cases.pop()  # status is not taken on create: valid

def event():
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name("event"), "namespace": "corpus"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "corpus"}, "reason": "Test", "type": "Normal", "source": {"component": "corpus"}}
def EV(desc, muts, field, code=422):
    case("event: " + desc, NS + "/events", mutate(event(), muts), code, field)
EV("involvedObject in another namespace", [(["involvedObject", "namespace"], "other")], "involvedObject.namespace")
EV("name with a slash", [(["metadata", "name"], "a/b")], "metadata.name")
EV("name ..", [(["metadata", "name"], "..")], "metadata.name")
EV("namespace unlike the involved object's, which has none", [(["involvedObject", "namespace"], DELETE)], "involvedObject.namespace")

# --- Options of other verbs, on what is stored ----------------------------
CMS = NS + "/configmaps"
case("list: limit not a number", CMS, None, 400, method="GET", query="?limit=ten")
case("list: resourceVersionMatch without a resourceVersion", CMS, None, 422, "resourceVersionMatch", method="GET", query="?resourceVersionMatch=Exact")
case("list: resourceVersionMatch bogus", CMS, None, 422, "resourceVersionMatch", method="GET", query="?resourceVersion=1&resourceVersionMatch=Sometimes")
case("list: label selector that does not parse", CMS, None, 400, method="GET", query="?labelSelector=a%20in%20(")
case("list: field selector on an unsupported field", CMS, None, 400, method="GET", query="?fieldSelector=data.k%3Dv")
case("watch: resourceVersionMatch set", CMS, None, 422, "resourceVersionMatch", method="GET", query="?watch=true&resourceVersion=1&resourceVersionMatch=NotOlderThan")
case("delete: propagationPolicy Bogus keeps the object", CMS + "/kube-root-ca.crt", None, 422, "propagationPolicy", method="DELETE", query="?propagationPolicy=Bogus")
case("delete: dryRun Sometimes", CMS + "/kube-root-ca.crt", None, 422, "dryRun", method="DELETE", query="?dryRun=Sometimes")
case("delete: orphanDependents and propagationPolicy", CMS + "/kube-root-ca.crt", {"apiVersion": "v1", "kind": "DeleteOptions", "orphanDependents": True, "propagationPolicy": "Background"}, 422, "propagationPolicy", method="DELETE")
case("delete: body that is not DeleteOptions", CMS + "/kube-root-ca.crt", None, 400, method="DELETE", raw="{not json")
case("update: name unlike the URL's", CMS + "/kube-root-ca.crt", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}, 400, method="PUT")
case("update: a stale resourceVersion", CMS + "/kube-root-ca.crt", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "resourceVersion": "1"}}, 409, method="PUT")
case("update: fieldValidation=Bogus", CMS + "/kube-root-ca.crt", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}}, 422, "fieldValidation", method="PUT", query="?fieldValidation=Bogus")
case("create: a 4 MiB body, over the 3 MiB a request may have", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"}, "data": {"big": "@repeat:x:4194304"}}, 413, reason="RequestEntityTooLarge")
case("create: JSON nested 10001 deep", CMS, None, 400, raw='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":{"k":' + "[" * 10001 + "]" * 10001 + "}}")
case("create: JSON nested 10000 deep in a field of strings", CMS, None, 400, raw='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":{"k":' + "[" * 9990 + "]" * 9990 + "}}")
case("create: an existing name", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}}, 409, reason="AlreadyExists")

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "internal", "apiserver", "testdata", "invalid", "corpus.jsonl")
with open(out, "w") as f:
    for c in cases:
        f.write(json.dumps(c, sort_keys=True) + "\n")
print("%d cases -> %s" % (len(cases), os.path.relpath(out)), file=sys.stderr)
