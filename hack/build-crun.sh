#!/usr/bin/env bash
# build-crun.sh: builds crun, statically linked, from Debian's source of the
# crun package this machine has, into /usr/local/libexec/peapod/crun, where
# peapod looks for its OCI runtime before PATH (conmon.LookRuntime).
# Idempotent: nothing to do while that build matches the installed package.
#
# Why: Debian's crun links ten shared libraries; loading them is most of a
# `crun --version` here (8.7–12.4 ms of CPU against 3.3–4.7 ms for this
# build, perf stat -r 40, three rounds), and peapod runs crun three times
# per container (create, start, delete) and once per exec probe. Same
# source, Debian's patches and hardening flags; built without systemd
# (peapod always passes --cgroup-manager=cgroupfs) and CRIU (peapod does
# not checkpoint).
set -euo pipefail

dest=/usr/local/libexec/peapod # conmon.LibexecDir
version=$(dpkg-query -W -f='${Version}' crun)
# The source of exactly that package (a binNMU's source version has no +bN).
source_version=$(dpkg-query -W -f='${source:Version}' crun)
if [ -x "$dest/crun" ] && [ "$(cat "$dest/crun.deb-version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
echo "build-crun: building a static crun from Debian's source of crun $version"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The deb-src twins of this machine's Debian sources, in a private apt
# configuration: the host's own apt setup is not changed.
apt="$work/apt"
mkdir -p "$apt/lists/partial" "$apt/sources.list.d" "$work/src"
for f in /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] || continue
  sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$apt/sources.list.d/$(basename "$f")"
done
sed -nE 's/^deb[[:space:]]+(.*)/deb-src \1/p' /etc/apt/sources.list 2>/dev/null >"$apt/sources.list" || true
aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
  -o "Dir::State::Lists=$apt/lists" -o "APT::Sandbox::User=root")
apt-get "${aptopts[@]}" update -qq
(cd "$work/src" && apt-get "${aptopts[@]}" source -qq --only-source "crun=$source_version" >/dev/null)
src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'crun-*' | head -1)
[ -n "$src" ] || { echo "build-crun: apt-get source crun unpacked nothing" >&2; exit 1; }

# Debian ships yajl's static library as libyajl_s.a; the link asks for -lyajl.
mkdir -p "$work/lib"
ln -s "$(dpkg -L libyajl-dev | grep '/libyajl_s\.a$')" "$work/lib/libyajl.a"

cd "$src"
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
# Without libgcrypt, as Debian builds it (its crun maps libgcrypt only as a
# dependency of libsystemd): with it, crun keeps a cache of seccomp filters
# in its state directory.
./configure --disable-systemd --disable-criu --disable-shared ac_cv_search_gcry_check_version=no \
  >"$work/configure.log" 2>&1 ||
  { tail -20 "$work/configure.log" >&2; exit 1; }
# As Debian's rules: the gperf tables are generated, not taken from the tarball.
make git-version.h .version generate-signals.c generate-mount_flags.c >/dev/null
# -static-pie, not libtool's -all-static: the binary keeps address-space
# randomisation (1.2 ms more of start-up than -static, measured).
if ! make -j"$(nproc)" crun LDFLAGS="-XCClinker -static-pie $LDFLAGS -L$work/lib" >"$work/make.log" 2>&1; then
  tail -20 "$work/make.log" >&2
  exit 1
fi
file crun | grep -q 'static-pie linked' || { echo "build-crun: $(file crun)" >&2; exit 1; }
./crun --version >/dev/null
install -D -m 0755 -s crun "$dest/crun"
echo "$version" >"$dest/crun.deb-version"
echo "build-crun: installed $dest/crun ($(head -1 <("$dest/crun" --version)))"
