#!/usr/bin/env bash
# Validates (with cfn-lint) and builds the SAM stack without Docker, checks the built layer holds
# exactly uv.lock's versions (scripts/check_layer_lock.py), then prints the zipped size of the
# layer. Fails on any error or lint warning, and on any package of the layer not at its locked version.
#
# aws-sam-cli lives in its own virtual environment (.venv-sam): its pins clash with the
# project's. It is created here when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export SAM_CLI_TELEMETRY=0
# sam needs a region to load the template's pseudo parameters; none of these steps calls AWS.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"

SAM="$ROOT/.venv-sam/bin/sam"
if [[ ! -x "$SAM" ]]; then
  echo "==> creating .venv-sam with aws-sam-cli"
  python3 -m venv "$ROOT/.venv-sam"
  "$ROOT/.venv-sam/bin/pip" install --disable-pip-version-check --quiet aws-sam-cli
fi

echo "==> sam validate --lint"
# sam exits non-zero when cfn-lint matches any rule (errors and warnings alike).
"$SAM" validate --lint --template-file template.yaml

echo "==> sam build"
start=$SECONDS
"$SAM" build --template-file template.yaml
echo "sam build took $((SECONDS - start)) s"

LAYER_DIR="$ROOT/.aws-sam/build/SharedLayer"
if [[ ! -d "$LAYER_DIR/python/oauth_broker" ]]; then
  echo "error: the built layer has no python/oauth_broker package" >&2
  exit 1
fi

echo "==> the layer's packages and versions equal uv.lock's"
# The check reads versions with `packaging`: the project's venv has it (LOCK_CHECK_PYTHON picks another).
"${LOCK_CHECK_PYTHON:-$ROOT/.venv/bin/python}" scripts/check_layer_lock.py "$LAYER_DIR/python"
for pkg in boto3 botocore s3transfer; do
  if [[ -e "$LAYER_DIR/python/$pkg" ]]; then
    echo "error: the built layer bundles $pkg (the Lambda runtime provides it)" >&2
    exit 1
  fi
done

ZIP="$(mktemp -d)/SharedLayer.zip"
trap 'rm -rf "$(dirname "$ZIP")"' EXIT
python3 - "$LAYER_DIR" "$ZIP" <<'PY'
import os
import sys
import zipfile

src, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
    for root, _dirs, files in os.walk(src):
        for name in files:
            path = os.path.join(root, name)
            zf.write(path, os.path.relpath(path, src))
unzipped = sum(
    os.path.getsize(os.path.join(root, name)) for root, _d, files in os.walk(src) for name in files
)
print(f"SharedLayer: {os.path.getsize(dest) / 1_000_000:.1f} MB zipped, {unzipped / 1_000_000:.1f} MB unzipped")
PY
