#!/usr/bin/env bash
# Lint as CI does: ruff (rules and formatting), mypy (strict on store, config, spatial) and the
# import-linter layering contracts of pyproject.toml [tool.importlinter]. Every check runs;
# the script fails if any of them failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# The packages of this checkout, not whatever the venv's editable install points at.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
failed=()
run() {
  echo "== $*"
  "$@" || failed+=("$1")
}
run .venv/bin/ruff check .
run .venv/bin/ruff format --check .
run .venv/bin/mypy
run .venv/bin/lint-imports
if [ ${#failed[@]} -gt 0 ]; then
  echo "lint.sh: failed: ${failed[*]}" >&2
  exit 1
fi
