#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kubectl, the pulumi CLI and pulumi-resource-kubernetes from the Go
# module proxy into a cache outside the repo, keyed by version, and reuses what is already there.
#
#   controlplane/build.sh            # logs to stderr; prints NAME=PATH for each binary on stdout
#
# The wrapper modules (controlplane/<name>/go.mod) pin the versions; re-pin with controlplane/pin.sh.
# Environment:
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

# cached KEY WRAPPER STAMP-EXTRA BUILDER [ARGS...]: runs `BUILDER OUT-DIR ARGS...` into a fresh
# directory that becomes $cache/KEY, unless a build from the same inputs is already there. The key
# names the version; the stamp inside also covers the wrapper's go.mod and go.sum, the flags and the
# Go version, so a change to any of them rebuilds instead of reusing a stale binary.
cached() {
  local key=$1 wrapper=$2 extra=$3
  shift 3
  local out="$cache/$key" stamp
  stamp=$( (cat "$here/$wrapper/go.mod" "$here/$wrapper/go.sum"; echo "$extra $GOFLAGS $CGO_ENABLED $*"; go version) |
    sha256sum | cut -c1-16)
  if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "reusing $out"
    return
  fi
  log "building $key (cold builds take minutes; compile cache: $(go env GOCACHE))"
  local tmp started=$SECONDS
  tmp=$(mktemp -d "$cache/.$key.XXXXXX")
  "$@" "$tmp" || { rm -rf "$tmp"; return 1; }
  echo "$stamp" >"$tmp/.stamp"
  rm -rf "$out"
  mv "$tmp" "$out"
  log "built $key in $((SECONDS - started))s"
}

# go_build WRAPPER LDFLAGS NAME=PACKAGE... OUT-DIR: builds each package of a wrapper module to OUT-DIR/NAME.
go_build() {
  local wrapper=$1 ldflags=$2 out=${!#} pair
  for pair in "${@:3:$#-3}"; do
    mkdir -p "$(dirname "$out/${pair%%=*}")"
    (cd "$here/$wrapper" && nice -n 10 go build -ldflags "$ldflags" -o "$out/${pair%%=*}" "${pair#*=}")
  done
}

# The directory of a module that a wrapper requires, downloaded and checked against its go.sum.
module_dir() {
  (cd "$here/$1" && go mod download -json "$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}

version_of() {
  (cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
}

# One build at a time per cache: jest's globalSetup and a developer's shell may both call this.
exec 9>"$cache/.lock"
flock 9

etcd_version=$(version_of etcd go.etcd.io/etcd/server/v3)
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version"
cached "etcd-$etcd_version" etcd "$etcd_ldflags" \
  go_build etcd "$etcd_ldflags" etcd=go.etcd.io/etcd/server/v3

# The same variables as upstream's hack/lib/version.sh sets. Recent API servers derive their
# emulated and compatibility versions from gitVersion, so it must be the real release.
read -r k8s_version k8s_date < <(cd "$here/kubernetes" &&
  go list -m -f '{{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  # The source is the module archive, not a git checkout: upstream calls that tree state "archive",
  # and the proxy does not say which commit it was, so gitCommit is left empty rather than guessed.
  k8s_ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=archive -X $pkg.buildDate=$k8s_date"
done
cached "kubernetes-$k8s_version" kubernetes "$k8s_ldflags" \
  go_build kubernetes "$k8s_ldflags" kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kubectl=k8s.io/kubernetes/cmd/kubectl

# The pulumi CLI at the version of @pulumi/pulumi (upstream's Makefile sets the same variable).
pulumi_version=$(version_of pulumi github.com/pulumi/pulumi/pkg/v3)
pulumi_ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version"
cached "pulumi-$pulumi_version" pulumi "$pulumi_ldflags" \
  go_build pulumi "$pulumi_ldflags" bin/pulumi=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

# pulumi-resource-kubernetes embeds schema-embed.json and terraform-mapping-embed.json, which
# upstream generates (`go generate`, running cmd/pulumi-resource-kubernetes/generate.go) and does
# not commit. So the module is copied, beside the sdk module its go.mod replaces with ../sdk, as in
# upstream's checkout; upstream's own generator writes the files; the provider builds with its own
# go.mod and go.sum. The copy lives only in the build directory.
pk_release=$(cat "$here/pulumi-kubernetes/release")
pk_ldflags="-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$pk_release"
build_pulumi_kubernetes() {
  local out=$1 src=$1/src
  mkdir -p "$src"
  cp -r "$(module_dir pulumi-kubernetes github.com/pulumi/pulumi-kubernetes/provider/v4)" "$src/provider"
  cp -r "$(module_dir pulumi-kubernetes github.com/pulumi/pulumi-kubernetes/sdk/v4)" "$src/sdk"
  chmod -R u+w "$src"
  (cd "$src/provider/cmd/pulumi-resource-kubernetes" &&
    VERSION=$pk_release nice -n 10 go run generate.go &&
    nice -n 10 go build -ldflags "$pk_ldflags" -o "$out/pulumi-resource-kubernetes" .)
  rm -rf "$src"
}
cached "pulumi-resource-kubernetes-v$pk_release" pulumi-kubernetes "$pk_ldflags" build_pulumi_kubernetes

echo "etcd=$cache/etcd-$etcd_version/etcd"
echo "kube-apiserver=$cache/kubernetes-$k8s_version/kube-apiserver"
echo "kubectl=$cache/kubernetes-$k8s_version/kubectl"
echo "pulumi=$cache/pulumi-$pulumi_version/bin/pulumi"
echo "pulumi-resource-kubernetes=$cache/pulumi-resource-kubernetes-v$pk_release/pulumi-resource-kubernetes"
