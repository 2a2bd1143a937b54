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
# Every process logs in LOG_FORMAT (text, or json: one object a line) at LOG_LEVEL (bot/logs.py). Checked
# here because Rasa would silently ignore logging.yml if they were wrong.
.venv/bin/python -m bot.logs check
export LOG_FORMAT="${LOG_FORMAT:-text}"
eval "$(.venv/bin/python -m bot.config shell)"
IFS=, read -r -a origins <<< "$WEBCHAT_ORIGINS"  # comma-separated, as bot/config.py reads it
export WEB_PORT="${WEB_PORT:-8080}" WEBCHAT_SERVER_URL="${WEBCHAT_SERVER_URL:-http://localhost:$RASA_PORT}"

# One line of this script's own output, in LOG_FORMAT as the Python processes write it: `say LEVEL MESSAGE`.
say() {
  local level=$1 message=$2
  if [[ $LOG_FORMAT == json ]]; then
    message=${message#"${message%%[! ]*}"}  # no indentation inside JSON
    message=${message//\\/\\\\}
    message=${message//\"/\\\"}
    printf '{"time": "%s", "level": "%s", "logger": "run.sh", "message": "%s", "process": "run.sh"}\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%S.%3N+00:00)" "$level" "$message"
  else
    printf '%s\n' "$message"
  fi
}

# Runs a helper process for ever: restarted with back-off (1 s doubling to 60 s) whenever it stops.
supervise() {
  local name=$1 delay=1 child=
  shift
  trap 'kill $child 2>/dev/null; exit 0' TERM
  while true; do
    "$@" &
    child=$!
    wait "$child" && delay=1
    say WARNING "$name stopped; restarting in ${delay}s" >&2
    sleep "$delay" & wait $!  # waiting on a child lets a TERM (Ctrl-C) through at once
    delay=$(( delay < 60 ? delay * 2 : 60 ))
  done
}

say INFO "Starting the assistant on $ASSISTANT_BIND_HOST: Rasa on port $RASA_PORT (loading $MODEL takes a minute \
or so), the action server on $ACTIONS_PORT, the chat page on $WEB_PORT and the alert delivery worker."
supervise "The action server" .venv/bin/python -m bot.action_server --host "$ASSISTANT_BIND_HOST" --port "$ACTIONS_PORT" &
actions_pid=$!
.venv/bin/rasa run --model "$MODEL" --interface "$ASSISTANT_BIND_HOST" --port "$RASA_PORT" \
  --enable-api --auth-token="$RASA_AUTH_TOKEN" --cors "${origins[@]}" \
  --endpoints endpoints.yml --credentials credentials.yml --logging-config-file logging.yml &
rasa_pid=$!
# Delivers crisis alerts from the outbox to clinical contacts (python -m bot.escalation --help).
supervise "The alert delivery worker (alerts wait in the outbox)" .venv/bin/python -m bot.escalation deliver --loop &
alerts_pid=$!
# The demo page with the chat widget (web/), and the urgent-help page.
supervise "The chat page server" .venv/bin/python -m bot.web --host "$ASSISTANT_BIND_HOST" --port "$WEB_PORT" &
web_pid=$!

stop() {
  kill "$actions_pid" "$rasa_pid" "$alerts_pid" "$web_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# Whether a helper answers (or runs) by the time Rasa is up; a NOT UP one is being restarted with back-off.
health() { if "$@" >/dev/null 2>&1; then echo "up    "; else echo "NOT UP"; fi; }

for _ in $(seq 1 240); do
  if curl -fs "http://127.0.0.1:$RASA_PORT/webhooks/rest/" >/dev/null 2>&1; then
    actions=$(health curl -fs "http://127.0.0.1:$ACTIONS_PORT/health")
    page=$(health curl -fs "http://127.0.0.1:$WEB_PORT/help")
    worker=$(health pgrep -P "$alerts_pid" -f bot.escalation)
    [[ $LOG_FORMAT == json ]] || echo
    say INFO "The assistant is running (on $ASSISTANT_BIND_HOST only):"
    say INFO "  up      Rasa           http://127.0.0.1:$RASA_PORT  (model $MODEL)"
    say INFO "  $actions  Action server  http://127.0.0.1:$ACTIONS_PORT  (answers only Rasa)"
    say INFO "  $page  Chat page      http://localhost:$WEB_PORT/  (the widget talks to socket.io at $WEBCHAT_SERVER_URL; pages from: $WEBCHAT_ORIGINS)"
    say INFO "  $worker  Alert worker   delivers crisis alerts from the outbox to clinical contacts"
    [[ $actions$page$worker != *NOT* ]] || say WARNING "NOT UP: being restarted with back-off; its errors are above" >&2
    say INFO "  REST:     POST http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook  {\"sender\": \"me\", \"message\": \"hi\"}"
    say INFO "  Rasa API: needs ?token=\$(.venv/bin/python -m bot.config secret rasa-auth-token)"
    say INFO "  Logs:     $LOG_FORMAT (LOG_FORMAT=json: one JSON object a line)"
    say INFO "Press Ctrl-C to stop."
    break
  fi
  kill -0 "$rasa_pid" 2>/dev/null || { say ERROR "Rasa failed to start" >&2; exit 1; }
  sleep 1
done
wait "$rasa_pid"
