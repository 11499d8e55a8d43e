#!/usr/bin/env bash
# Runs the functions locally under `cargo lambda watch` with the throwaway values of
# local/dev.env, sends an example request, prints the token, and serves until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${DEV_PORT:-9000}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "error: port $port is already in use; set DEV_PORT to another port" >&2
  exit 1
fi

cargo lambda watch -A 127.0.0.1 -P "$port" --env-file local/dev.env &
watch_pid=$!
trap 'kill "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null' EXIT INT TERM

url="http://127.0.0.1:$port/lambda-url/generate-token/"
echo "waiting for cargo lambda watch on $port (the first request compiles the function)..."
for _ in $(seq 1 600); do
  if response=$(curl -sf -X POST -H 'content-type: application/json' "$url" 2>/dev/null); then
    break
  fi
  kill -0 "$watch_pid" 2>/dev/null || { echo "error: cargo lambda watch stopped" >&2; exit 1; }
  sleep 1
done
[ -n "${response:-}" ] || { echo "error: no answer from $url" >&2; exit 1; }

cat <<MSG

generate-token answered POST $url:
$response

Try it yourself:
  curl -s -X POST $url
  curl -s -X POST -H "authorization: Bearer <token from above>" $url   # refresh, same identity
  curl -s -X POST -d '{"identity":"admin"}' $url                       # 400 identity_not_allowed

Serving until Ctrl-C.
MSG
wait "$watch_pid"
