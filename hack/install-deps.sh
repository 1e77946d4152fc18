#!/usr/bin/env bash
# Installs what peapod needs on a Debian machine, idempotently: the OCI
# runtime and monitor, busybox for the local images, the test registry and
# the benchmark peer, a headless browser. Then builds crun statically (see
# build-crun.sh) and prepares the host (see prepare-host.sh).
set -euo pipefail

packages=(
  crun runc conmon            # OCI runtimes and the per-container monitor
  # what hack/build-crun.sh needs to build crun statically from Debian's source
  gcc make gperf pkgconf python3 file xz-utils dpkg-dev
  libcap-dev libseccomp-dev libyajl-dev
  busybox-static              # the local busybox image
  nginx prometheus-nginx-exporter  # the local nginx and nginx-prometheus-exporter images
  iproute2                    # ip netns / link, used by tests to check for leaks
  containernetworking-plugins iptables nftables  # pod network: bridge, host-local, portmap (they run iptables)
  docker-registry             # a real registry on loopback for pull tests
  podman catatonit skopeo netavark aardvark-dns  # the benchmark peer and its network backend (a recommends of podman)
  hyperfine
  chromium                    # a real headless browser for the timeline page's test (chromedp)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# staticcheck for `make lint`, pinned; built from the Go module proxy.
staticcheck_version=0.8.2
gobin=$(go env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -qF "($staticcheck_version)"; then
  echo "install-deps: installing staticcheck v$staticcheck_version"
  (cd / && GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@v$staticcheck_version")
fi

"$(dirname "$0")/build-crun.sh"
"$(dirname "$0")/prepare-host.sh"
