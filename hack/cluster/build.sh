#!/usr/bin/env bash
# Builds the upstream control plane pinned in go.mod (kube-apiserver,
# kube-controller-manager and kube-scheduler of k8s.io/kubernetes v1.32.4)
# and ./etcd (etcd's server, embedded) into $OUT/bin, for make test-cluster.
# OUT=${PEAPOD_CLUSTER_OUT:-$HOME/.cache/peapod-cluster}; nothing is written
# here. A binary newer than every file of this module is kept.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
OUT=${PEAPOD_CLUSTER_OUT:-$HOME/.cache/peapod-cluster}
mkdir -p "$OUT/bin"
export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
cd "$here"

# The versions upstream stamps (hack/lib/version.sh): kube-apiserver's
# /version and its emulated version come from them.
ver=$(sed -n 's/^\tk8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' go.mod | head -1)
info=$(go mod download -json "k8s.io/kubernetes@$ver")
commit=$(sed -n 's/.*"Hash": "\([0-9a-f]*\)".*/\1/p' <<<"$info" | head -1)
date=$(sed -n 's/.*"Time": "\([^"]*\)".*/\1/p' <<<"$info" | head -1)
minor=$(echo "$ver" | cut -d. -f2)
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$ver -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitCommit=${commit:-unknown} -X $p.gitTreeState=clean -X $p.buildDate=${date:-unknown}"
done

fresh() { # fresh BIN: built after every source of this module changed
  [[ -x $1 ]] && [[ -z $(find "$here" -newer "$1" -type f -print -quit) ]]
}
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  if ! fresh "$OUT/bin/$cmd"; then
    start=$(date +%s)
    go build -ldflags "$ldflags" -o "$OUT/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    echo "built $OUT/bin/$cmd in $(( $(date +%s) - start ))s"
  fi
done
if ! fresh "$OUT/bin/etcd"; then
  go build -ldflags "-s -w" -o "$OUT/bin/etcd" ./etcd
  echo "built $OUT/bin/etcd"
fi
