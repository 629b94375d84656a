#!/usr/bin/env bash
# "Other people's sentences" (docs/results.md): every recorded model on the held-out query sets
# (assets/queries/*_heldout.jsonl, written blind in session 8), and paired tests of those
# queries. Procedural: the held-out set against each of the four procedural test splits,
# pooled (each query ranked in its own split's gallery); Bandai-Namco: its test split.
# Needs the runs named below (tools/margin.sh, tools/word_time.sh, SEED=1 of both).
#
#   bash tools/heldout.sh              # about 15 minutes on 2 CPU cores
#   RUNS="name:ckpt ..." bash tools/heldout.sh   # other checkpoints
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
# shellcheck source=tools/paired.sh
. tools/paired.sh
OLD=$(session6_default)
RUNS=${RUNS:-"when_e12_hybrid:weights/default when_e12:runs/when_e12/best
  when_e12_s1_hybrid:runs/when_e12_s1/hybrid when_e12_s1:runs/when_e12_s1/best
  faithful_e12_hybrid:$OLD global_hn_e12:runs/global_hn_e12/best
  global_e12_s1:runs/global_e12_s1/best"}
QP=assets/queries/procedural_heldout.jsonl
QB=assets/queries/bandai_heldout.jsonl

for pair in $RUNS; do
  name=${pair%%:*}; ck=${pair#*:}
  mkdir -p "docs/results/$name"
  for d in synthetic synthetic_seed1 synthetic_seed2 synthetic_seed3; do
    $PY -m motion_retrieval evaluate --checkpoint "$ck" --data "data/$d" --split test --json \
      --no-grounding --queries "$QP" --output "docs/results/$name/heldout_$d.json" > /dev/null
  done
  $PY -m motion_retrieval evaluate --checkpoint "$ck" --data data/bandai --split test --json \
    --no-grounding --queries "$QB" --output "docs/results/$name/heldout_bandai.json" > /dev/null
  echo "evaluated $name"
done

heldout_paired() {  # A, B, output name
  # shellcheck disable=SC2086
  $PY -m motion_retrieval compare --checkpoint "$1" --checkpoint "$2" $PROC --queries "$QP" \
    --output "docs/results/compare/heldout_$3_procedural.json" > /dev/null
  $PY -m motion_retrieval compare --checkpoint "$1" --checkpoint "$2" --data data/bandai \
    --split test --queries "$QB" --output "docs/results/compare/heldout_$3_bandai.json" > /dev/null
  echo "compared $3"
}
if [ -z "${SKIP_PAIRED:-}" ]; then
  heldout_paired weights/default runs/global_hn_e12/best default_vs_global_hn_e12
  heldout_paired weights/default runs/global_e12_s1/best default_vs_global_e12_s1
  heldout_paired weights/default "$OLD" default_vs_faithful_e12_hybrid
fi
