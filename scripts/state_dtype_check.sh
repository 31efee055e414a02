#!/usr/bin/env bash
# Does the compact learning state keep quality? PATCH^Joint at 35 % learned twice on one model — fp32 2:4 logits and
# AdamW moments, then bf16 ones with stochastic rounding (--state-dtype bf16) — with the same seed, SparseGPT prior
# and schedule, both evaluated on the held-out python-docs test split. Prints both perplexities and their ratio
# (the goal: within 1 %). Settings as scripts/study.sh; the defaults are sized for a 2-core CPU.
#   scripts/state_dtype_check.sh MODEL OUT
set -euo pipefail
model="$1"; out="$2"
export DEVICE="${DEVICE:-cpu}" SPARSITIES=0.35 CALIB="${CALIB:-16}" CALIB_LEN="${CALIB_LEN:-512}" STEPS="${STEPS:-24}"
export BATCH="${BATCH:-2}" MICRO="${MICRO:-2}" SEQ="${SEQ:-256}" TILE="${TILE:-64x64}" EVAL_LEN="${EVAL_LEN:-512}"
export EVAL_WINDOWS="${EVAL_WINDOWS:-16}" METHODS="sparsegpt joint"
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/study.sh" "$model" "$out/fp32" > /dev/null
mkdir -p "$out/bf16"
cp "$out/fp32"/sparsegpt.* "$out/bf16"/  # the same prior, computed once
LEARN_ARGS="--state-dtype bf16" bash "$here/study.sh" "$model" "$out/bf16" > /dev/null
python3 - "$model" "$out" <<'PY'
import json, sys
model, out = sys.argv[1], sys.argv[2]
ppl = {d: json.load(open(f"{out}/{d}/patch-joint-0.35.ppl.json"))["perplexity"]["ppl"] for d in ("fp32", "bf16")}
ratio = ppl["bf16"] / ppl["fp32"]
print(f"| {model} | {ppl['fp32']:.3f} | {ppl['bf16']:.3f} | {100 * (ratio - 1):+.2f} % |")
json.dump({"model": model, "ppl_fp32": ppl["fp32"], "ppl_bf16": ppl["bf16"], "ratio": ratio},
          open(f"{out}/state_dtype_check.json", "w"), indent=1)
PY
