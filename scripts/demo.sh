#!/usr/bin/env bash
# The demo: start the whole fleet with `levibot up` (seven services, real gRPC, the local Redis
# and PostgreSQL), run `levibot sanity-check` against it, then stop it with SIGINT and check
# that it stopped cleanly within 5 s. Called by `make demo` after set-up and build.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${LEVIBOT_BIN:-target/debug/levibot}"
export LEVIBOT__BUS__REDIS_URL="${LEVIBOT__BUS__REDIS_URL:-redis://127.0.0.1:6379}"
export LEVIBOT__STORE__DATABASE_URL="${LEVIBOT__STORE__DATABASE_URL:-postgres://postgres@127.0.0.1:5432/levibot}"
mkdir -p var
out=var/demo-up.out log=var/demo-up.log

"$BIN" up >"$out" 2>"$log" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' EXIT

for _ in $(seq 300); do
  grep -q '^Ctrl-C' "$out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "demo: levibot up exited early:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
cat "$out"

echo "\$ levibot sanity-check"
ok=0
for _ in $(seq 20); do
  if "$BIN" sanity-check; then ok=1; break; fi
  sleep 0.5
done
[ "$ok" = 1 ] || { echo "demo: the fleet did not pass its sanity-check" >&2; exit 1; }

echo "\$ kill -INT $pid   # what Ctrl-C does"
start=$(date +%s%N)
kill -INT "$pid"
status=0
wait "$pid" || status=$?
trap - EXIT
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$status" -ne 0 ] || [ "$ms" -ge 5000 ]; then
  echo "demo: levibot up exited with $status after $ms ms (want 0 within 5000 ms):" >&2
  tail -20 "$log" >&2
  exit 1
fi
echo "demo: fleet stopped cleanly in $ms ms (logs: $log)"
