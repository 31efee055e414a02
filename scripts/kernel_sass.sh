#!/usr/bin/env bash
# What ptxas made of a kernel file for Hopper, without a GPU: compiles it for sm_90a, prints ptxas's registers, spills
# and warnings (e.g. "wgmma ... serialized"), and per kernel the counts that decided the wgmma kernel's speed before
# (docs/performance.md, issue 21 steps 2 and 10): HGMMA instructions, R2UR moves (descriptors built in vector
# registers instead of on the uniform datapath) and uniform-datapath ops. Run it before spending device time.
#   scripts/kernel_sass.sh [file.cu] [kernel-name-filter]     (default: src/kernels/hybrid_prefill.cu, all kernels)
# cuobjdump and the nvdisasm it runs are not part of the CUDA toolkit here: taken from PATH, or installed once from PyPI
# (nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm) into the project's virtualenv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_file="${1:-$root/src/kernels/hybrid_prefill.cu}"
filter="${2:-}"
[[ -f "$source_file" ]] || { echo "kernel_sass: error: no file $source_file" >&2; exit 1; }
python="$root/.venv/bin/python"
[[ -x "$python" ]] || { echo "kernel_sass: error: no $python (run 'make setup' first)" >&2; exit 1; }
command -v nvcc > /dev/null || export PATH="/usr/local/cuda/bin:$PATH"
command -v nvcc > /dev/null || { echo "kernel_sass: error: no nvcc (CUDA toolkit) on PATH or in /usr/local/cuda/bin" >&2; exit 1; }

site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# A CUDA tool from PATH, or from its PyPI package in the virtualenv (installed on first use).
tool() {
  local name="$1" package="$2" path
  path="$(command -v "$name" || true)"
  if [[ -z "$path" ]]; then
    path="$site/nvidia/cu13/bin/$name"
    [[ -x "$path" ]] || { "$python" -m pip install --quiet "$package" > /dev/null; chmod +x "$path" 2> /dev/null || true; }
    [[ -x "$path" ]] || { echo "kernel_sass: error: no $name at $path after installing $package" >&2; exit 1; }
  fi
  echo "$path"
}
cuobjdump="$(tool cuobjdump nvidia-cuda-cuobjdump)"
nvdisasm="$(tool nvdisasm nvidia-cuda-nvdisasm)"  # its own line: a failure inside dirname's argument would not stop set -e
export NVDISASM_PATH="$(dirname "$nvdisasm")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# -lineinfo as the build has it (src/CMakeLists.txt): it changes ptxas's register allocation — a kernel that compiled clean
# without it serialised its wgmmas with it (docs/performance.md, step 22).
nvcc -std=c++17 -O3 -lineinfo -gencode=arch=compute_90a,code=sm_90a -I"$root/src" -I"$site/torch/include" -Xptxas -v \
  -c "$source_file" -o "$work/kernel.o" 2> "$work/ptxas.txt" || { cat "$work/ptxas.txt" >&2; exit 1; }
grep -E "warning|Performance Loss|Used [0-9]+ registers|spill (stores|loads)" "$work/ptxas.txt" | grep -v " 0 bytes spill stores, 0 bytes spill loads" || true
"$cuobjdump" -sass "$work/kernel.o" | c++filt > "$work/kernel.sass"
awk -v filter="$filter" '
  function report() {
    if (name != "" && (filter == "" || index(name, filter) > 0))
      printf "%-44s instructions %5d  HGMMA %3d  R2UR %4d  uniform ops %4d\n", name, lines, hgmma, r2ur, uniform
  }
  /Function :/ {  # the demangled name without namespaces and parameters: "prefill_kernel<128, 128, 64>"
    report(); name = $0; sub(/.*Function : /, "", name); gsub(/\(anonymous namespace\)::/, "", name)
    sub(/\(.*/, "", name); sub(/.*::/, "", name)
    lines = hgmma = r2ur = uniform = 0; next
  }
  name != "" && /\/\*[0-9a-f]+\*\// {
    lines++
    if ($0 ~ /HGMMA/) hgmma++
    if ($0 ~ /R2UR/) r2ur++
    if ($0 ~ / U(IADD3|LOP3|SHF|LEA|MOV|IMAD)/) uniform++
  }
  END { report() }' "$work/kernel.sass"
