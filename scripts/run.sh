#!/usr/bin/env bash
# Start Rasa, and supervise the action server and the alert delivery worker: either is restarted with
# back-off if it dies, and neither takes Rasa down with it (crisis answers need neither; undelivered
# alerts wait in the outbox). Rasa stopping stops everything.
# Closed by default: everything listens on loopback (ASSISTANT_BIND_HOST), Rasa's HTTP API needs
# RASA_AUTH_TOKEN and the action server ACTION_SERVER_TOKEN (generated under var/ in development).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MODEL:?set MODEL to a trained model}"
RASA_PORT="${RASA_PORT:-5005}"
export ACTIONS_PORT="${ACTIONS_PORT:-5055}"
mkdir -p var

# Production refuses to start with a missing secret, a public bind without TLS, CORS "*", …
.venv/bin/python -m bot.config check
eval "$(.venv/bin/python -m bot.config shell)"
IFS=, read -r -a origins <<< "$WEBCHAT_ORIGINS"  # comma-separated, as bot/config.py reads it

# Runs a helper process for ever: restarted with back-off (1 s doubling to 60 s) whenever it stops.
supervise() {
  local name=$1 delay=1 child=
  shift
  trap 'kill $child 2>/dev/null; exit 0' TERM
  while true; do
    "$@" &
    child=$!
    wait "$child" && delay=1
    echo "$name stopped; restarting in ${delay}s" >&2
    sleep "$delay" & wait $!  # waiting on a child lets a TERM (Ctrl-C) through at once
    delay=$(( delay < 60 ? delay * 2 : 60 ))
  done
}

supervise "The action server" .venv/bin/python -m bot.action_server --host "$ASSISTANT_BIND_HOST" --port "$ACTIONS_PORT" &
actions_pid=$!
.venv/bin/rasa run --model "$MODEL" --interface "$ASSISTANT_BIND_HOST" --port "$RASA_PORT" \
  --enable-api --auth-token "$RASA_AUTH_TOKEN" --cors "${origins[@]}" \
  --endpoints endpoints.yml --credentials credentials.yml &
rasa_pid=$!
# Delivers crisis alerts from the outbox to clinical contacts (python -m bot.escalation --help).
supervise "The alert delivery worker (alerts wait in the outbox)" .venv/bin/python -m bot.escalation deliver --loop &
alerts_pid=$!
# The demo page with the chat widget (web/), and the urgent-help page.
export WEB_PORT="${WEB_PORT:-8080}" WEBCHAT_SERVER_URL="${WEBCHAT_SERVER_URL:-http://localhost:$RASA_PORT}"
supervise "The chat page server" .venv/bin/python -m bot.web --host "$ASSISTANT_BIND_HOST" --port "$WEB_PORT" &
web_pid=$!

stop() {
  kill "$actions_pid" "$rasa_pid" "$alerts_pid" "$web_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

for _ in $(seq 1 240); do
  if curl -fs "http://127.0.0.1:$RASA_PORT/webhooks/rest/" >/dev/null 2>&1; then
    echo
    echo "The assistant is running (on $ASSISTANT_BIND_HOST only):"
    echo "  REST:       POST http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook  {\"sender\": \"me\", \"message\": \"hi\"}"
    echo "  Web chat:   http://localhost:$WEB_PORT/ (the widget talks to socket.io at $WEBCHAT_SERVER_URL; pages from: $WEBCHAT_ORIGINS)"
    echo "  Rasa API:   needs ?token=\$(.venv/bin/python -m bot.config secret rasa-auth-token)"
    echo "Press Ctrl-C to stop."
    break
  fi
  kill -0 "$rasa_pid" 2>/dev/null || { echo "Rasa failed to start" >&2; exit 1; }
  sleep 1
done
wait "$rasa_pid"
