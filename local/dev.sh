#!/usr/bin/env bash
# `make dev`: the whole product on this machine, no AWS or Twilio account needed.
#   DynamoDB      moto under one lock (flex_handoff_dev.moto_atomic), table from template.yaml's schema
#   Twilio        flex_handoff_dev.local_twilio: keeps the chats, messages, webhooks and tasks the functions
#                 make, checks every request first with Prism mocks of Twilio's official OpenAPI
#                 specs, and calls the chat-end webhook, signed, when the agent ends a chat
#   functions     all five under `cargo lambda watch`, env from local/dev.env plus local endpoints
#   gateway       flex_handoff_dev.gateway: the API's routes and the demo page, one origin
#   reconciler    reconcile-chats every minute (EventBridge's schedule in AWS); `make reconcile` once
# Ports can be moved with DEV_PORT, DEV_LAMBDA_PORT, DEV_DYNAMODB_PORT, DEV_TWILIO_PORT and
# DEV_PRISM_PORT (five from there); a port in use stops the start with a clear message.
# MODE=conversations|interactions|chat picks the Flex mode (default: local/dev.env's).
# LOCAL_TWILIO=real / LOCAL_AWS=real use real Twilio / AWS instead (see README). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."

gateway_port=${DEV_PORT:-8080}
lambda_port=${DEV_LAMBDA_PORT:-9000}
dynamodb_port=${DEV_DYNAMODB_PORT:-8000}
twilio_port=${DEV_TWILIO_PORT:-4010}
prism_port=${DEV_PRISM_PORT:-4011}
local_twilio=${LOCAL_TWILIO:-mock}
local_aws=${LOCAL_AWS:-mock}
run_dir=local/run
mkdir -p "$run_dir"

ports=("$gateway_port" "$lambda_port")
[ "$local_aws" = mock ] && ports+=("$dynamodb_port")
[ "$local_twilio" = mock ] && ports+=("$twilio_port" $((prism_port)) $((prism_port + 1)) $((prism_port + 2)) $((prism_port + 3)) $((prism_port + 4)))
for port in "${ports[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "error: port $port is already in use; stop what uses it or move it (see local/dev.sh)" >&2
    exit 1
  fi
done

pids=()
start() { # name command...: runs in its own process group, output to local/run/<name>.log
  local name=$1; shift
  setsid "$@" > "$run_dir/$name.log" 2>&1 &
  pids+=("$!")
}
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_for_port() { # port name seconds
  for _ in $(seq 1 $(($3 * 10))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "error: $2 did not start on port $1; see $run_dir/$2.log" >&2
  exit 1
}

overrides=()
if [ -n "${MODE:-}" ]; then
  case "$MODE" in
    conversations|interactions|chat) overrides+=("FLEX_MODE=$MODE") ;;
    *) echo "error: MODE must be conversations, interactions or chat, not $MODE" >&2; exit 1 ;;
  esac
fi
if [ "$local_aws" = mock ]; then
  start dynamodb python3 -m flex_handoff_dev.moto_atomic -H 127.0.0.1 -p "$dynamodb_port"
  wait_for_port "$dynamodb_port" dynamodb 30
  table=$(grep '^CHANNELS_TABLE=' local/dev.env | cut -d= -f2)
  python3 -m flex_handoff_dev.create_table "http://127.0.0.1:$dynamodb_port" "$table"
  overrides+=("AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$dynamodb_port" AWS_REGION=us-east-1
              AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local)
else
  for var in AWS_REGION AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN CHANNELS_TABLE; do
    [ -n "${!var:-}" ] && overrides+=("$var=${!var}")
  done
fi

if [ "$local_twilio" = mock ]; then
  specs=tools/npm/node_modules/@twilio-alpha/mcp/twilio-oai/spec/json
  names=(flex_v1 flex_v2 chat_v2 conversations_v1 taskrouter_v1)
  prism_urls=()
  for i in 0 1 2 3 4; do
    start "prism-${names[$i]}" tools/npm/node_modules/.bin/prism mock -h 127.0.0.1 -p $((prism_port + i)) "$specs/twilio_${names[$i]}.json"
    prism_urls+=("http://127.0.0.1:$((prism_port + i))")
  done
  for i in 0 1 2 3 4; do wait_for_port $((prism_port + i)) "prism-${names[$i]}" 60; done
  auth_token=$(grep '^TWILIO_AUTH_TOKEN=' local/dev.env | cut -d= -f2)
  start twilio python3 -m flex_handoff_dev.local_twilio "$twilio_port" "$auth_token" "${prism_urls[@]}"
  wait_for_port "$twilio_port" twilio 10
  for var in TWILIO_FLEX_API_URL TWILIO_CHAT_API_URL TWILIO_CONVERSATIONS_API_URL TWILIO_TASKROUTER_API_URL; do
    overrides+=("$var=http://127.0.0.1:$twilio_port")
  done
  # The local Twilio calls the chat-end webhook where Twilio would: the API's public route.
  overrides+=("TWILIO_WEBHOOK_URL=http://127.0.0.1:$gateway_port/twilio/webhook")
else
  for var in TWILIO_ACCOUNT_SID TWILIO_API_KEY_SID TWILIO_API_KEY_SECRET TWILIO_AUTH_TOKEN \
             TWILIO_CHAT_SERVICE_SID TWILIO_FLEX_ADDRESS_SID TWILIO_FLEX_FLOW_SID FLEX_MODE TWILIO_WEBHOOK_URL; do
    [ -n "${!var:-}" ] && overrides+=("$var=${!var}")
  done
fi

# The functions' environment: local/dev.env with the overrides replacing its lines.
env_file="$run_dir/functions.env"
grep -v '^#' local/dev.env | grep -v '^$' > "$env_file.base"
for pair in "${overrides[@]}"; do
  grep -v "^${pair%%=*}=" "$env_file.base" > "$env_file.tmp" || true
  mv "$env_file.tmp" "$env_file.base"
done
{ cat "$env_file.base"; printf '%s\n' "${overrides[@]}"; } > "$env_file"
rm -f "$env_file.base"
chmod 600 "$env_file"

start functions cargo lambda watch -A 127.0.0.1 -P "$lambda_port" --env-file "$env_file"
wait_for_port "$lambda_port" functions 120
mode=$(grep '^FLEX_MODE=' "$env_file" | tail -1 | cut -d= -f2)
service=$(grep '^TWILIO_CHAT_SERVICE_SID=' "$env_file" | tail -1 | cut -d= -f2)
twilio_url=""
[ "$local_twilio" = mock ] && twilio_url="http://127.0.0.1:$twilio_port"
start gateway python3 -m flex_handoff_dev.gateway "$gateway_port" "http://127.0.0.1:$lambda_port/lambda-url" \
  "{\"twilio\": \"$local_twilio\", \"mode\": \"${mode:-conversations}\", \"chatServiceSid\": \"$service\", \"twilioUrl\": \"$twilio_url\", \"availabilityPollSeconds\": 2}"
wait_for_port "$gateway_port" gateway 10

# EventBridge's part: the reconciler every minute, as the template's schedule runs it (answers in
# local/run/reconciler.log); `make reconcile` runs it once more on demand.
start reconciler bash -c "while sleep 60; do curl -s -X POST -d @events/reconcile-scheduled.json \
  http://127.0.0.1:$lambda_port/2015-03-31/functions/reconcile-chats/invocations; echo; done"

echo "compiling and warming up the functions (the first request to each builds it)..."
api="http://127.0.0.1:$gateway_port"
for _ in $(seq 1 600); do
  token_json=$(curl -sf -X POST "$api/token" 2>/dev/null) && break
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "error: a service stopped; see $run_dir/*.log" >&2; exit 1; }
  done
  sleep 1
done
[ -n "${token_json:-}" ] || { echo "error: generate-token did not answer; see $run_dir/functions.log" >&2; exit 1; }
curl -s -o /dev/null -X POST "$api/channel" || true
curl -s -o /dev/null -X POST "$api/twilio/webhook" || true
curl -s -o /dev/null -X POST "$api/graphql" || true

cat <<MSG

flex-handoff is running (logs in $run_dir/):
  demo page + API   $api/            POST /token, /channel, /graphql, /twilio/webhook; GET /availability
  agent's page      $api/agent       (with the local Twilio: tasks, replies, End chat)
  functions         http://127.0.0.1:$lambda_port/lambda-url/<function>/   (cargo lambda watch)
  reconciler        every minute (local/run/reconciler.log); once more: make reconcile
MSG
[ "$local_aws" = mock ] && echo "  DynamoDB          http://127.0.0.1:$dynamodb_port   (moto, one request at a time: flex_handoff_dev.moto_atomic; table ${table})"
[ "$local_twilio" = mock ] && echo "  Twilio (local)    http://127.0.0.1:$twilio_port   (flex_handoff_dev.local_twilio; Prism on $prism_port-$((prism_port + 4)) checks each request against Twilio's specs; agent's side: $twilio_port/local/tasks)"
cat <<MSG

Try: open $api/ and press "Talk to agent", or run local/smoke.sh.
A token from generate-token: $token_json
ready
MSG
# Stay up until Ctrl-C, or until a service dies.
wait -n "${pids[@]}" || true
echo "error: a service stopped; see $run_dir/*.log" >&2
exit 1
