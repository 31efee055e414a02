#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time on seed files.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [BUILD_DIR]
# Exit code != 0 when a target finds a crash; the reproducer is left in BUILD_DIR/fuzz/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-20}"
out="${2:-$root/build}/fuzz"
mkdir -p "$out/seeds/gguf" "$out/seeds/safetensors"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$root/src" -I"$root/tests")
cxx=(clang++)
command -v ccache >/dev/null && cxx=(ccache clang++)
sed 's/@PROJECT_VERSION@/fuzz/' "$root/src/util/version.cpp.in" > "$out/version.cpp"
common=("$root"/src/io/{dtype,gguf,dequant,mapped_file,safetensors}.cpp "$root"/src/util/{atomic_file,json_io}.cpp
        "$out/version.cpp")
"${cxx[@]}" -std=c++20 -I"$root/tests" "$root/tests/fuzz/seeds.cpp" -o "$out/fuzz_seeds"
"$out/fuzz_seeds" "$out/seeds"
# Inputs that once crashed a target stay as seeds, so a regression is found at once.
cp "$root"/tests/fuzz/regressions/safetensors-* "$out/seeds/safetensors/" 2>/dev/null || true
cp "$root"/tests/fuzz/regressions/gguf-* "$out/seeds/gguf/" 2>/dev/null || true
for target in gguf safetensors; do
  "${cxx[@]}" "${flags[@]}" "$root/tests/fuzz/fuzz_$target.cpp" "${common[@]}" -o "$out/fuzz_$target"
  mkdir -p "$out/corpus/$target"
  (cd "$out" && "./fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 \
      "corpus/$target" "seeds/$target" 2>&1 | tail -n 3)
done
