#!/usr/bin/env bash
# Register an instance with roster's HTTP gateway, heartbeat it, read the list (plain and
# blocking), watch it over Server-Sent Events, and deregister; curl and POSIX tools only.
#
#   bash register_and_watch.sh [HTTP_BASE] [SERVICE]
#
# HTTP_BASE is the gateway's address as `roster dev` prints it (`http http://ADDR`), or the
# ROSTER_HTTP environment variable; SERVICE defaults to example.curl.
set -euo pipefail

BASE="${1:-${ROSTER_HTTP:-}}"
SVC="${2:-example.curl}"
if [ -z "$BASE" ]; then
  echo "usage: register_and_watch.sh HTTP_BASE [SERVICE]  (or set ROSTER_HTTP)" >&2
  exit 2
fi
BASE="${BASE%/}"
INSTANCE="$BASE/v1/services/$SVC/instances/curl-1"

# -f: fail on an HTTP error; errors are JSON ({"code", "message"}) on stderr with -S.
put() { curl -fsS -X PUT -H 'Content-Type: application/json' "$@"; echo; }
version_of() { sed -n 's/.*"version":"\([0-9]*\.[0-9]*\)".*/\1/p'; }

echo "register: $(put "$INSTANCE" -d '{"payload":"10.0.0.3:8080","attributes":{"lang":"sh"},"ttl_ms":10000}')"
echo "heartbeat: $(put "$INSTANCE/heartbeat")"

LIST=$(curl -fsS "$BASE/v1/services/$SVC")
echo "list: $LIST"
VERSION=$(printf '%s' "$LIST" | version_of)

# A blocking query: answers when the version differs from $VERSION, or after 2 s unchanged.
echo "blocking: $(curl -fsS "$BASE/v1/services/$SVC?index=$VERSION&wait=2s")"

# The SSE watch: the current list first, then one event per new list. curl streams into
# file descriptor 3; each `next_list` reads up to the next event's data.
exec 3< <(exec curl -fsSN --max-time 60 "$BASE/v1/services/$SVC/watch")
WATCH=$!
next_list() {
  local line
  while IFS= read -r line <&3; do
    case "$line" in
      data:*) echo "${line#data: }"; return 0 ;;
    esac
  done
  return 1
}
echo "watch: $(next_list)"
echo "register: $(put "$BASE/v1/services/$SVC/instances/curl-2" -d '{"payload":"10.0.0.4:8080","ttl_ms":5000}')"
echo "watch: $(next_list)"
kill "$WATCH" 2>/dev/null || true
exec 3<&-

curl -fsS -X DELETE -o /dev/null -w 'deregister: %{http_code}\n' "$BASE/v1/services/$SVC/instances/curl-2"
curl -fsS -X DELETE -o /dev/null -w 'deregister: %{http_code}\n' "$INSTANCE"
# Gone: a heartbeat now answers 404 with a JSON error.
curl -sS -X PUT -w ' %{http_code}\n' "$INSTANCE/heartbeat"
