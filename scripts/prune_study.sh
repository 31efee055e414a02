#!/usr/bin/env bash
# One-shot pruning study on one model: dense, then magnitude / Wanda / SparseGPT at 2:4 and unstructured 50 %,
# each evaluated on the held-out python-docs test split. Writes every mask file, eval JSON and a markdown table
# (results.md) into OUT. Sizes are arguments so the same script serves a 2-core CPU and a GPU.
#   scripts/prune_study.sh MODEL OUT [CALIB_SAMPLES] [CALIB_SEQ_LEN] [EVAL_WINDOWS] [EVAL_SEQ_LEN] [DEVICE]
set -euo pipefail
model="$1"; out="$2"
samples="${3:-128}"; calib_len="${4:-2048}"; windows="${5:-0}"; eval_len="${6:-2048}"; device="${7:-cpu}"
bin="${PATCHLM_BIN:-build/patchlm}"
mkdir -p "$out"
table="$out/results.md"
ppl() { python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["perplexity"]["ppl"])' "$1"; }
evaluate() {  # checkpoint name → ppl json
  "$bin" --quiet eval "$1" --tokenizer "$model" --seq-len "$eval_len" --max-windows "$windows" --batch 1 \
    --out "$out/$2.ppl.json" > /dev/null
}
{
  echo "| method | pattern | sparsity | PPL (test split, $windows x $eval_len) | prune seconds |"
  echo "|---|---|---|---|---|"
} > "$table"
"$bin" --quiet eval "$model" --seq-len "$eval_len" --max-windows "$windows" --batch 1 --out "$out/dense.ppl.json" > /dev/null
echo "| dense | - | 0 % | $(ppl "$out/dense.ppl.json") | - |" >> "$table"
for pattern in 2:4 unstructured; do
  for method in magnitude wanda sparsegpt; do
    tag="${method}_${pattern/:/to}"
    start=$(date +%s.%N)
    "$bin" --quiet prune "$model" --method "$method" --pattern "$pattern" --sparsity 0.5 --device "$device" \
      --calib-samples "$samples" --calib-seq-len "$calib_len" --out "$out/$tag.masks.safetensors" \
      --save-pruned "$out/$tag.pruned" > "$out/$tag.layers.md"
    seconds=$(python3 -c "import sys; print('%.1f' % ($(date +%s.%N) - $start))")
    evaluate "$out/$tag.pruned" "$tag"
    rm -rf "$out/$tag.pruned"  # the mask file stays; the checkpoint is large
    echo "| $method | $pattern | 50 % | $(ppl "$out/$tag.ppl.json") | $seconds |" >> "$table"
    cat "$table" | tail -n 1
  done
done
echo "calibration: $samples x $calib_len tokens (python-docs train split, seed 0); device $device" >> "$table"
cat "$table"
