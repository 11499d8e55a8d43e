#!/usr/bin/env bash
# Presses "Talk to agent" with curl against a running `make dev` stack: prints the token's
# identity, the channel SID, and the DynamoDB record. Same ports as dev.sh (DEV_PORT, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
api="http://127.0.0.1:${DEV_PORT:-8080}"
dynamodb="http://127.0.0.1:${DEV_DYNAMODB_PORT:-8000}"
table=$(grep '^CHANNELS_TABLE=' local/dev.env | cut -d= -f2)
field() { python3 -c "import json,sys; v = json.load(sys.stdin)[sys.argv[1]]; print(json.dumps(v) if isinstance(v, bool) else v)" "$1"; }

token_json=$(curl -sS --fail-with-body -X POST "$api/token")
token=$(field token <<< "$token_json")
identity=$(field identity <<< "$token_json")
echo "identity:    $identity"

channel_json=$(curl -sS --fail-with-body -X POST -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"friendlyName":"Smoke Test"}' "$api/channel")
echo "channel:     $(field channelSid <<< "$channel_json") (reused: $(field reused <<< "$channel_json"))"

again=$(curl -sS --fail-with-body -X POST -H "authorization: Bearer $token" "$api/channel")
echo "pressed again: $(field channelSid <<< "$again") (reused: $(field reused <<< "$again"))"

echo "DynamoDB:    $(python3 -m flex_handoff_dev.records "$dynamodb" "$table" "$identity")"
