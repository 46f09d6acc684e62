#!/usr/bin/env bash
# Re-pins a wrapper module to another upstream release. Run by hand, then commit go.mod and go.sum.
#
#   controlplane/pin.sh kubernetes v1.36.3
#   controlplane/pin.sh etcd v3.6.16
#   controlplane/pin.sh pulumi v3.248.0                      # = @pulumi/pulumi in package.json
#   controlplane/pin.sh pulumi-kubernetes v4.0.0-20260115033456-f47bc2d6f199 4.25.0
#
# The `go` and `godebug` lines of the upstream go.mod are copied: the main module decides the
# binary's GODEBUG defaults, and they should be the ones upstream releases with. Replace directives
# of a dependency are ignored, so the ones upstream relies on are carried over:
# - k8s.io/kubernetes points every k8s.io/* staging module at ./staging/src/...; each is re-mapped to
#   the published v0.<minor>.<patch>. The list is read from the release's own go.mod, so a new
#   staging module cannot be missed.
# - pulumi's pkg module replaces sdk with ../sdk: the wrapper requires sdk at the same version, and
#   keeps pkg's other (module-to-module) replaces.
# - pulumi-kubernetes' provider module has no tags of its own (a pseudo-version names the commit)
#   and replaces its sdk with ../sdk; it embeds generated files, so build.sh builds it from a copy
#   laid out as upstream's checkout. This wrapper only pins and checksums the two modules; the
#   release it corresponds to is written to pulumi-kubernetes/release for the version ldflag.
set -euo pipefail

release=""
usage="usage: pin.sh kubernetes|etcd|pulumi VERSION | pin.sh pulumi-kubernetes PSEUDO-VERSION RELEASE"
name=${1:?$usage}
version=${2:?$usage}
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
  pulumi)
    module=github.com/pulumi/pulumi/pkg/v3
    tools=(github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
    ;;
  pulumi-kubernetes)
    module=github.com/pulumi/pulumi-kubernetes/provider/v4
    release=${3:?$usage}
    tools=()
    ;;
  *) echo "pin.sh: unknown wrapper \`$name\`; $usage" >&2; exit 2 ;;
esac

dir="$here/$name"
mkdir -p "$dir"
upstream_mod=$(cd "$dir" && go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$upstream_mod" ] || { echo "pin.sh: could not download $module@$version" >&2; exit 1; }

extra=()
{
  echo "// Wrapper module: builds $module@$version from the Go module proxy. Regenerate with"
  echo "// controlplane/pin.sh $name $version${release:+ $release}; do not edit by hand."
  echo "module openai-compatible-provider/controlplane/$name"
  echo
  grep -E '^(go|godebug) ' "$upstream_mod"
  echo
  echo "require $module $version"
  case "$name" in
    kubernetes)
      echo
      echo "replace ("
      sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*$|\t\1 => \1 '"v0.${version#v1.}"'|p' "$upstream_mod"
      echo ")"
      ;;
    pulumi)
      grep -E '^replace [^ ]+ => [^.][^ ]* v' "$upstream_mod" || true
      ;;
  esac
} >"$dir/go.mod"
rm -f "$dir/go.sum"

case "$name" in
  pulumi) extra=("github.com/pulumi/pulumi/sdk/v3@$version") ;;
  pulumi-kubernetes)
    sdk_version=$(sed -n 's|^[[:space:]]*github.com/pulumi/pulumi-kubernetes/sdk/v4 \(v[^ ]*\).*$|\1|p' "$upstream_mod" | head -1)
    extra=("github.com/pulumi/pulumi-kubernetes/sdk/v4@$sdk_version")
    echo "$release" >"$dir/release"
    ;;
esac

cd "$dir"
if [ ${#tools[@]} -gt 0 ]; then
  go get -tool "${tools[@]/%/@$version}" "${extra[@]}"
  go mod tidy
else
  # Nothing here imports the modules (the provider is built from a copy), so tidy would drop them:
  # require them and record both checksums of each.
  go get "$module@$version" "${extra[@]}"
  go mod download "$module" "${extra[@]%@*}"
fi
go mod verify >/dev/null
echo "pinned $module@$version in $dir/go.mod"
