#!/usr/bin/env bash
# Run the suite as CI does. The import-linter layering contracts (pyproject.toml
# [tool.importlinter]) are checked first: a broken contract fails the run before any test.
# pytest makes its own throwaway database (tests/conftest.py); exit code 5 (no tests
# collected) is a failure here, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
# The packages of this checkout, not whatever the venv's editable install points at.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! .venv/bin/lint-imports; then
  echo "test.sh: import contracts broken (see above)" >&2
  exit 1
fi
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "test.sh: pytest collected no tests" >&2; exit 1; fi
exit $rc
