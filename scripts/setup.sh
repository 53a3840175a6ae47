#!/usr/bin/env bash
# Installs what LeviBot's build, tests and demo need on a Debian 12 machine, only where it is
# missing, and starts Redis and PostgreSQL when they are not running. Idempotent: a second run
# changes nothing. Run as root (or with sudo available).
#
#   apt:    build tools, pkg-config, libclang-dev (LightGBM bindings), python3-venv,
#           redis-server, postgresql
#   rust:   the toolchain pinned in rust-toolchain.toml (rustup), cargo-nextest
#   venv:   ONNX Runtime's shared library (PyPI onnxruntime) and CMake >= 3.28 (LightGBM's
#           build) in $LEVIBOT_VENV (default /opt/levibot/venv)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${LEVIBOT_VENV:-/opt/levibot/venv}"
ORT_VERSION="1.31.1"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: run as root (or install sudo): packages must be installed" >&2; exit 1
  fi
fi
say() { echo "setup: $*"; }

# --- Debian packages ---------------------------------------------------------------------
APT_PACKAGES=(build-essential pkg-config curl ca-certificates git python3 python3-venv
              libclang-dev redis-server redis-tools postgresql postgresql-client)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# python3/redis/postgres may come from elsewhere (pyenv, source builds): the command is enough.
filtered=()
for pkg in "${missing[@]}"; do
  case "$pkg" in
    python3) command -v python3 >/dev/null || filtered+=("$pkg") ;;
    python3-venv) python3 -m venv --help >/dev/null 2>&1 || filtered+=("$pkg") ;;
    redis-server) command -v redis-server >/dev/null || filtered+=("$pkg") ;;
    redis-tools) command -v redis-cli >/dev/null || filtered+=("$pkg") ;;
    postgresql) ls /etc/postgresql/*/main >/dev/null 2>&1 || filtered+=("$pkg") ;;
    postgresql-client) command -v psql >/dev/null || filtered+=("$pkg") ;;
    *) filtered+=("$pkg") ;;
  esac
done
FRESH_POSTGRES=0
if [ "${#filtered[@]}" -gt 0 ]; then
  say "installing ${filtered[*]}"
  [[ " ${filtered[*]} " == *" postgresql "* ]] && FRESH_POSTGRES=1
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
fi

# --- Rust --------------------------------------------------------------------------------
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  say "installing rustup and the pinned toolchain"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
  export PATH="$HOME/.cargo/bin:$PATH"
fi
cargo --version >/dev/null  # rustup installs the rust-toolchain.toml channel on first use
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# --- ONNX Runtime and CMake (Python venv) ------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  $SUDO mkdir -p "$(dirname "$VENV")"
  $SUDO python3 -m venv "$VENV"
fi
if ! ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* >/dev/null 2>&1; then
  say "installing onnxruntime $ORT_VERSION into $VENV"
  $SUDO "$VENV/bin/pip" install -q "onnxruntime==$ORT_VERSION"
fi
if ! "$VENV/bin/cmake" --version 2>/dev/null | grep -qE 'version 3\.(2[89]|3[0-9])'; then
  say "installing cmake>=3.28,<4 into $VENV"
  $SUDO "$VENV/bin/pip" install -q 'cmake>=3.28,<4'
fi

# --- Redis -------------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  say "starting redis on 127.0.0.1:6379"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/levibot.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "setup: redis did not start" >&2; exit 1; }

# --- PostgreSQL --------------------------------------------------------------------------
PG_VERSION="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1 || true)"
if [ "$FRESH_POSTGRES" = 1 ] && [ -n "$PG_VERSION" ]; then
  # A cluster this script just installed: let local TCP clients in without a password, as
  # the tests and the demo expect (a machine you already run PostgreSQL on is left alone).
  HBA="/etc/postgresql/$PG_VERSION/main/pg_hba.conf"
  if ! grep -q "levibot: local trust" "$HBA"; then
    say "allowing trust auth for 127.0.0.1 and ::1 in $HBA"
    $SUDO sed -i '1i # levibot: local trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$HBA"
  fi
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  [ -n "$PG_VERSION" ] || { echo "setup: no PostgreSQL cluster found" >&2; exit 1; }
  say "starting postgresql $PG_VERSION"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start
  for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
elif [ "$FRESH_POSTGRES" = 1 ]; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main reload
fi
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "setup: postgresql did not start" >&2; exit 1; }
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  echo "setup: cannot connect as postgres@127.0.0.1 without a password; set" \
       "LEVIBOT_TEST_DATABASE_URL and LEVIBOT__STORE__DATABASE_URL to a URL that works" >&2
  exit 1
fi
if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'levibot'")" != 1 ]; then
  say "creating database levibot"
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database levibot' >/dev/null
fi
say "ready (redis 127.0.0.1:6379, postgresql 127.0.0.1:5432, onnxruntime in $VENV)"
