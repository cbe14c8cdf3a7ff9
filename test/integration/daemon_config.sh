#!/usr/bin/env bash
# The example config file is accepted (with flags overriding its addresses), and bad configurations are refused at
# start with exit 2 and a one-line reason.
# Pins: the example config drifting from what the daemon accepts; typos in config keys silently ignored.
source "$(dirname "$0")/lib/cluster.bash"
EXAMPLE="$LL_SOURCE_DIR/config/lingualinkd.example.json"
assign_ports a

# Flags win over the file: loopback listen, no peers, no beacons, a temp data dir.
"$LLD" --config "$EXAMPLE" --name a --cluster "$CLUSTER" --listen "$(endpoint a)" --peers "" --no-beacon \
  --data-dir "$TMP/a.data" --keys "$KEYS" --profile-seconds 0.02 >>"$TMP/a.log" 2>&1 &
PIDS[a]=$!
deadline=$(($(now_ms) + 10000))
until s=$(status_json a) && [[ -n $s ]]; do
  kill -0 "${PIDS[a]}" 2>/dev/null || fail "daemon with the example config exited"
  (($(now_ms) < deadline)) || fail "daemon with the example config did not answer"
  sleep 0.2
done
d=$(devices_json a)
[[ $(jq '.devices[0].profile.memory_budget' <<<"$d") == $((2 * 1024 * 1024 * 1024)) ]] || fail "memory_budget from the file not applied: $d"
stop_daemon a TERM || fail "non-zero exit on SIGTERM"

# A port already in use: one line naming the endpoint, exit 1.
"$LLD" --name a --listen "$(endpoint a)" --data-dir "$TMP/a.data" --no-beacon --profile-seconds 0 >>"$TMP/a.log" 2>&1 &
PIDS[a]=$!
sleep 1
rc=0
out=$(timeout 10 "$LLD" --name b --listen "$(endpoint a)" --data-dir "$TMP/b.data" --no-beacon --profile-seconds 0 2>&1) ||
  rc=$?
[[ $rc == 1 && $out == *"cannot listen on $(endpoint a)"* ]] || fail "port in use: exit $rc: $out"
echo "port in use: refused: $(grep -o 'cannot listen.*' <<<"$out")"
stop_daemon a TERM || fail "non-zero exit on SIGTERM"

expect_refused() {  # expect_refused WHAT ARGS...
  local what=$1 rc=0 out
  shift
  out=$(timeout 10 "$LLD" "$@" 2>&1) || rc=$?
  [[ $rc == 2 ]] || fail "$what: exit $rc, expected 2: $out"
  echo "$what: refused: $out"
}
echo '{"listen": "tcp://127.0.0.1:1", "heartbeat_intervall_ms": 5}' >"$TMP/typo.json"
expect_refused "unknown key" --config "$TMP/typo.json"
echo '{"threads": "four"}' >"$TMP/type.json"
expect_refused "mistyped value" --config "$TMP/type.json"
echo '{"listen": ' >"$TMP/broken.json"
expect_refused "broken JSON" --config "$TMP/broken.json"
expect_refused "bad name" --name "a b"
expect_refused "bad budget" --memory-budget 2furlongs
expect_refused "timeout below interval" --heartbeat-interval-ms 1000 --heartbeat-timeout-ms 500
expect_refused "non-tcp listen" --listen ipc:///tmp/x

# Security: a LAN address without keys refuses to start; a corrupt key refuses to start; --insecure warns.
lan_port=$(free_ports 1)
expect_refused "LAN address without keys" --keys "$TMP/no-keys" --listen "tcp://0.0.0.0:$lan_port" --no-beacon
out=$(timeout 10 "$LLD" --keys "$TMP/no-keys" --listen "tcp://0.0.0.0:$lan_port" --no-beacon 2>&1) || true
[[ $out == *"no keys in $TMP/no-keys"*"lingualinkd --init"*"--insecure"* ]] || fail "unclear refusal: $out"
"$LLD" --init --name first --keys "$TMP/init-keys" >"$TMP/init.out" || fail "--init failed"
[[ -f $TMP/init-keys/cluster.key && -f $TMP/init-keys/device.key ]] || fail "--init made no keys"
[[ $(stat -c %a "$TMP/init-keys/device.key") == 600 ]] || fail "device.key is not mode 0600"
device_key=$(grep '^public' "$TMP/init-keys/device.key")
"$LLD" --init --name first --keys "$TMP/init-keys" >/dev/null || fail "a second --init failed"
[[ $(grep '^public' "$TMP/init-keys/device.key") == "$device_key" ]] || fail "--init overwrote the device key"
[[ $(grep -c . "$TMP/init-keys/authorized_keys") == 1 ]] || fail "--init listed the device twice"
echo "--init: $(head -n 2 "$TMP/init.out" | tr '\n' ' ')"
cp -r "$TMP/init-keys" "$TMP/bad-keys"
sed -i 's/^secret = ./secret = 0/' "$TMP/bad-keys/device.key"
expect_refused "corrupt device key" --keys "$TMP/bad-keys" --listen "tcp://127.0.0.1:$lan_port" --no-beacon
"$LLD" --insecure --name open --listen "tcp://0.0.0.0:$lan_port" --data-dir "$TMP/open.data" --no-beacon \
  --profile-seconds 0 >"$TMP/open.log" 2>&1 &
PIDS[open]=$!
for _ in $(seq 1 50); do grep -q "listening" "$TMP/open.log" && break; sleep 0.1; done
grep -q -- "--insecure: CURVE is off" "$TMP/open.log" || fail "no warning for --insecure: $(cat "$TMP/open.log")"
stop_daemon open TERM || fail "insecure daemon: non-zero exit"
echo "--insecure: started on 0.0.0.0 with a warning"

# Speculative decoding (docs/pipeline.md, "Speculative decoding"): bad values refused at start, a draft model opened
# at start by flag and by config key.
models=${LL_MODELS_DIR:-$LL_SOURCE_DIR/../shared/models}
expect_refused "bad --speculate" --speculate sometimes
expect_refused "--draft-tokens over the maximum" --draft-tokens 17
expect_refused "--speculate draft without a draft model" --speculate draft
rc=0
out=$(timeout 10 "$LLD" --draft-model "$TMP/no-such-package" --data-dir "$TMP/d.data" --no-beacon 2>&1) || rc=$?
[[ $rc == 2 && $(wc -l <<<"$out") == 1 && $out == *"--draft-model (config key draft_model): draft model $TMP/no-such-package"* ]] ||
  fail "missing draft package: exit $rc, expected 2 and one line: $out"
echo "missing draft package: refused: $out"
echo '{"speculate": "ngram", "draft_tokens": 99}' >"$TMP/spec.json"
expect_refused "draft_tokens key over the maximum" --config "$TMP/spec.json"
/usr/bin/python3 "$LL_SOURCE_DIR/scripts/export-model" --quiet --from llama2c "$models/stories260K.bin" \
  --tokenizer "$models/tok512.bin" --draft-layers 2 --out "$TMP/exit2" || fail "draft export failed"
echo "{\"speculate\": \"draft\", \"draft_tokens\": 4, \"draft_model\": \"$TMP/exit2\"}" >"$TMP/draft.json"
"$LLD" --config "$TMP/draft.json" --insecure --name drafty --listen "tcp://127.0.0.1:$lan_port" --data-dir "$TMP/drafty.data" \
  --no-beacon --profile-seconds 0 >"$TMP/drafty.log" 2>&1 &
PIDS[drafty]=$!
wait_for_log "$TMP/drafty.log" "draft model draft:stories260K-exit2 from $TMP/exit2" 20 ||
  fail "the draft model was not opened: $(cat "$TMP/drafty.log")"
stop_daemon drafty TERM || fail "daemon with a draft model: non-zero exit"
echo "draft model: opened at start from the config file"
echo "PASS"
