#!/usr/bin/env bash
# Re-pins a wrapper module to another upstream release. Run by hand, then commit go.mod and go.sum.
#
#   controlplane/pin.sh kubernetes v1.36.3
#   controlplane/pin.sh etcd v3.6.16
#
# k8s.io/kubernetes points every k8s.io/* staging module at ./staging/src/... with `replace`, and
# replace directives of a dependency are ignored, so the wrapper must re-map each of them to the
# published v0.<minor>.<patch>. The list is read from the release's own go.mod, so a new staging
# module cannot be missed. The `go` and `godebug` lines are copied too: the main module decides the
# binary's GODEBUG defaults, and they should be the ones upstream releases with.
set -euo pipefail

name=${1:?usage: pin.sh kubernetes|etcd VERSION}
version=${2:?usage: pin.sh kubernetes|etcd VERSION}
here=$(cd "$(dirname "$0")" && pwd)
export GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}

case "$name" in
  kubernetes)
    module=k8s.io/kubernetes
    tools=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
    ;;
  etcd)
    module=go.etcd.io/etcd/server/v3
    tools=(go.etcd.io/etcd/server/v3)
    ;;
  *) echo "pin.sh: unknown wrapper \`$name\`; use kubernetes or etcd" >&2; exit 2 ;;
esac

dir="$here/$name"
upstream_mod=$(cd "$dir" && go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$upstream_mod" ] || { echo "pin.sh: could not download $module@$version" >&2; exit 1; }

{
  echo "// Wrapper module: builds $module@$version from the Go module proxy. Regenerate with"
  echo "// controlplane/pin.sh $name VERSION; do not edit by hand."
  echo "module openai-compatible-provider/controlplane/$name"
  echo
  grep -E '^(go|godebug) ' "$upstream_mod"
  echo
  echo "require $module $version"
  if [ "$name" = kubernetes ]; then
    staging_version="v0.${version#v1.}"
    echo
    echo "replace ("
    sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*$|\t\1 => \1 '"$staging_version"'|p' "$upstream_mod"
    echo ")"
  fi
} >"$dir/go.mod"
rm -f "$dir/go.sum"

cd "$dir"
go get -tool "${tools[@]/%/@$version}"
go mod tidy
go mod verify >/dev/null
echo "pinned $module@$version in $dir/go.mod"
