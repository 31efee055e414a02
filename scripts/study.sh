#!/usr/bin/env bash
# The PATCH study on one model: dense, one-shot 2:4 baselines (magnitude, Wanda, SparseGPT), MaskLLM 2:4 and
# PATCH^Joint / PATCH^Tile at each target sparsity, all evaluated on the held-out python-docs test split.
# Writes every mask file, metrics log and eval JSON into OUT plus results.md (a markdown table) and results.jsonl.
# Resumable: a run whose results are already in OUT is not repeated, so a study can be spread over several calls.
#   scripts/study.sh MODEL OUT
# Settings (environment, defaults sized for one GPU): DEVICE=cuda SPARSITIES="0.25 0.35 0.45" STEPS=200 BATCH=16
# MICRO=8 SEQ=512 TILE=128x128 CALIB=128 CALIB_LEN=2048 EVAL_LEN=512 EVAL_WINDOWS=0 (all) METHODS="magnitude wanda
# sparsegpt maskllm joint tile", per-mode overrides STEPS_JOINT, STEPS_TILE, STEPS_MASKLLM, BATCH_JOINT, ..., and
# LEARN_ARGS (more flags for every `patchlm learn`, e.g. "--state-dtype bf16").
set -euo pipefail
model="$1"; out="$2"
DEVICE="${DEVICE:-cuda}"; SPARSITIES="${SPARSITIES:-0.25 0.35 0.45}"; STEPS="${STEPS:-200}"; BATCH="${BATCH:-16}"
MICRO="${MICRO:-8}"; SEQ="${SEQ:-512}"; TILE="${TILE:-128x128}"; CALIB="${CALIB:-128}"; CALIB_LEN="${CALIB_LEN:-2048}"
EVAL_LEN="${EVAL_LEN:-512}"; EVAL_WINDOWS="${EVAL_WINDOWS:-0}"; METHODS="${METHODS:-magnitude wanda sparsegpt maskllm joint tile}"
bin="${PATCHLM_BIN:-build/patchlm}"
mkdir -p "$out"
table="$out/results.md"
calib=(--calib-samples "$CALIB" --calib-seq-len "$CALIB_LEN")

now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }
ppl_of() { python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["perplexity"]["ppl"])' "$1"; }
sparsity_of() {
  python3 -c 'import json,sys; h=open(sys.argv[1],"rb").read(); n=int.from_bytes(h[:8],"little"); print("%.4f" % float(json.loads(h[8:8+n])["__metadata__"]["sparsity"]))' "$1"
}
wants() { [[ " $METHODS " == *" $1 "* ]]; }
finished() { [[ -f "$out/$1.ppl.json" && -f "$out/$1.seconds" ]]; }
evaluate() {  # tag, model, [--masks file]
  local tag="$1" m="$2"; shift 2
  "$bin" --quiet eval "$m" --tokenizer "$model" --device "$DEVICE" --seq-len "$EVAL_LEN" --max-windows "$EVAL_WINDOWS" \
    --batch 8 --out "$out/$tag.ppl.json" "$@" > /dev/null
}
row() {  # tag method pattern sparsity
  local tag="$1"
  echo "| $2 | $3 | $4 | $(ppl_of "$out/$tag.ppl.json") | $(cat "$out/$tag.seconds") |" >> "$table"
  echo "{\"method\": \"$2\", \"pattern\": \"$3\", \"sparsity\": $4, \"ppl\": $(ppl_of "$out/$tag.ppl.json"), \"seconds\": $(cat "$out/$tag.seconds")}" >> "$out/results.jsonl"
  tail -n 1 "$table"
}
one_shot() {  # method: prune with reconstruction where the method has it, evaluate the saved checkpoint
  local method="$1" t
  if ! finished "$method"; then
    t=$(now)
    "$bin" --quiet prune "$model" --method "$method" --pattern 2:4 --device "$DEVICE" "${calib[@]}" \
      --out "$out/$method.masks.safetensors" --save-pruned "$out/$method.pruned" > "$out/$method.layers.md"
    since "$t" > "$out/$method.seconds"
    evaluate "$method" "$out/$method.pruned"
    rm -rf "$out/$method.pruned"
  fi
  row "$method" "$method" 2:4 0.5
}
learn() {  # tag mode target
  local tag="$1" mode="$2" target="$3" t up
  up=$(echo "$mode" | tr a-z A-Z)
  local steps_var="STEPS_$up" batch_var="BATCH_$up" micro_var="MICRO_$up"
  if ! finished "$tag"; then
    t=$(now)
    rm -rf "$out/$tag.run"
    "$bin" --quiet learn "$model" --mode "$mode" --target-sparsity "$target" --device "$DEVICE" \
      --steps "${!steps_var:-$STEPS}" --batch "${!batch_var:-$BATCH}" --micro-batch "${!micro_var:-$MICRO}" \
      --seq-len "$SEQ" --tile-size "$TILE" "${calib[@]}" --prior "$out/sparsegpt.masks.safetensors" \
      --checkpoint-dir "$out/$tag.run" --out "$out/$tag.masks.safetensors" ${LEARN_ARGS:-} > "$out/$tag.layers.md"
    since "$t" > "$out/$tag.seconds"
    evaluate "$tag" "$model" --masks "$out/$tag.masks.safetensors"
  fi
  row "$tag" "$tag" "$( [[ $mode == maskllm ]] && echo 2:4 || echo hybrid )" "$(sparsity_of "$out/$tag.masks.safetensors")"
}

echo "| method | pattern | sparsity | PPL (test split, seq $EVAL_LEN) | seconds |" > "$table"
echo "|---|---|---|---|---|" >> "$table"
: > "$out/results.jsonl"
if ! finished dense; then t=$(now); evaluate dense "$model"; since "$t" > "$out/dense.seconds"; fi
row dense dense - 0
for method in magnitude wanda sparsegpt; do
  if wants "$method" || { [[ $method == sparsegpt ]] && { wants joint || wants tile || wants maskllm; }; }; then
    one_shot "$method"
  fi
done
if [[ -f "$out/sparsegpt.masks.safetensors" ]]; then  # the same mask on the original weights: what PATCH starts from
  if ! finished sparsegpt-mask; then
    evaluate sparsegpt-mask "$model" --masks "$out/sparsegpt.masks.safetensors"; echo 0 > "$out/sparsegpt-mask.seconds"
  fi
  row sparsegpt-mask "sparsegpt (mask only, no reconstruction)" 2:4 0.5
fi
if wants maskllm; then learn maskllm maskllm 0.5; fi
for target in $SPARSITIES; do
  if wants joint; then learn "patch-joint-$target" joint "$target"; fi
  if wants tile; then learn "patch-tile-$target" tile "$target"; fi
done
echo "settings: steps $STEPS (joint ${STEPS_JOINT:-$STEPS}, tile ${STEPS_TILE:-$STEPS}, maskllm ${STEPS_MASKLLM:-$STEPS}), batch $BATCH x seq $SEQ, tile $TILE, calibration $CALIB x $CALIB_LEN, evaluation $EVAL_WINDOWS windows (0 = all) x $EVAL_LEN, device $DEVICE" >> "$table"
cat "$table"
