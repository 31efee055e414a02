#!/usr/bin/env bash
# Peak resident memory (GNU time's maximum RSS) of every command on the packaged SmolLM2-135M, CPU, f32 — the table
# in docs/reliability.md.   scripts/peak_memory.sh [BIN] [WORK_DIR]
set -euo pipefail
bin="${1:-build/patchlm}"
work="${2:-$(mktemp -d)}"
model="data/models/smollm2-135m-instruct-q4_1.gguf"
command -v /usr/bin/time >/dev/null || { echo "peak_memory: needs GNU time (apt-get install time)" >&2; exit 1; }
measure() {
  local name="$1"; shift
  if ! /usr/bin/time -f '%M' "$@" >/dev/null 2>"$work/err"; then tail -n 3 "$work/err" >&2; exit 1; fi
  printf '| `%s` | %d |\n' "$name" $(( $(tail -n 1 "$work/err") / 1024 ))
}
echo "| command (SmolLM2-135M, CPU) | peak RSS MiB |"
echo "|---|---|"
measure "inspect" "$bin" inspect "$model"
measure "tokenize --text" "$bin" tokenize "$model" --text "The Python tutorial introduces the reader informally."
measure "convert" "$bin" convert "$model" "$work/hf"
measure "forward (16 tokens)" "$bin" forward "$model" --ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 --out "$work/logits.safetensors"
measure "generate (32 tokens)" "$bin" generate "$model" --prompt "Sparse neural networks are" --max-new-tokens 32
measure "eval (8 windows of 512)" "$bin" eval "$model" --seq-len 512 --max-windows 8
measure "prune sparsegpt 2:4 (16 x 512 calibration)" "$bin" prune "$model" --method sparsegpt --calib-samples 16 \
  --calib-seq-len 512 --out "$work/sg.safetensors"
measure "learn joint (2 steps of 2 x 256, 64x64 tiles)" "$bin" learn "$model" --mode joint --steps 2 --batch 2 \
  --micro-batch 2 --seq-len 256 --max-sequences 16 --prior magnitude --tile-prior magnitude --tile-size 64x64 \
  --out "$work/joint.safetensors"
measure "export --format hybrid (64x64)" "$bin" export "$model" "$work/hybrid" --masks "$work/joint.safetensors" \
  --format hybrid --tile-size 64x64
measure "generate from the hybrid checkpoint" "$bin" generate "$work/hybrid" --prompt "Sparse neural networks are" \
  --max-new-tokens 32
