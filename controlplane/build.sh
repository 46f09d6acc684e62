#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kubectl from the Go module proxy into a cache outside the repo,
# keyed by version, and reuses what is already there.
#
#   controlplane/build.sh            # logs to stderr; prints NAME=PATH for each binary on stdout
#
# The wrapper modules (controlplane/etcd, controlplane/kubernetes) pin the versions; re-pin with
# controlplane/pin.sh. Environment:
#   OCP_CONTROLPLANE_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/openai-compatible-provider/controlplane)
#   OCP_BUILD_JOBS          parallel compile jobs (default 2; the machines have 2 cores)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${OCP_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openai-compatible-provider/controlplane}
mkdir -p "$cache"

# A go.mod asking for a newer Go than this one must fail loudly, not fetch a toolchain silently.
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath -p=${OCP_BUILD_JOBS:-2}"

log() { echo "controlplane/build.sh: $*" >&2; }

# Builds NAME=PACKAGE pairs of one wrapper module into $cache/<key>/NAME, unless a build from the same inputs
# is already there. The key names the version; the stamp inside also covers go.mod, go.sum, the
# flags and the Go version, so a change to any of them rebuilds instead of reusing a stale binary.
build() {
  local wrapper=$1 key=$2 ldflags=$3
  shift 3
  local out="$cache/$key" stamp
  stamp=$( (cat "$here/$wrapper/go.mod" "$here/$wrapper/go.sum"; echo "$ldflags $GOFLAGS $CGO_ENABLED $*"; go version) | sha256sum | cut -c1-16)
  if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "reusing $out"
    return
  fi
  log "building $key (cold builds take minutes; compile cache: $(go env GOCACHE))"
  local tmp started=$SECONDS
  tmp=$(mktemp -d "$cache/.$key.XXXXXX")
  local pair
  for pair in "$@"; do
    (cd "$here/$wrapper" && nice -n 10 go build -ldflags "$ldflags" -o "$tmp/${pair%%=*}" "${pair#*=}") ||
      { rm -rf "$tmp"; return 1; }
  done
  echo "$stamp" >"$tmp/.stamp"
  rm -rf "$out"
  mv "$tmp" "$out"
  log "built $key in $((SECONDS - started))s"
}

# One build at a time per cache: jest's globalSetup and a developer's shell may both call this.
exec 9>"$cache/.lock"
flock 9

etcd_version=$(cd "$here/etcd" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
build etcd "etcd-$etcd_version" \
  "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version" \
  etcd=go.etcd.io/etcd/server/v3

# The same variables as upstream's hack/lib/version.sh sets. Recent API servers derive their
# emulated and compatibility versions from gitVersion, so it must be the real release.
read -r k8s_version k8s_date < <(cd "$here/kubernetes" && go list -m -f '{{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  # The source is the module archive, not a git checkout: upstream calls that tree state "archive",
  # and the proxy does not say which commit it was, so gitCommit is left empty rather than guessed.
  k8s_ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=archive -X $pkg.buildDate=$k8s_date"
done
build kubernetes "kubernetes-$k8s_version" "$k8s_ldflags" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kubectl=k8s.io/kubernetes/cmd/kubectl

echo "etcd=$cache/etcd-$etcd_version/etcd"
echo "kube-apiserver=$cache/kubernetes-$k8s_version/kube-apiserver"
echo "kubectl=$cache/kubernetes-$k8s_version/kubectl"
