#!/usr/bin/env bash
# The GPU machine has CUDA, PyTorch, CMake and ninja but none of our Debian -dev packages and no network.
#   scripts/gpu_deps.sh download   (here, with apt)   → .gpu-deps/debs/*.deb (~3 MB, ignored by git)
#   scripts/gpu_deps.sh unpack     (there)            → .gpu-deps/root/usr/... used by `make gpu-build`
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/.gpu-deps"
packages=(nlohmann-json3-dev libcli11-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
          libutf8proc-dev libutf8proc2 libsimdjson-dev libsimdjson14 libgtest-dev libgmock-dev googletest
          libcpp-httplib0.11 libcpp-httplib-dev)
case "${1:-}" in
  download)
    mkdir -p "$deps/debs"
    (cd "$deps/debs" && apt-get download "${packages[@]}" 2>/dev/null)
    echo "gpu_deps: $(ls "$deps/debs" | wc -l) packages in $deps/debs" ;;
  unpack)
    [[ -d "$deps/debs" ]] || { echo "gpu_deps: error: no $deps/debs (run 'scripts/gpu_deps.sh download' first)" >&2; exit 1; }
    mkdir -p "$deps/root"
    for f in "$deps"/debs/*.deb; do dpkg -x "$f" "$deps/root"; done
    echo "gpu_deps: unpacked into $deps/root" ;;
  *) echo "usage: scripts/gpu_deps.sh download|unpack" >&2; exit 2 ;;
esac
