#!/usr/bin/env bash
# Builds the binaries of the test control plane from Go modules into a cache folder outside the repo:
#   etcd                       (wrapper module test/controlplane/etcd)
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl   (wrapper module test/controlplane/k8s)
#   kube-scheduler-coscheduling  (wrapper module test/controlplane/coscheduling: scheduler-plugins' coscheduling plugin)
#   helm                       (wrapper module test/controlplane/helm, sharing the kubernetes wrapper's k8s.io/* versions)
#   kwok                       (go install sigs.k8s.io/kwok/cmd/kwok@version; it does not compile against k8s.io 0.34)
# Each group is rebuilt only when a binary is absent or its stamp (versions, go.mod/go.sum, flags, Go version)
# changed, so a warm run costs well under a second.
#
# Usage: test/controlplane/build.sh [--force] [--prune]
#   --force  rebuild everything
#   --prune  after a successful build, delete the Go module and build caches under the cache folder (keeps bin/)
# Environment:
#   SIMCLR_CACHE   cache root (default $HOME/.cache/simclr-k8s); binaries go to $SIMCLR_CACHE/bin
#   GOMODCACHE / GOCACHE   honoured when set; otherwise $SIMCLR_CACHE/gomod and $SIMCLR_CACHE/gocache
#   GOTOOLCHAIN    default "local"; set e.g. go1.25.5 to fetch a toolchain through the module proxy
#   BUILD_NICE     niceness for the go commands (default 10)
set -euo pipefail

K8S_VERSION=v1.34.4     # must match test/controlplane/k8s/go.mod (require + replaces at v0.34.4)
ETCD_VERSION=v3.6.4     # must match test/controlplane/etcd/go.mod
KWOK_VERSION=v0.7.0     # kwok-stages.ts holds this version's Stage format
HELM_VERSION=v3.19.5    # must match test/controlplane/helm/go.mod
HELM_K8S_MINOR=34       # helm is built against k8s.io/client-go v0.34.x

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SIMCLR_CACHE:-$HOME/.cache/simclr-k8s}
BIN=$CACHE/bin
FORCE=0
PRUNE=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    --prune) PRUNE=1 ;;
    -h|--help) sed -n 2,17p "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

command -v go >/dev/null || { echo "build.sh: go is not on PATH (Go >= 1.24 needed)" >&2; exit 1; }

mkdir -p "$BIN"
export GOMODCACHE=${GOMODCACHE:-$CACHE/gomod}
export GOCACHE=${GOCACHE:-$CACHE/gocache}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export GOFLAGS="-mod=readonly -buildvcs=false"   # go.sum must be complete: nothing is resolved at build time
export CGO_ENABLED=0
NICE=(nice -n "${BUILD_NICE:-10}")

# One build at a time per cache folder (parallel test runs would otherwise race on the same outputs).
exec 9>"$CACHE/.build.lock"
flock 9

GO_VERSION=$(go env GOVERSION)
TIMES_LOG=$CACHE/build-times.log
T_ALL=$(date +%s)
log() { echo "build.sh: $*"; }
note_time() { # component seconds
  log "$1 built in $2s"
  echo "$(date -u +%FT%TZ) $1 ${2}s go=$GO_VERSION nproc=$(nproc)" >>"$TIMES_LOG"
}
stamp_of() { # name, extra strings...; prints the hash of every input that should trigger a rebuild
  printf '%s\n' "$GO_VERSION" "$GOTOOLCHAIN" "$CGO_ENABLED" "$@" | sha256sum | cut -d' ' -f1
}
up_to_date() { # stampname stamp binaries...
  local name=$1 stamp=$2; shift 2
  [[ $FORCE == 1 ]] && return 1
  [[ -f $BIN/.stamp-$name && $(cat "$BIN/.stamp-$name") == "$stamp" ]] || return 1
  local b
  for b in "$@"; do [[ -x $BIN/$b ]] || return 1; done
}

# --- etcd --------------------------------------------------------------------------------------------------
ETCD_STAMP=$(stamp_of etcd "$ETCD_VERSION" "$(cat "$HERE/etcd/go.mod" "$HERE/etcd/go.sum")")
if up_to_date etcd "$ETCD_STAMP" etcd; then
  log "etcd $ETCD_VERSION up to date"
else
  log "building etcd $ETCD_VERSION ..."
  rm -f "$BIN/.stamp-etcd"
  t=$(date +%s)
  (cd "$HERE/etcd" && "${NICE[@]}" go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
  note_time etcd $(( $(date +%s) - t ))
  echo "$ETCD_STAMP" >"$BIN/.stamp-etcd"
fi

# --- kube-apiserver, kube-controller-manager, kubectl --------------------------------------------------------
K8S_MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
  K8S_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
K8S_TAGS=selinux,notest
K8S_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
K8S_STAMP=$(stamp_of k8s "$K8S_VERSION" "$K8S_LDFLAGS" "$K8S_TAGS" "$(cat "$HERE/k8s/go.mod" "$HERE/k8s/go.sum")")
if up_to_date k8s "$K8S_STAMP" "${K8S_BINS[@]}"; then
  log "kubernetes $K8S_VERSION (${K8S_BINS[*]}) up to date"
else
  rm -f "$BIN/.stamp-k8s"
  # One binary at a time: the later ones reuse the build cache, and the log shows what each one cost.
  for b in "${K8S_BINS[@]}"; do
    log "building $b $K8S_VERSION ..."
    t=$(date +%s)
    (cd "$HERE/k8s" && "${NICE[@]}" go build -trimpath -tags "$K8S_TAGS" -ldflags "$K8S_LDFLAGS" \
      -o "$BIN/$b" "k8s.io/kubernetes/cmd/$b")
    note_time "$b" $(( $(date +%s) - t ))
  done
  echo "$K8S_STAMP" >"$BIN/.stamp-k8s"
fi

# --- kwok --------------------------------------------------------------------------------------------------
# kube-scheduler with scheduler-plugins' coscheduling plugin (the gang scheduling test), on the kubernetes packages
# just built (coscheduling/go.mod holds k8s.io/kubernetes at K8S_VERSION), so it mostly links what is compiled.
COSCHED_STAMP=$(stamp_of coscheduling "$K8S_VERSION" "$K8S_LDFLAGS" "$K8S_TAGS" \
  "$(cat "$HERE/coscheduling/go.mod" "$HERE/coscheduling/go.sum" "$HERE/coscheduling/main.go")")
if up_to_date coscheduling "$COSCHED_STAMP" kube-scheduler-coscheduling; then
  log "kube-scheduler-coscheduling up to date"
else
  log "building kube-scheduler-coscheduling (scheduler-plugins $(awk '$1 == "sigs.k8s.io/scheduler-plugins" { print $2 }' "$HERE/coscheduling/go.mod")) ..."
  rm -f "$BIN/.stamp-coscheduling"
  t=$(date +%s)
  (cd "$HERE/coscheduling" && "${NICE[@]}" go build -trimpath -tags "$K8S_TAGS" -ldflags "$K8S_LDFLAGS" \
    -o "$BIN/kube-scheduler-coscheduling" .)
  note_time kube-scheduler-coscheduling $(( $(date +%s) - t ))
  echo "$COSCHED_STAMP" >"$BIN/.stamp-coscheduling"
fi

KWOK_LDFLAGS="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
KWOK_STAMP=$(stamp_of kwok "$KWOK_VERSION" "$KWOK_LDFLAGS")
if up_to_date kwok "$KWOK_STAMP" kwok; then
  log "kwok $KWOK_VERSION up to date"
else
  log "building kwok $KWOK_VERSION ..."
  rm -f "$BIN/.stamp-kwok"
  t=$(date +%s)
  # go install pkg@version: the module's own go.mod/go.sum, checked against the checksum database.
  (cd "$HERE" && GOBIN="$BIN" GOFLAGS=-buildvcs=false "${NICE[@]}" go install -trimpath -ldflags "$KWOK_LDFLAGS" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
  note_time kwok $(( $(date +%s) - t ))
  echo "$KWOK_STAMP" >"$BIN/.stamp-kwok"
fi

# --- helm --------------------------------------------------------------------------------------------------
HELM_LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  HELM_LDFLAGS+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_K8S_MINOR"
done
HELM_STAMP=$(stamp_of helm "$HELM_VERSION" "$HELM_LDFLAGS" "$(cat "$HERE/helm/go.mod" "$HERE/helm/go.sum")")
if up_to_date helm "$HELM_STAMP" helm; then
  log "helm $HELM_VERSION up to date"
else
  log "building helm $HELM_VERSION ..."
  rm -f "$BIN/.stamp-helm"
  t=$(date +%s)
  # Wrapper module with the kubernetes wrapper's k8s.io/* versions: reuses their compiled packages (after the
  # kubernetes build above, ~25 s instead of ~6 min for `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION`).
  (cd "$HERE/helm" && "${NICE[@]}" go build -trimpath -ldflags "$HELM_LDFLAGS" -o "$BIN/helm" helm.sh/helm/v3/cmd/helm)
  note_time helm $(( $(date +%s) - t ))
  echo "$HELM_STAMP" >"$BIN/.stamp-helm"
fi

if [[ $PRUNE == 1 ]]; then
  for d in "$CACHE/gomod" "$CACHE/gocache"; do
    if [[ -d $d ]]; then chmod -R u+w "$d"; rm -rf "$d"; log "pruned $d"; fi
  done
fi

log "all binaries ready in $BIN ($(( $(date +%s) - T_ALL ))s)"
