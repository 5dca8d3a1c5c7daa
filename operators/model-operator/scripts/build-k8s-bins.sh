#!/usr/bin/env bash
# Builds the Go binaries the operator's tests need, cached OUTSIDE the repo (never commit them):
#   helm            go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION
#   etcd            a two-line wrapper around go.etcd.io/etcd/server/v3/etcdmain
#   kube-apiserver  a wrapper module that requires k8s.io/kubernetes and pins every k8s.io staging
#                   module with replace lines (k8s.io/kubernetes's own go.mod points them at
#                   ./staging, which does not exist for a dependency).
# Usage: build-k8s-bins.sh [helm|etcd|kube-apiserver|all]   (prints the binary path(s))
# Env:   TANDEM_K8S_CACHE (default ~/.cache/tandem/k8s), HELM_VERSION, ETCD_VERSION, K8S_VERSION;
#        TANDEM_K8S_DRY_RUN=1 only prints cached paths (exit 1 naming what is missing, no build).
set -euo pipefail

CACHE="${TANDEM_K8S_CACHE:-$HOME/.cache/tandem/k8s}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.4}"  # the etcd server kube-apiserver v1.34.4 links: shares its build cache
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
mkdir -p "$CACHE/bin"

log() { echo "[build-k8s-bins] $*" >&2; }

# In dry-run mode a missing binary is an error instead of a build.
need_build() {
  if [[ "${TANDEM_K8S_DRY_RUN:-}" == "1" ]]; then
    log "$1 is not built (no $2); run $0 $1"
    exit 1
  fi
}

build_helm() {
  local out="$CACHE/bin/helm-$HELM_VERSION"
  if [[ ! -x "$out" ]]; then
    need_build helm "$out"
    log "building helm $HELM_VERSION (go install) ..."
    local start=$SECONDS
    GOBIN="$CACHE/gobin-helm" "$GO" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    mv "$CACHE/gobin-helm/helm" "$out"
    log "helm built in $((SECONDS - start))s"
  fi
  echo "$out"
}

build_etcd() {
  local out="$CACHE/bin/etcd-$ETCD_VERSION"
  if [[ ! -x "$out" ]]; then
    need_build etcd "$out"
    local dir="$CACHE/src/etcd-$ETCD_VERSION"
    mkdir -p "$dir"
    cat >"$dir/main.go" <<'GO'
// Wrapper main: the etcd server command as a library (go.etcd.io/etcd/server/v3/etcdmain).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    (cd "$dir" && [[ -f go.mod ]] || "$GO" mod init tandem.dev/etcd-wrapper >/dev/null 2>&1)
    log "building etcd $ETCD_VERSION ..."
    local start=$SECONDS
    (cd "$dir" && "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && "$GO" mod tidy && "$GO" build -o "$out" .)
    log "etcd built in $((SECONDS - start))s"
  fi
  echo "$out"
}

build_apiserver() {
  local out="$CACHE/bin/kube-apiserver-$K8S_VERSION"
  if [[ ! -x "$out" ]]; then
    need_build kube-apiserver "$out"
    local dir="$CACHE/src/kube-apiserver-$K8S_VERSION"
    local staging="v0.${K8S_VERSION#v1.}"
    mkdir -p "$dir"
    log "building kube-apiserver $K8S_VERSION (staging modules pinned to $staging) ..."
    local start=$SECONDS
    # Read the staging module list from k8s.io/kubernetes's own go.mod.
    local gomod
    gomod="$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
    {
      echo "module tandem.dev/kube-apiserver-wrapper"
      echo
      echo "go 1.24.0"
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" |
        awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
    } >"$dir/go.mod"
    cat >"$dir/main.go" <<'GO'
// Wrapper main: the upstream kube-apiserver command, built from k8s.io/kubernetes as a module.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
GO
    # Without these the binary reports v0.0.0-master (kubectl then warns about version skew).
    local pkg=k8s.io/component-base/version
    local ldflags="-X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
    (cd "$dir" && "$GO" mod tidy && "$GO" build -ldflags "$ldflags" -o "$out" .)
    log "kube-apiserver built in $((SECONDS - start))s"
  fi
  echo "$out"
}

case "${1:-all}" in
  helm) build_helm ;;
  etcd) build_etcd ;;
  kube-apiserver) build_apiserver ;;
  all) build_helm; build_etcd; build_apiserver ;;
  *) echo "usage: $0 [helm|etcd|kube-apiserver|all]" >&2; exit 2 ;;
esac
