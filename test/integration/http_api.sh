#!/usr/bin/env bash
# The HTTP API on a real three-daemon cluster (docs/http.md): the official `openai` npm client streams a completion
# and a chat completion (greedy) from one daemon's --http and gets exactly what `llctl generate` prints; bad input
# (malformed JSON, wrong or missing token, a huge body, an unknown model, a prompt over the context, out-of-range
# fields) is a 4xx in OpenAI's error shape and the daemon keeps serving; stop sequences cut the text; a client that
# leaves mid-stream frees the session on every stage; /metrics carries the cluster's counters; headless Chromium
# loads the topology page, waits for the three devices and saves a screenshot to <build>/artifacts/.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
HTTP_DIR="$LL_SOURCE_DIR/test/http"
ARTIFACTS="$LL_BUILD_DIR/artifacts"
mkdir -p "$ARTIFACTS"
for tool in node npm curl jq; do command -v $tool >/dev/null || fail "$tool is missing (./scripts/build installs it)"; done
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || fail "chromium is missing (./scripts/build installs it)"

# The npm packages, from package-lock.json (reinstalled only when the lock file changed).
stamp=$(sha256sum "$HTTP_DIR/package-lock.json" | cut -d' ' -f1)
if [[ $(cat "$HTTP_DIR/node_modules/.ll-stamp" 2>/dev/null) != "$stamp" ]]; then
  (cd "$HTTP_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$TMP/npm.log" 2>&1 || { cat "$TMP/npm.log"; fail "npm ci"; }
  echo "$stamp" >"$HTTP_DIR/node_modules/.ll-stamp"
fi

# Beyond loopback without a token: refused at start, one line, non-zero exit.
rc=0
err=$("$LLD" --name x --listen tcp://127.0.0.1:1 --no-beacon --http 0.0.0.0:8080 2>&1) || rc=$?
[[ $rc != 0 && $(wc -l <<<"$err") == 1 && $err == *http_token* ]] || fail "non-loopback bind without a token: rc $rc, '$err'"
echo "ok: a non-loopback bind without a token is refused ($err)"

NAMES=(a b c)
assign_ports "${NAMES[@]}"
HTTP_PORT=$(free_ports 1)
TOKEN="test-token-$RANDOM$RANDOM-0123456789"
echo "{\"http_token\": \"$TOKEN\"}" >"$TMP/a.json"
PEERS=$(all_endpoints "${NAMES[@]}")
# The plan admits 3 generations at once (three concurrent completions below): KV for 3 sessions on every stage.
# 1400000 B each: no two devices hold the model with that KV (3.2 MB), three do.
start_daemon a "$PEERS" --memory-budget 1400000B --config "$TMP/a.json" --http "127.0.0.1:$HTTP_PORT"
start_daemon b "$PEERS" --memory-budget 1400000B
start_daemon c "$PEERS" --memory-budget 1400000B
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
"$LLCTL" --endpoint "$(endpoint a)" load --max-sessions 3 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
stages=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq '.stages | length')
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages"
URL="http://127.0.0.1:$HTTP_PORT"
AUTH=(-H "Authorization: Bearer $TOKEN")

PROMPT="Once upon a time"
CHAT_CONTENT="Tell me a story about a dog"
CHAT_PROMPT=$'User: Tell me a story about a dog\nAssistant:'  # the chat template of docs/http.md
MAX=48
want=$("$LLCTL" --endpoint "$(endpoint b)" generate --json --max-tokens $MAX "$PROMPT" | jq -r .text)
want_chat=$("$LLCTL" --endpoint "$(endpoint c)" generate --json --max-tokens $MAX "$CHAT_PROMPT" | jq -r .text)
[[ -n $want && -n $want_chat ]] || fail "llctl generate gave no text"

out=$(cd "$HTTP_DIR" && node openai_check.mjs "$URL/v1" "$TOKEN" "$PROMPT" "$CHAT_CONTENT" $MAX) || fail "openai client: $out"
[[ $(jq -r .model <<<"$out") == stories260K ]] || fail "models.list: $out"
[[ $(jq -r .completion <<<"$out") == "$want" ]] || fail "streamed completion differs from llctl generate:
  http:  $(jq -r .completion <<<"$out")
  llctl: $want"
(($(jq .completionChunks <<<"$out") > 3)) || fail "the completion was not streamed in pieces: $out"
[[ $(jq -r .completionFinish <<<"$out") == length ]] || fail "finish_reason: $out"
[[ $(jq -r .whole <<<"$out") == "$want" ]] || fail "whole completion differs from llctl generate: $out"
[[ $(jq -c '[.usage.prompt_tokens, .usage.completion_tokens, .usage.total_tokens]' <<<"$out") == "[5,$MAX,$((MAX + 5))]" ]] \
  || fail "usage: $(jq -c .usage <<<"$out")"
[[ $(jq -r .chat <<<"$out") == "$want_chat" ]] || fail "streamed chat differs from llctl generate of the templated prompt:
  http:  $(jq -r .chat <<<"$out")
  llctl: $want_chat"
[[ $(jq -r .role <<<"$out") == assistant ]] || fail "chat role: $out"
[[ $(jq -r .wrongKeyStatus <<<"$out") == 401 ]] || fail "a wrong key was not refused with 401: $out"
echo "ok: openai client: streamed completion, streamed chat and whole completion = llctl generate ($MAX tokens, 3 stages)"
sampled_prompts=("Lily" "The dog" "One day")
for i in 0 1 2; do
  w=$("$LLCTL" --endpoint "$(endpoint a)" generate --json --max-tokens $MAX --temperature 0.8 --top-p 0.9 \
    --seed $((100 + i)) "${sampled_prompts[$i]}" | jq -r .text)
  [[ $(jq -r ".sampled[$i]" <<<"$out") == "$w" ]] || fail "sampled completion $i (seed $((100 + i))) differs:
  http:  $(jq -r ".sampled[$i]" <<<"$out")
  llctl: $w"
done
[[ $(jq -r '.sampled[0]' <<<"$out") != $(jq -r '.sampled[1]' <<<"$out") ]] || fail "sampled texts are all the same"
echo "ok: three concurrent sampled completions (temperature 0.8, top_p 0.9, seeds 100-102) = their seeded llctl runs"

# Bad input: status and OpenAI's error shape. check NAME STATUS CURL-ARGS...
check() {
  local name=$1 status=$2 got
  shift 2
  got=$(curl -s -o "$TMP/body" -w '%{http_code}' "$@")
  [[ $got == "$status" ]] || fail "$name: HTTP $got, expected $status: $(head -c 300 "$TMP/body")"
  jq -e '.error | (.message | type == "string" and length > 0) and (.type | type == "string") and has("param") and has("code")' \
    "$TMP/body" >/dev/null || fail "$name: not an OpenAI error: $(head -c 300 "$TMP/body")"
  echo "ok: $name -> $status: $(jq -r .error.message "$TMP/body")"
}
C="$URL/v1/completions"
JSON=(-H "Content-Type: application/json")
check "malformed JSON" 400 "${AUTH[@]}" "${JSON[@]}" "$C" -d '{"model": "stories260K", "prompt": '
check "wrong token" 401 -H "Authorization: Bearer wrong-$TOKEN" "${JSON[@]}" "$C" -d '{"model":"stories260K","prompt":"x"}'
check "no token" 401 "$URL/metrics"
head -c $((2 << 20)) /dev/zero | tr '\0' 'a' >"$TMP/huge"
check "2 MiB body" 413 "${AUTH[@]}" "${JSON[@]}" "$C" --data-binary @"$TMP/huge"
check "unknown model" 404 "${AUTH[@]}" "${JSON[@]}" "$C" -d '{"model":"gpt-4o","prompt":"x"}'
python3 -c 'import json; print(json.dumps({"model": "stories260K", "prompt": "Lily " * 700}))' >"$TMP/long.json"
check "prompt over the context" 400 "${AUTH[@]}" "${JSON[@]}" "$C" -d @"$TMP/long.json"
[[ $(jq -r .error.code "$TMP/body") == context_length_exceeded ]] || fail "context error code: $(cat "$TMP/body")"
check "temperature out of range" 400 "${AUTH[@]}" "${JSON[@]}" "$C" -d '{"model":"stories260K","prompt":"x","temperature":7}'
[[ $(jq -r .error.param "$TMP/body") == temperature ]] || fail "param not named: $(cat "$TMP/body")"
check "no messages" 400 "${AUTH[@]}" "${JSON[@]}" "$URL/v1/chat/completions" -d '{"model":"stories260K","messages":[]}'
check "deep nesting" 400 "${AUTH[@]}" "${JSON[@]}" "$C" -d "$(printf '%.0s[' {1..5000})"
check "unknown path" 404 "${AUTH[@]}" "$URL/v1/embeddings"
for n in "${NAMES[@]}"; do kill -0 "${PIDS[$n]}" || fail "daemon $n died"; done
again=$(curl -sf "${AUTH[@]}" "${JSON[@]}" "$C" -d "{\"model\":\"stories260K\",\"prompt\":\"$PROMPT\",\"max_tokens\":$MAX,\"temperature\":0}" \
  | jq -r '.choices[0].text')
[[ $again == "$want" ]] || fail "after bad input, a completion differs: $again"
echo "ok: after the bad input every daemon runs and a completion is still = llctl generate"

# A stop sequence: the text up to (not including) its first occurrence, finish_reason "stop".
stop=" little"
[[ $want == *"$stop"* ]] || fail "test prompt: '$stop' is not in '$want'"
got=$(curl -sf "${AUTH[@]}" "${JSON[@]}" "$C" \
  -d "{\"model\":\"stories260K\",\"prompt\":\"$PROMPT\",\"max_tokens\":$MAX,\"temperature\":0,\"stop\":[\"$stop\"]}")
[[ $(jq -r '.choices[0].text' <<<"$got") == "${want%%"$stop"*}" ]] || fail "stop: $(jq -c . <<<"$got")"
[[ $(jq -r '.choices[0].finish_reason' <<<"$got") == stop ]] || fail "stop finish_reason: $got"
echo "ok: stop sequence cuts the text ('$(jq -r '.choices[0].text' <<<"$got")')"

# A streaming client that goes away: the session ends on every stage.
curl -sN "${AUTH[@]}" "${JSON[@]}" "$C" -d '{"model":"stories260K","prompt":"Once","max_tokens":450,"stream":true}' \
  >"$TMP/partial" &
client=$!
sleep 0.5
kill -9 $client 2>/dev/null; wait $client 2>/dev/null || true
grep -q '^data: {' "$TMP/partial" || fail "the stream had not started: $(head -c 200 "$TMP/partial")"
deadline=$(($(now_ms) + 8000))
while :; do
  open=0
  for n in "${NAMES[@]}"; do
    o=$("$LLCTL" --endpoint "$(endpoint "$n")" plan --json | jq '.stage.open_sessions')
    open=$((open + ${o:-1}))
  done
  ((open == 0)) && break
  (($(now_ms) > deadline)) && fail "$open KV cache(s) left behind after the HTTP client left"
  sleep 0.2
done
echo "ok: an HTTP client leaving mid-stream frees the session on every stage"

# Metrics: the cluster's counters, in the Prometheus text format.
replans=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq '[.replans[] | select(has("to_version"))] | length')
curl -sf "${AUTH[@]}" "$URL/metrics" >"$TMP/metrics" || fail "/metrics"
head_device=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq -r '.stages[0].device')
tokens=$(awk -v d="ll_tokens_generated_total{device=\"$head_device\"}" '$1 == d {print $2}' "$TMP/metrics")
((${tokens:-0} >= 3 * MAX)) || fail "tokens generated on the head $head_device: '$tokens'"
(($(grep -c '^ll_stage_step_ms{' "$TMP/metrics") == 3)) || fail "per-stage step time: $(grep ll_stage_step_ms "$TMP/metrics")"
grep -Eq '^ll_link_bytes_sent_total\{from="[abc]",to="[abc]"\} [1-9]' "$TMP/metrics" || fail "bytes per link missing"
grep -q '^ll_http_responses_total{code="401"} [1-9]' "$TMP/metrics" || fail "401s not counted"
grep -q "^ll_replans_total $replans\$" "$TMP/metrics" || fail "re-plans (llctl: $replans): $(grep replans "$TMP/metrics")"
for name in ll_stage_queue_depth ll_stage_sessions ll_plan_version; do
  grep -q "^$name" "$TMP/metrics" || fail "$name missing"
done
# Every sample line: NAME{labels} NUMBER; every family has TYPE before its samples.
grep -v '^#' "$TMP/metrics" | grep -Evq '^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$' && fail "malformed sample: $(grep -v '^#' "$TMP/metrics" | grep -Ev '^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$' | head -2)"
echo "ok: /metrics ($(grep -vc '^#' "$TMP/metrics") samples; $tokens tokens on the head)"
[[ $(curl -sf "$URL/health" | jq -r .model) == stories260K ]] || fail "/health"

# The page in headless Chromium: it must show the three devices with their layers, then the screenshot is kept.
shot="$ARTIFACTS/topology.png"
rm -f "$shot"
page=$(cd "$HTTP_DIR" && node page_screenshot.mjs "$URL/#token=$TOKEN" "$shot" 3 2>&1) || fail "page: $page"
[[ $(jq -c .devices <<<"$page") == '["a","b","c"]' ]] || fail "page devices: $page"
(($(jq '[.ringLabels[] | select(startswith("layers"))] | length' <<<"$page") == 3)) || fail "ring without layer ranges: $page"
[[ $(jq .memoryBars <<<"$page") == 3 && $(jq -r .model <<<"$page") == "model: stories260K" ]] || fail "page: $page"
[[ $(jq '.errors | length' <<<"$page") == 0 ]] || fail "page errors or external requests: $page"
(($(stat -c %s "$shot") > 10000)) || fail "screenshot too small"
echo "ok: headless Chromium shows the ring of 3 devices ($(jq -r .status <<<"$page")); screenshot $shot"
