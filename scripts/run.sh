#!/usr/bin/env bash
# Start the action server, Rasa and the alert delivery worker; Ctrl-C (or any one dying) stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MODEL:?set MODEL to a trained model}"
RASA_PORT="${RASA_PORT:-5005}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
mkdir -p var

.venv/bin/rasa run actions --actions actions --port "$ACTIONS_PORT" &
actions_pid=$!
# Rasa's HTTP API can send messages on any channel: in production set RASA_AUTH_TOKEN.
auth=()
[ -n "${RASA_AUTH_TOKEN:-}" ] && auth=(--auth-token "$RASA_AUTH_TOKEN")
.venv/bin/rasa run --model "$MODEL" --enable-api "${auth[@]}" --cors "*" --port "$RASA_PORT" \
  --endpoints endpoints.yml --credentials credentials.yml &
rasa_pid=$!
# Delivers crisis alerts from the outbox to clinical contacts (python -m bot.escalation --help).
.venv/bin/python -m bot.escalation deliver --loop &
alerts_pid=$!

stop() { kill "$actions_pid" "$rasa_pid" "$alerts_pid" 2>/dev/null || true; wait 2>/dev/null || true; }
trap 'stop; exit 0' INT TERM
trap stop EXIT

for _ in $(seq 1 180); do
  if curl -fs "http://localhost:$RASA_PORT/status" >/dev/null 2>&1; then
    echo
    echo "The assistant is running:"
    echo "  REST:       POST http://localhost:$RASA_PORT/webhooks/rest/webhook  {\"sender\": \"me\", \"message\": \"hi\"}"
    echo "  Web chat:   socket.io at http://localhost:$RASA_PORT/socket.io"
    echo "  Actions:    http://localhost:$ACTIONS_PORT/health"
    echo "Press Ctrl-C to stop."
    break
  fi
  kill -0 "$rasa_pid" 2>/dev/null || { echo "Rasa failed to start" >&2; exit 1; }
  sleep 1
done
wait -n "$actions_pid" "$rasa_pid" "$alerts_pid"
