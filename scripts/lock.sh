#!/usr/bin/env bash
# The project's dependency lock: uv.lock (runtime and the dev extra, every platform, with hashes) and
# the Lambda layer's requirements exported from it (layers/shared/requirements.txt, with hashes).
#
#   scripts/lock.sh             re-lock after editing pyproject.toml (versions already locked are kept),
#                               then regenerate the layer's requirements
#   scripts/lock.sh --upgrade   re-lock with the newest versions pyproject.toml allows, then regenerate
#   scripts/lock.sh --print     print the layer's requirements exported from uv.lock as it is (offline;
#                               tests/infrastructure/test_dependency_lock.py compares it with the file)
#
# `make lock` / `make lock-upgrade` run it with the uv pinned in the Makefile (UV_VERSION): uv.lock's
# format and the export's text follow uv's version. UV=<path to uv> picks another uv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV="${UV:-$ROOT/.venv/bin/uv}"
LAYER_REQUIREMENTS="layers/shared/requirements.txt"

# The layer's requirements: the runtime dependencies (no dev extra, not the project itself), without
# what the Lambda runtime ships (boto3, botocore, s3transfer) and without what only they need
# (--prune drops a package and the dependencies nothing else asks for: urllib3, python-dateutil...).
# --frozen --offline: read uv.lock as it is, never resolve, never touch the network.
EXPORT_ARGS=(export --frozen --offline --no-dev --no-emit-project
  --prune boto3 --prune botocore --prune s3transfer
  --format requirements-txt --no-header --quiet)

layer_requirements() {
  cat <<EOF
# GENERATED from uv.lock by \`make lock\` (scripts/lock.sh): do not edit; edit pyproject.toml and run
# \`make lock\` (a test fails while this file differs from uv.lock). The command:
#   uv ${EXPORT_ARGS[*]}
# The runtime dependencies of oauth_broker, with hashes, for the Lambda layer (layers/shared/Makefile
# installs them with pip --require-hashes --no-deps for manylinux2014_aarch64, CPython 3.13), without
# boto3, botocore, s3transfer and what only they need: the Lambda runtime ships them.
EOF
  "$UV" "${EXPORT_ARGS[@]}"
}

case "${1:-}" in
  --print)
    layer_requirements
    exit 0
    ;;
  --upgrade)
    echo "==> uv lock --upgrade"
    "$UV" lock --upgrade
    ;;
  "")
    echo "==> uv lock"
    "$UV" lock
    ;;
  *)
    echo "usage: $0 [--upgrade | --print]" >&2
    exit 2
    ;;
esac

echo "==> $LAYER_REQUIREMENTS (exported from uv.lock)"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
layer_requirements >"$tmp"
mv "$tmp" "$LAYER_REQUIREMENTS"
chmod 644 "$LAYER_REQUIREMENTS"

git --no-pager diff --stat -- uv.lock "$LAYER_REQUIREMENTS" 2>/dev/null || true
cat <<'EOF'
==> next: `make test` (its venv step re-syncs .venv from uv.lock; its sam-check step rebuilds the
    layer from the new requirements and checks its versions equal the lock's); commit uv.lock and
    layers/shared/requirements.txt together.
EOF
