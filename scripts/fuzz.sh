#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time on seed files.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [BUILD_DIR]
# Exit code != 0 when a target finds a crash; the reproducer is left in BUILD_DIR/fuzz/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-20}"
out="${2:-$root/build}/fuzz"
mkdir -p "$out/seeds/gguf" "$out/seeds/safetensors" "$out/seeds/tokenizer" "$out/seeds/hybrid" "$out/seeds/mask" \
  "$out/seeds/config" "$out/seeds/tasks" "$out/seeds/tokenizer_json"
printf 'The theme: "thing" 12345 <mask> word <|special|> caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82\n\t x' \
  > "$out/seeds/tokenizer/mixed.txt"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$root/src" -I"$root/tests")
cxx=(clang++)
command -v ccache >/dev/null && cxx=(ccache clang++)
sed 's/@PROJECT_VERSION@/fuzz/' "$root/src/util/version.cpp.in" > "$out/version.cpp"
common=("$root"/src/io/{dtype,gguf,dequant,mapped_file,safetensors,hybrid_file,hybrid_layout,tiles,mask_file}.cpp
        "$root"/src/io/{model_config,families}.cpp "$root"/src/eval/{tasks,python_literal}.cpp
        "$root"/src/util/{atomic_file,interrupt,json_io}.cpp
        "$root"/src/io/tokenizer/*.cpp "$out/version.cpp")
libs=(-lpcre2-8 -lutf8proc -lsimdjson)
"${cxx[@]}" -std=c++20 -I"$root/tests" "$root/tests/fuzz/seeds.cpp" -o "$out/fuzz_seeds"
"$out/fuzz_seeds" "$out/seeds"
# Inputs that once crashed a target stay as seeds, so a regression is found at once.
cp "$root"/tests/fuzz/regressions/safetensors-* "$out/seeds/safetensors/" 2>/dev/null || true
cp "$root"/tests/fuzz/regressions/gguf-* "$out/seeds/gguf/" 2>/dev/null || true
cp "$root"/tests/fuzz/regressions/tokenizer_json-* "$out/seeds/tokenizer_json/" 2>/dev/null || true
# The shared sources are compiled once (in parallel), then each target links against them.
mkdir -p "$out/obj"
objects=()
jobs_max="$(nproc)"
for src in "${common[@]}"; do
  obj="$out/obj/$(echo "${src#$root/}" | tr '/' '_').o"
  objects+=("$obj")
  "${cxx[@]}" "${flags[@]}" -c "$src" -o "$obj" &
  while [[ $(jobs -rp | wc -l) -ge $jobs_max ]]; do wait -n; done
done
for pid in $(jobs -rp); do wait "$pid"; done
for target in gguf safetensors tokenizer tokenizer_json hybrid mask config tasks; do
  "${cxx[@]}" "${flags[@]}" "$root/tests/fuzz/fuzz_$target.cpp" "${objects[@]}" "${libs[@]}" -o "$out/fuzz_$target"
  mkdir -p "$out/corpus/$target"
  (cd "$out" && "./fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 \
      "corpus/$target" "seeds/$target" 2>&1 | tail -n 3)
done
