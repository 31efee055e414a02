#!/usr/bin/env bash
# `make demo`: the end-to-end job on the packaged real model. It runs only what exists today and says plainly
# what does not exist yet — it never prints a made-up number.
set -euo pipefail
bin="${1:-build/patchlm}"
echo "== patchlm build"
"$bin" info
echo
echo "The end-to-end PATCH demo (dense PPL -> SparseGPT 2:4 -> PATCH^Joint / PATCH^Tile on SmolLM2-135M) needs"
echo "model loading, the tokenizer, evaluation, pruning and mask learning, which are not implemented yet."
echo "Nothing else to run: no results are shown until they are computed."
