#!/usr/bin/env bash
# The benchmark's speculation section (scripts/llbench/speculation.py) in its --quick form: stories260K on three
# real daemons with 5 ms emulated links, greedy, off against --speculate ngram. Pins: budgets that do not force the
# ring's stage count (stage_need), a section whose "on" runs never drafted through the ring (the figures would be a
# null measurement), a speculative text that differs from the text without, and a section that is not registered.
# Speed is not asserted: the table prints it.
source "$(dirname "$0")/lib/cluster.bash"
BENCH="$LL_SOURCE_DIR/scripts/bench"
PKG="$LL_BUILD_DIR/models/stories260K"

# The budgets force the stage count only if fewer devices at that budget cannot hold the shards.
python3 - "$LL_SOURCE_DIR/scripts" "$PKG" <<'PY' || fail "stage_need does not force 3 and 4 stages of stories260K"
import sys
sys.path.insert(0, sys.argv[1])
from llbench.speculation import stage_need
need = [None] + [stage_need(sys.argv[2], n) for n in (1, 2, 3, 4)]
assert need[1] > need[2] > need[3] > need[4] > 0, need
assert all(need[n] * 1.02 < need[n - 1] for n in (3, 4)), need
PY
echo "ok: stage_need forces 3 and 4 stages of stories260K"

rc=0; err=$("$BENCH" --quick --only speculatoin --no-readme --out "$TMP/bad" 2>&1) || rc=$?
[[ $rc == 2 && $err == "bench: unknown section(s) speculatoin" ]] || fail "misspelt section: rc $rc, '$err'"

"$BENCH" --quick --only speculation --no-readme --out "$TMP/bench" >"$TMP/bench.log" 2>&1 \
  || { tail -n 30 "$TMP/bench.log"; fail "scripts/bench --quick --only speculation"; }
json=$(ls "$TMP"/bench/*.json)
row=$(jq -c '.speculation.rows[0]' "$json")
[[ $(jq '.speculation.rows | length' "$json") == 1 ]] \
  || fail "--quick should measure one row: $(jq -c .speculation "$json")"
[[ $(jq -r '.error // empty' <<<"$row") == "" ]] || fail "row failed: $row"
[[ $(jq '.stages' <<<"$row") == 3 ]] || fail "expected 3 stages on the 5 ms ring: $row"
[[ $(jq '.identical' <<<"$row") == true ]] || fail "speculative text differs from the text without: $row"
[[ $(jq '.drafted > 0 and .accepted > 0 and .tokens_per_trip > 1' <<<"$row") == true ]] \
  || fail "the ring never drafted or accepted: $row"
grep -q '^| stories260K | 3 stages, 5 ms links | 3 |' "$TMP"/bench/*.md \
  || fail "no table row in $(cat "$TMP"/bench/*.md)"
echo "ok: $(jq -r '"\(.drafted) drafted, \(.accepted) accepted, \(.tokens_per_trip) tokens per trip"' <<<"$row"),"\
  "text identical"
echo "PASS"
