#!/usr/bin/env bash
# The HTTP edge of a real daemon (docs/security.md, "The HTTP edge"): a DNS-rebound page (Host of another name), a
# cross-origin simple POST and a foreign preflight are refused with a one-line 403 while a name listed in
# http_allowed_hosts and an origin in http_allowed_origins are served; slow-loris clients from one address do not
# stall the API (a normal client is answered while they trickle) and are closed at http_request_timeout_ms although
# they keep sending; a bad config entry is a one-line error. The daemon serves everyone else throughout.
source "$(dirname "$0")/lib/cluster.bash"
for tool in curl jq python3; do command -v $tool >/dev/null || fail "$tool is missing"; done

# A bad entry in the config: one line naming the key, non-zero exit.
echo '{"http_allowed_origins": ["app.example"]}' >"$TMP/bad.json"
rc=0
err=$("$LLD" --name x --listen tcp://127.0.0.1:1 --no-beacon --http 127.0.0.1:0 --config "$TMP/bad.json" 2>&1) || rc=$?
[[ $rc != 0 && $(wc -l <<<"$err") == 1 && $err == *http_allowed_origins* ]] || fail "bad origin entry: rc $rc, '$err'"
echo "ok: a malformed http_allowed_origins entry is refused ($err)"

assign_ports a
PORT=$(free_ports 1)
cat >"$TMP/a.json" <<JSON
{"http_threads": 2, "http_max_client_connections": 1, "http_request_timeout_ms": 1500,
 "http_allowed_hosts": ["box.lan"], "http_allowed_origins": ["https://app.example"]}
JSON
start_daemon a "" --config "$TMP/a.json" --http "127.0.0.1:$PORT"
wait_for_log "$TMP/a.log" "HTTP API on http://127.0.0.1:$PORT" 20 || fail "the HTTP API did not start"
URL="http://127.0.0.1:$PORT"

# check NAME STATUS CURL-ARGS...: the status, and (for errors) a one-line OpenAI error body.
check() {
  local name=$1 status=$2 got
  shift 2
  got=$(curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@")
  [[ $got == "$status" ]] || fail "$name: HTTP $got, expected $status: $(head -c 300 "$TMP/body")"
  if ((status >= 400)); then
    [[ $(wc -l <"$TMP/body") -le 1 ]] || fail "$name: the error is not one line"
    jq -e '.error.message | type == "string"' "$TMP/body" >/dev/null || fail "$name: not an OpenAI error: $(cat "$TMP/body")"
    echo "ok: $name -> $status: $(jq -r .error.message "$TMP/body")"
  else
    echo "ok: $name -> $status"
  fi
}
C="$URL/v1/completions"
check "DNS rebinding (Host: attacker.example)" 403 -H "Host: attacker.example:$PORT" "$URL/health"
check "DNS rebinding on /v1/models" 403 -H "Host: attacker.example:$PORT" "$URL/v1/models"
check "DNS rebinding POST" 403 -H "Host: attacker.example:$PORT" -H "Content-Type: text/plain" "$C" -d '{"model":"m","prompt":"x"}'
check "own address" 200 "$URL/health"
check "localhost" 200 -H "Host: localhost:$PORT" "$URL/"
check "listed host box.lan" 200 -H "Host: box.lan:$PORT" "$URL/health"
check "cross-origin simple POST" 403 -H "Origin: http://attacker.example" -H "Content-Type: text/plain" "$C" \
  -d '{"model":"m","prompt":"x"}'
check "foreign preflight" 403 -X OPTIONS -H "Origin: http://attacker.example" -H "Access-Control-Request-Method: POST" "$C"
grep -qi '^access-control-allow' "$TMP/headers" && fail "the foreign preflight got CORS headers: $(cat "$TMP/headers")"
check "same-origin POST reaches the parser" 400 -H "Origin: $URL" -H "Content-Type: application/json" "$C" -d '{"model":'
check "listed origin reaches the parser" 400 -H "Origin: https://app.example" "$C" -d '{"model":'

# Slow-loris: three clients from 127.0.0.2 send half a request line and keep trickling one byte whenever the
# server has not closed them within 0.2 s (the wait is on the close event). Meanwhile a normal client from
# 127.0.0.1 asks /health.
python3 - "$PORT" >"$TMP/loris.json" <<'PY' || fail "slow-loris check: $(cat "$TMP/loris.json")"
import http.client, json, select, socket, sys, time
port = int(sys.argv[1])
slow = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /health HT")
    slow.append(s)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
conn.request("GET", "/health")
normal = conn.getresponse().status
def closed(s, wait):
    r, _, _ = select.select([s], [], [], wait)
    while r:  # a 429 comes before the close on the refused ones: read through it
        try:
            if s.recv(4096) == b"":
                return True
        except ConnectionResetError:
            return True
        r, _, _ = select.select([s], [], [], 0)
    return False
open_when_answered = sum(not closed(s, 0) for s in slow)
result = []
for s in slow:
    end = time.monotonic() + 10
    done = False
    while not done and time.monotonic() < end:
        done = closed(s, 0.2)
        if not done:
            try:
                s.sendall(b"x")
            except OSError:
                done = True
    result.append(done)
print(json.dumps({"normal": normal, "open_when_answered": open_when_answered, "closed": result}))
PY
out=$(cat "$TMP/loris.json")
[[ $(jq .normal <<<"$out") == 200 ]] || fail "a normal request was not answered during the slow-loris: $out"
(($(jq .open_when_answered <<<"$out") >= 1)) || fail "no slow client was still open when the normal one was answered: $out"
[[ $(jq -c .closed <<<"$out") == '[true,true,true]' ]] || fail "trickling clients not closed: $out"
echo "ok: slow-loris from one address: a normal client answered while they trickled, all three closed ($out)"
# The operator sees each kind of refusal in the log (rate-limited to one line per reason and address every 10 s).
for line in "refused: Host 'attacker.example:$PORT' is not this server" "refused: cross-origin request from 'http://attacker.example'" \
  "refused: more than 1 connections at once (client 127.0.0.2)" "closed: a request not complete within 1500 ms (client 127.0.0.2)"; do
  wait_for_log "$TMP/a.log" "$line" 5 || fail "no log line '$line'"
done
(($(grep -c "refused: Host 'attacker.example:$PORT'" "$TMP/a.log") == 1)) || fail "refusals not rate-limited"
echo "ok: the refusals are logged, once per reason and address"

kill -0 "${PIDS[a]}" || fail "the daemon died"
check "after all that, the daemon serves" 200 "$URL/health"
