#!/usr/bin/env bash
# Bad input to llctl — a wrong flag, an empty model folder, a corrupt package, a prompt longer than the context —
# ends with exactly one line on stderr and a non-zero exit, never a crash or a stack trace.
set -uo pipefail
build=${LL_BUILD_DIR:?}
llctl=$build/bin/llctl
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
expect_error() {  # NAME EXPECTED-SUBSTRING -- command...
  local name=$1 want=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ $rc -eq 0 ] || [ $rc -ge 128 ] || [ "$lines" -ne 1 ] || ! grep -q -- "$want" "$tmp/err"; then
    echo "FAIL $name: rc=$rc, $lines stderr lines:"; cat "$tmp/err"; fail=1
  else
    echo "ok   $name: $(cat "$tmp/err")"
  fi
}
mkdir -p "$tmp/empty"
expect_error UnknownFlag "--bogus" -- "$llctl" generate --bogus
expect_error MissingModel "--model" -- "$llctl" generate --local "hi"
expect_error EmptyModelFolder "no manifest.json" -- "$llctl" generate --local --model "$tmp/empty" "hi"
expect_error NotAFolder "not a folder" -- "$llctl" generate --local --model "$tmp/nothing-here" "hi"
long=$(printf 'word %.0s' $(seq 1 100))
expect_error PromptLongerThanContext "context" -- "$llctl" generate --local --model "$build/models/odd" "$long"
expect_error BadTopP "top-p" -- "$llctl" generate --local --model "$build/models/odd" --top-p 1.5 "x"
cp -r "$build/models/odd" "$tmp/trunc"; truncate -s 100 "$tmp/trunc/shard-002-block-001.ptl"
expect_error TruncatedShard "truncated" -- "$llctl" generate --local --model "$tmp/trunc" "x"
cp -r "$build/models/odd" "$tmp/badmanifest"; echo '{"format": "lingualinked-model", "format_v' >"$tmp/badmanifest/manifest.json"
expect_error CorruptManifest "not valid JSON" -- "$llctl" generate --local --model "$tmp/badmanifest" "x"
expect_error DraftModelOfAnotherTokenizer "another tokenizer" -- "$llctl" generate --local --model "$build/models/odd" \
  --speculate "draft:$build/models/stories260K" "x"
expect_error MissingDraftModel "draft model $tmp/nothing-here" -- "$llctl" generate --local --model "$build/models/odd" \
  --speculate "draft:$tmp/nothing-here" "x"
expect_error NoSubcommand "subcommand" -- "$llctl"
exit $fail
