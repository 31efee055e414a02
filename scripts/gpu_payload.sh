#!/usr/bin/env bash
# Moving a model larger than one device call carries (64 MiB with the tree) to the GPU machine, as the study in
# docs/results.md did: split it here into ≤ 50 MB pieces under .payload/ (ignored by git; add `/.payload/` to
# .git/info/exclude), then send one piece per call — each call names its piece in `carry` — while the machine stays
# warm; the last call assembles the file outside the repository and checks its sha256.
#   here:  scripts/gpu_payload.sh split MODEL NAME          → .payload/NAME.part00.. + NAME.sha256
#   there: scripts/gpu_payload.sh receive NAME [DEST_DIR]    → appends the carried piece(s) to DEST_DIR (default ~/m)
#          scripts/gpu_payload.sh assemble NAME [DEST_DIR]   → DEST_DIR/NAME, sha256 checked, pieces removed
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
payload="$root/.payload"
case "${1:-}" in
  split)
    model="$2"; name="$3"; mkdir -p "$payload"
    split -b 34000000 -d "$model" "$payload/$name.part"
    sha256sum "$model" | cut -d' ' -f1 > "$payload/$name.sha256"
    ls "$payload"/"$name".part* | sed 's|.*/|.payload/|' ;;
  receive)
    name="$2"; dest="${3:-$HOME/m}"; mkdir -p "$dest"
    for f in "$payload/$name".part* "$payload/$name.sha256"; do [[ -f "$f" ]] && cp "$f" "$dest/"; done
    ls "$dest" ;;
  assemble)
    name="$2"; dest="${3:-$HOME/m}"
    cat "$dest/$name".part* > "$dest/$name"
    echo "$(cat "$dest/$name.sha256")  $dest/$name" | sha256sum -c
    rm -f "$dest/$name".part* ;;
  *) echo "usage: scripts/gpu_payload.sh split MODEL NAME | receive NAME [DIR] | assemble NAME [DIR]" >&2; exit 2 ;;
esac
