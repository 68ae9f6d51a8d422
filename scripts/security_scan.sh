#!/usr/bin/env bash
# Scans template.yaml with checkov, as a security team would, and fails on any failed check.
# Every check that does not apply is suppressed in the template itself, on the resource, with
# its reason (`Metadata: checkov: skip: - id: ... comment: ...`), so a reviewer reads the
# reason next to the resource.
#
# checkov lives in its own virtual environment (.venv-checkov), pinned: its dependencies clash
# with the project's, and a new checkov release adds checks, which must not turn CI red by itself.
# It is created here when missing (or when the pin changes).
set -euo pipefail

CHECKOV_VERSION="3.3.30"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-checkov"
CHECKOV="$VENV/bin/checkov"
if [[ ! -x "$CHECKOV" ]] || [[ "$(cat "$VENV/.version" 2>/dev/null)" != "$CHECKOV_VERSION" ]]; then
  echo "==> creating .venv-checkov with checkov $CHECKOV_VERSION"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check --quiet "checkov==$CHECKOV_VERSION" 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
  echo "$CHECKOV_VERSION" > "$VENV/.version"
fi

echo "==> checkov $CHECKOV_VERSION on template.yaml"
# --quiet --compact: failed checks only, without code blocks; then the passed/failed/skipped summary.
# checkov exits non-zero on a failed check, but not on a template it could not parse: refuse that too.
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
status=0
"$CHECKOV" --quiet --compact --framework cloudformation --file template.yaml \
  --skip-download >"$OUT" 2>&1 || status=$?
cat "$OUT"
if grep -Eq "Parsing errors: [1-9]|YAML error" "$OUT"; then
  echo "error: checkov could not parse template.yaml" >&2
  exit 1
fi
if ! grep -q "Passed checks:" "$OUT"; then
  echo "error: checkov printed no summary" >&2
  exit 1
fi
exit "$status"
