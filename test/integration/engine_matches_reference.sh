#!/usr/bin/env bash
# Greedy continuations from `llctl generate --local` equal the reference C implementation's (test/reference/run_ref.c,
# a port of llama2.c's run.c) token for token, prompt encoding included, on the real stories260K model.
set -euo pipefail
src=${LL_SOURCE_DIR:?}; build=${LL_BUILD_DIR:?}
models=${LL_MODELS_DIR:-$src/../shared/models}
LL_BUILD_DIR=$build bash "$src/test/reference/build.sh" >/dev/null
pkg=$build/models/stories260K
steps=120
fail=0
for prompt in "" "Once upon a time" "The cat sat on the mat" "Lily and Tom went to the park." \
              "Sam's big red dog!" "  two  spaces" "naïve café ☀"; do
  want=$("$build/bin/run_ref" "$models/stories260K.bin" "$models/tok512.bin" -n $steps -i "$prompt" 2>/dev/null | tr '\n' ' ')
  json=$("$build/bin/llctl" generate --local --model "$pkg" --json --max-tokens 1000 "$prompt")
  got=$(/usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1]); steps = int(sys.argv[2])
ids = r["prompt_tokens"][1:] + r["tokens"]
print(" ".join(map(str, ids[:steps])), end=" ")' "$json" $steps)
  if [ "$want" != "$got" ]; then
    echo "MISMATCH for prompt '$prompt':"; echo "  reference: $want"; echo "  engine:    $got"; fail=1
  else
    echo "ok: '$prompt' ($(echo $want | wc -w) tokens)"
  fi
done
exit $fail
