#!/usr/bin/env bash
# third-party.sh: writes third_party/cloud-provider, the part of
# k8s.io/cloud-provider that peapod links, from the released module.
#
# k8s.io/kubernetes/pkg/cluster/ports (imported by the core validation we run)
# reads one constant from k8s.io/cloud-provider/options, and that package
# imports the whole generic API server (admission, CEL, webhooks, the etcd
# client's server options): 258 packages, 8 MB of binary, ~10 ms of start-up
# and 5 MiB of memory in every peapod process, `up` included. The copy keeps the
# packages k8s.io/kubernetes' controller config really uses, byte for byte,
# and an options package holding only that constant, read from upstream.
#
#   hack/third-party.sh           rewrite third_party/cloud-provider
#   hack/third-party.sh --check   fail if it differs from what this writes
set -euo pipefail
cd "$(dirname "$0")/.."

mod=k8s.io/cloud-provider
# The version the replace list pins for the rest of k8s.io (k8s.io/api's).
version=$(go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' k8s.io/api)
src=$(GOFLAGS=-mod=mod go mod download -json "$mod@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "third-party: $mod@$version not downloaded" >&2; exit 1; }

# What k8s.io/kubernetes/pkg/controller/apis/config imports, and theirs.
pkgs=(
	config
	config/v1alpha1
	controllers/node/config
	controllers/node/config/v1alpha1
	controllers/service/config
	controllers/service/config/v1alpha1
)

out=third_party/cloud-provider
if [ "${1:-}" = --check ]; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
rm -rf "$out" && mkdir -p "$out/options"
cp "$src/go.mod" "$src/LICENSE" "$out/"
for p in "${pkgs[@]}"; do
	mkdir -p "$out/$p"
	for f in "$src/$p"/*.go; do
		case "$f" in *_test.go) continue ;; esac
		cp "$f" "$out/$p/"
	done
done
port=$(sed -n 's/^\tCloudControllerManagerWebhookPort = \([0-9]*\)$/\1/p' "$src/options/webhook.go")
[ -n "$port" ] || { echo "third-party: CloudControllerManagerWebhookPort not found in $src/options/webhook.go" >&2; exit 1; }
cat >"$out/options/options.go" <<EOF
// Package options is the part of $mod@$version/options that
// k8s.io/kubernetes/pkg/cluster/ports reads; written by hack/third-party.sh.
package options

// CloudControllerManagerWebhookPort is the cloud controller manager's
// webhook port, as upstream's options/webhook.go defines it.
const CloudControllerManagerWebhookPort = $port
EOF
chmod -R u+w,go-w "$out"

if [ "${1:-}" = --check ]; then
	if ! diff -r third_party/cloud-provider "$out" >&2; then
		echo "third-party: third_party/cloud-provider differs from $mod@$version; run hack/third-party.sh" >&2
		exit 1
	fi
	echo "third-party: third_party/cloud-provider is $mod@$version's"
fi
