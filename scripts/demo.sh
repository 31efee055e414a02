#!/usr/bin/env bash
# `make demo`: PATCH end to end on the packaged real model (SmolLM2-135M-Instruct) with the python-docs corpus, sized
# for a 2-core CPU (about 10-15 minutes): dense perplexity → SparseGPT 2:4 → PATCH^Tile and PATCH^Joint at 35 %
# sparsity with a short schedule, then a results table. Every number printed is computed here.
set -euo pipefail
bin="${1:-build/patchlm}"
model="data/models/smollm2-135m-instruct-q4_1.gguf"
runs="runs/demo-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$runs"

echo "== patchlm on $model"
"$bin" info | head -n 3
echo
echo "== generation (greedy)"
"$bin" generate "$model" --prompt "Sparse neural networks are" --max-new-tokens 24
echo
echo "== the study, CPU-sized: calibration 16 x 512 tokens, PATCH^Tile 36 steps and PATCH^Joint 24 steps of"
echo "   2 x 256 tokens (the paper: 2000 steps of 128 x 4096), perplexity on 16 held-out windows of 512 tokens"
PATCHLM_BIN="$bin" DEVICE=cpu SPARSITIES=0.35 METHODS="sparsegpt joint tile" CALIB=16 CALIB_LEN=512 \
  STEPS=24 STEPS_TILE=36 BATCH=2 MICRO=2 SEQ=256 TILE=64x64 EVAL_LEN=512 EVAL_WINDOWS=16 \
  bash scripts/study.sh "$model" "$runs" 2> "$runs/log.txt" > "$runs/study.out" &
study=$!
# Rows appear as runs finish (the study writes results.md as it goes).
shown=0
while kill -0 "$study" 2> /dev/null; do
  sleep 2
  rows=$(wc -l < "$runs/results.md" 2> /dev/null || echo 0)
  if (( rows > shown )); then tail -n $((rows - shown)) "$runs/results.md"; shown=$rows; fi
done
wait "$study" || { echo "demo: the study failed, see $runs/log.txt" >&2; tail -n 5 "$runs/log.txt" >&2; exit 1; }
echo
cat "$runs/results.md"
echo
echo "== PATCH^Joint 35 % as a compact hybrid checkpoint (docs/format.md), then a continuation from it"
"$bin" export "$model" "$runs/patch-joint-0.35.hybrid" --masks "$runs/patch-joint-0.35.masks.safetensors" \
  --format hybrid --tile-size 64x64
"$bin" generate "$runs/patch-joint-0.35.hybrid" --prompt "Sparse neural networks are" \
  --max-new-tokens 24
echo
echo "On two CPU cores the schedules are tiny (the paper's is ~30 000 times longer), so PATCH only starts to move away"
echo "from its priors here. docs/results.md has the same study on an H200 (200 steps of 16 x 512 tokens), where"
echo "PATCH^Joint at 35 % reaches 10.75 on this test split against 30.67 for SparseGPT 2:4."
echo
"$bin" report "$runs" -o "$runs/report.html" --tile-size 64x64
echo "Results: $runs/ (results.md, results.jsonl, every mask file, eval JSON, learning metrics, report.html)"
echo "Next: evaluate any mask with  $bin eval $model --masks $runs/patch-joint-0.35.masks.safetensors"
echo "      serve the hybrid checkpoint on a GPU: $bin generate $runs/patch-joint-0.35.hybrid --device cuda --dtype bf16 --prompt ..."
echo "      the full study on a GPU (docs/results.md): DEVICE=cuda scripts/study.sh $model runs/study"
