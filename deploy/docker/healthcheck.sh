#!/usr/bin/env bash
# Container healthcheck for the LeviBot images (Docker / docker compose only; Kubernetes
# uses native gRPC probes against grpc.health.v1.Health instead).
#
# The runtime image has no curl and no grpc_health_probe, so this uses bash's /dev/tcp to
# send `GET /metrics` to the service's Prometheus endpoint and expects an HTTP 200: the
# process is up and its metrics server answers.
#
# Port: the first argument, else $LEVIBOT_HEALTHCHECK_PORT, else METRICS_PORT from
# /usr/local/share/levibot/image.env (written at image build time). Override it when
# services.<name>.metrics_listen is changed to another port.
set -euo pipefail

port="${1:-${LEVIBOT_HEALTHCHECK_PORT:-}}"
if [[ -z "${port}" && -r /usr/local/share/levibot/image.env ]]; then
  port="$(sed -n 's/^METRICS_PORT=//p' /usr/local/share/levibot/image.env)"
fi
if [[ ! "${port}" =~ ^[0-9]+$ ]]; then
  echo "healthcheck: no metrics port known" >&2
  exit 1
fi

exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "${port}" >&3
status_line=""
IFS= read -r -t 4 status_line <&3 || true
exec 3>&-

if [[ "${status_line}" =~ ^HTTP/1\.[01]\ 200 ]]; then
  exit 0
fi
echo "healthcheck: GET http://127.0.0.1:${port}/metrics answered '${status_line%$'\r'}'" >&2
exit 1
