#!/usr/bin/env bash
# The PATCH study on one model: dense, one-shot 2:4 baselines (magnitude, Wanda, SparseGPT), MaskLLM 2:4 and
# PATCH^Joint / PATCH^Tile at each target sparsity, all evaluated on the held-out python-docs test split.
# Writes every mask file, metrics log and eval JSON into OUT plus results.md (a markdown table) and results.jsonl.
#   scripts/study.sh MODEL OUT
# Settings (environment, defaults sized for one GPU): DEVICE=cuda SPARSITIES="0.25 0.35 0.45" STEPS=200 BATCH=16
# MICRO=8 SEQ=512 TILE=128x128 CALIB=128 CALIB_LEN=2048 EVAL_LEN=512 EVAL_WINDOWS=0 (all) METHODS="magnitude wanda
# sparsegpt maskllm joint tile".
set -euo pipefail
model="$1"; out="$2"
DEVICE="${DEVICE:-cuda}"; SPARSITIES="${SPARSITIES:-0.25 0.35 0.45}"; STEPS="${STEPS:-200}"; BATCH="${BATCH:-16}"
MICRO="${MICRO:-8}"; SEQ="${SEQ:-512}"; TILE="${TILE:-128x128}"; CALIB="${CALIB:-128}"; CALIB_LEN="${CALIB_LEN:-2048}"
EVAL_LEN="${EVAL_LEN:-512}"; EVAL_WINDOWS="${EVAL_WINDOWS:-0}"; METHODS="${METHODS:-magnitude wanda sparsegpt maskllm joint tile}"
bin="${PATCHLM_BIN:-build/patchlm}"
mkdir -p "$out"
table="$out/results.md"
now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }
ppl_of() { python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["perplexity"]["ppl"])' "$1"; }
sparsity_of() {
  python3 -c 'import json,sys; h=open(sys.argv[1],"rb").read(); n=int.from_bytes(h[:8],"little"); print("%.4f" % float(json.loads(h[8:8+n])["__metadata__"]["sparsity"]))' "$1"
}
evaluate() {  # tag, model, [--masks file]
  local tag="$1" m="$2"; shift 2
  "$bin" --quiet eval "$m" --tokenizer "$model" --device "$DEVICE" --seq-len "$EVAL_LEN" --max-windows "$EVAL_WINDOWS" \
    --batch 8 --out "$out/$tag.ppl.json" "$@" > /dev/null
}
row() {  # method pattern sparsity ppl seconds
  echo "| $1 | $2 | $3 | $4 | $5 |" >> "$table"
  echo "{\"method\": \"$1\", \"pattern\": \"$2\", \"sparsity\": $3, \"ppl\": $4, \"seconds\": $5}" >> "$out/results.jsonl"
  tail -n 1 "$table"
}
echo "| method | pattern | sparsity | PPL (test split, seq $EVAL_LEN) | seconds |" > "$table"
echo "|---|---|---|---|---|" >> "$table"
: > "$out/results.jsonl"
t=$(now); evaluate dense "$model"; row dense - 0 "$(ppl_of "$out/dense.ppl.json")" "$(since "$t")"
calib=(--calib-samples "$CALIB" --calib-seq-len "$CALIB_LEN")
for method in magnitude wanda sparsegpt; do
  [[ " $METHODS " == *" $method "* || ( "$method" == sparsegpt && " $METHODS " == *" joint "* ) ]] || continue
  t=$(now)
  "$bin" --quiet prune "$model" --method "$method" --pattern 2:4 --device "$DEVICE" "${calib[@]}" \
    --out "$out/$method.masks.safetensors" --save-pruned "$out/$method.pruned" > "$out/$method.layers.md"
  s=$(since "$t")
  evaluate "$method" "$out/$method.pruned"; rm -rf "$out/$method.pruned"
  row "$method" 2:4 0.5 "$(ppl_of "$out/$method.ppl.json")" "$s"
  if [[ "$method" == sparsegpt ]]; then  # the same mask on the original weights: what PATCH starts from
    evaluate sparsegpt-mask-only "$model" --masks "$out/sparsegpt.masks.safetensors"
    row "sparsegpt (mask only, no reconstruction)" 2:4 0.5 "$(ppl_of "$out/sparsegpt-mask-only.ppl.json")" -
  fi
done
learn() {  # tag mode target extra...
  local tag="$1" mode="$2" target="$3"; shift 3
  local t; t=$(now)
  "$bin" --quiet learn "$model" --mode "$mode" --target-sparsity "$target" --device "$DEVICE" --steps "$STEPS" \
    --batch "$BATCH" --micro-batch "$MICRO" --seq-len "$SEQ" --tile-size "$TILE" "${calib[@]}" \
    --prior "$out/sparsegpt.masks.safetensors" --checkpoint-dir "$out/$tag.run" --out "$out/$tag.masks.safetensors" \
    "$@" > "$out/$tag.layers.md"
  local s; s=$(since "$t")
  evaluate "$tag" "$model" --masks "$out/$tag.masks.safetensors"
  row "$tag" "$( [[ $mode == maskllm ]] && echo 2:4 || echo hybrid )" "$(sparsity_of "$out/$tag.masks.safetensors")" \
    "$(ppl_of "$out/$tag.ppl.json")" "$s"
}
[[ " $METHODS " == *" maskllm "* ]] && learn maskllm maskllm 0.5
for target in $SPARSITIES; do
  [[ " $METHODS " == *" joint "* ]] && learn "patch-joint-$target" joint "$target"
  [[ " $METHODS " == *" tile "* ]] && learn "patch-tile-$target" tile "$target"
done
echo "settings: steps $STEPS, batch $BATCH x seq $SEQ, tile $TILE, calibration $CALIB x $CALIB_LEN, device $DEVICE" >> "$table"
cat "$table"
