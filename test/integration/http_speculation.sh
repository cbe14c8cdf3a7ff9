#!/usr/bin/env bash
# Speculative decoding through the HTTP API on a real three-daemon ring (docs/http.md, "Speculative decoding"): a
# completion with "speculate": "ngram" returns exactly the text without it and the local engine's, greedy and
# seeded-sampled, whole and streamed; its usage carries the head's speculation figures (drafts were made and some
# stood); a bad speculate or draft_tokens is a one-line 400 naming the field and the daemon keeps serving.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
for tool in curl jq; do command -v $tool >/dev/null || fail "$tool is missing"; done

NAMES=(a b c)
assign_ports "${NAMES[@]}"
HTTP_PORT=$(free_ports 1)
PEERS=$(all_endpoints "${NAMES[@]}")
# 1400000 B each and KV for 3 sessions: no two devices hold stories260K, three do (a three-stage ring, as in http_api).
start_daemon a "$PEERS" --memory-budget 1400000B --http "127.0.0.1:$HTTP_PORT"
start_daemon b "$PEERS" --memory-budget 1400000B
start_daemon c "$PEERS" --memory-budget 1400000B
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
"$LLCTL" --endpoint "$(endpoint a)" load --max-sessions 3 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
stages=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq '.stages | length')
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages"
wait_for_log "$TMP/a.log" "HTTP API on http://127.0.0.1:$HTTP_PORT" 20 || fail "the HTTP API did not start"
C="http://127.0.0.1:$HTTP_PORT/v1/completions"

# A prompt that repeats itself, so that the n-gram drafter finds something to draft.
PROMPT="The little cat liked to play. The little cat liked to play with a ball. The little cat"
MAX=64
# complete JSON-FIELDS: a whole (non-streamed) completion of PROMPT; the response body on stdout.
complete() {
  curl -sf "$C" -H "Content-Type: application/json" \
    -d "{\"model\":\"stories260K\",\"prompt\":$(jq -Rn --arg p "$PROMPT" '$p'),\"max_tokens\":$MAX$1}" ||
    fail "completion with '$1' failed"
}

for sampling in '"temperature":0' '"temperature":0.8,"top_p":0.9,"seed":7'; do
  if [[ $sampling == *seed* ]]; then local_flags=(--temperature 0.8 --top-p 0.9 --seed 7); else local_flags=(--temperature 0); fi
  want=$("$LLCTL" generate --local --model "$PKG" --json --max-tokens $MAX "${local_flags[@]}" "$PROMPT" | jq -r .text)
  [[ -n $want ]] || fail "the local run printed no text"
  plain=$(complete ",$sampling")
  spec=$(complete ",$sampling,\"speculate\":\"ngram\",\"draft_tokens\":6")
  off=$(complete ",$sampling,\"speculate\":\"off\"")
  for body in "$plain" "$spec" "$off"; do
    [[ $(jq -r '.choices[0].text' <<<"$body") == "$want" ]] ||
      fail "$sampling: the text differs from the local run: $(jq -c . <<<"$body") vs '$want'"
  done
  jq -e '.usage | has("speculation") | not' <<<"$plain$off" >/dev/null ||
    fail "$sampling: usage.speculation without speculation: $plain $off"
  jq -e '.usage as $u | $u.speculation.mode == "ngram" and
      $u.speculation.drafted > 0 and $u.speculation.accepted > 0 and
      $u.speculation.accepted <= $u.speculation.drafted and
      $u.speculation.decode_steps > 0 and $u.speculation.decode_steps < $u.completion_tokens' <<<"$spec" >/dev/null ||
    fail "$sampling: the speculation figures are missing or implausible: $(jq -c .usage <<<"$spec")"
  echo "ok: $sampling: with and without speculation = the local run; usage $(jq -c .usage.speculation <<<"$spec")"
done

# Streamed, with the usage chunk: the pieces join into the local run's text, and the usage chunk has the figures.
want=$("$LLCTL" generate --local --model "$PKG" --json --max-tokens $MAX --temperature 0 "$PROMPT" | jq -r .text)
curl -sfN "$C" -H "Content-Type: application/json" -d "{\"model\":\"stories260K\",\"prompt\":$(jq -Rn --arg p "$PROMPT" '$p'),
  \"max_tokens\":$MAX,\"temperature\":0,\"speculate\":\"ngram\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}" \
  >"$TMP/stream" || fail "the streamed completion failed"
events=$(sed -n 's/^data: //p' "$TMP/stream" | grep -v '^\[DONE\]$')
text=$(jq -j 'select(.choices | length > 0) | .choices[0].text' <<<"$events")
[[ $text == "$want" ]] || fail "the streamed text differs from the local run: '$text' vs '$want'"
jq -se 'map(select(.usage)) | length == 1 and .[0].usage.speculation.mode == "ngram"' <<<"$events" >/dev/null ||
  fail "the usage chunk lacks the speculation figures: $(tail -c 400 "$TMP/stream")"
echo "ok: streamed with speculation = the local run, usage chunk $(jq -c 'select(.usage) | .usage.speculation' <<<"$events")"

# Bad values: a one-line 400 naming the field.
for bad in '"speculate":"fast"' '"speculate":"draft:../x"' '"draft_tokens":17' '"draft_tokens":-1' '"draft_tokens":"4"'; do
  status=$(curl -s -o "$TMP/body" -w '%{http_code}' "$C" -H "Content-Type: application/json" \
    -d "{\"model\":\"stories260K\",\"prompt\":\"x\",$bad}")
  param=${bad%%\":*}
  param=${param#\"}
  [[ $status == 400 && $(wc -l <"$TMP/body") -le 1 && $(jq -r .error.param "$TMP/body") == "$param" ]] ||
    fail "$bad: HTTP $status, $(cat "$TMP/body")"
  echo "ok: $bad -> 400: $(jq -r .error.message "$TMP/body")"
done
[[ $(jq -r '.choices[0].text' <<<"$(complete ',"temperature":0')") == "$want" ]] || fail "not serving after bad requests"
echo "PASS http_speculation"
