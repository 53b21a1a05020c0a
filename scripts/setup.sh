#!/usr/bin/env bash
# One set-up for `make demo`, `make test` and the Dockerfile: Debian packages, a reachable
# PostgreSQL with PostGIS and pgRouting, the virtual environment, the database and its schema.
# Safe to re-run: every step checks first and does nothing when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_VERSION="${PG_VERSION:-15}"
DB_URL="${LOCUS_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/locus}"
WITH_BROWSER="${WITH_BROWSER:-0}"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages ${missing[*]}; run as root or install them first" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- Debian packages -------------------------------------------------------------------------
apt_install "postgresql-$PG_VERSION" "postgresql-$PG_VERSION-postgis-3" \
  "postgresql-$PG_VERSION-pgrouting" gdal-bin python3-venv poppler-utils
# Node.js and chromium may come from elsewhere than Debian (e.g. a NodeSource node with its
# own npm): install Debian's only when the command is missing.
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_install "${2:-$1}"; }
if [ "$WITH_BROWSER" = 1 ]; then need_cmd chromium; fi

# --- PostgreSQL reachable on the URL's host and port -----------------------------------------
PG_HOST=$(python3 -c "from urllib.parse import urlsplit as u; print(u('$DB_URL').hostname or '127.0.0.1')")
PG_PORT=$(python3 -c "from urllib.parse import urlsplit as u; print(u('$DB_URL').port or 5432)")
if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    say "creating PostgreSQL $PG_VERSION cluster 'main' (trust auth on loopback)"
    pg_createcluster "$PG_VERSION" main -p "$PG_PORT" -- --auth-local=trust --auth-host=trust >/dev/null
  fi
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(pg_lsclusters -h | awk 'NR==1{print $1}')" \
    "$(pg_lsclusters -h | awk 'NR==1{print $2}')" start || true
  for _ in $(seq 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 1; done
  pg_isready -h "$PG_HOST" -p "$PG_PORT"
fi

# --- Python virtual environment --------------------------------------------------------------
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.locus-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages"
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/pip install -q -e '.[dev]' 2>&1 | grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' || true
  .venv/bin/python -c "import app, spatial, etl, store, config, highspy, osmium, numba" \
    || { echo "setup: Python packages failed to install" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# --- the web map's front-end packages (built when sources exist) -----------------------------
if [ -f app/web/package.json ]; then
  need_cmd node nodejs
  need_cmd npm
  if [ ! -d app/web/node_modules ] || [ app/web/package-lock.json -nt app/web/node_modules ]; then
    say "installing front-end packages"
    # Not `npm ci`: the lock file is written without registry addresses, and npm then omits
    # other platforms' optional packages from it, which `npm ci` rejects. `install --no-save`
    # installs exactly the locked versions and leaves the lock file untouched.
    (cd app/web && npm install --no-save --no-audit --no-fund --loglevel=error)
  fi
  # The client's API types are generated from the OpenAPI, so a change to the API's Python
  # rebuilds it as well as a change to its own sources.
  if [ ! -f app/web/dist/index.html ] || [ -n "$(find app/web/src app/web/index.html app/web/package.json app -name node_modules -prune -o -newer app/web/dist/index.html \( -name '*.ts' -o -name '*.html' -o -name '*.py' -o -name package.json \) -print 2>/dev/null | grep -v '^app/web/src/api-types.ts$' | head -1)" ]; then
    say "building the web map"
    (cd app/web && npm run build --silent)
  fi
fi

# --- the database and its schema -------------------------------------------------------------
if [ "${SKIP_DB:-0}" != 1 ]; then
  .venv/bin/python -m app.cli db-create
  say "migrating $(.venv/bin/python -c "from config import load_settings as s; print(s().database.name)") to head"
  .venv/bin/alembic upgrade head
fi
say "ready"
