#!/usr/bin/env bash
# Reproduces "Words that know when" (docs/results.md): the faithful recipe with model.word_time
# (now part of the preset; seed 42, as the default), its hybrid weight chosen on validation, the
# test rows, and paired tests against the default of session 6 and the pooled baselines on the
# four procedural test splits and Bandai-Namco. Needs the runs of tools/margin.sh for the
# baselines (runs/global_hn_e12, runs/global_e12_s1).
#
#   bash tools/word_time.sh          # ~45 min of training on 2 CPU cores, then ~15 min
#   SEED=1 bash tools/word_time.sh   # the second seed, paired with faithful_e12_s1_hybrid
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
SEED=${SEED:-42}
if [ "$SEED" = 42 ]; then R=when_e12; else R=when_e12_s$SEED; fi
DATA="--data data/synthetic --data data/bandai"

[ -f "runs/$R/best/config.json" ] || $PY -m motion_retrieval train $DATA --config faithful \
  --out "runs/$R" --set num_threads=2 epochs=12 grounding_from=synthetic \
  model.word_time=true word_time_weight=1.0 seed="$SEED" > "runs/$R.log" 2>&1
[ -d "runs/$R/hybrid" ] || $PY -m motion_retrieval hybrid --checkpoint "runs/$R/best" $DATA \
  --out "runs/$R/hybrid"

for ck in best hybrid; do
  out="docs/results/$R"
  if [ "$ck" = hybrid ]; then out="docs/results/${R}_hybrid"; fi
  mkdir -p "$out"
  $PY -m motion_retrieval evaluate --checkpoint "runs/$R/$ck" --data data/synthetic --split test \
    --json --queries assets/queries/procedural.jsonl --output "$out/test_synthetic.json"
  $PY -m motion_retrieval evaluate --checkpoint "runs/$R/$ck" --data data/bandai --split test \
    --json --queries assets/queries/bandai.jsonl --output "$out/test_bandai.json"
done
cp "runs/$R/log.jsonl" "runs/$R/train_config.json" "docs/results/$R/"

# shellcheck source=tools/paired.sh
. tools/paired.sh
compare() {  # name, A, B
  paired "$2" "$3" "docs/results/compare/procedural4_$1.json" "docs/results/compare/$1.json"
}
compare "${R}_vs_global_hn_e12" "runs/$R/best" runs/global_hn_e12/best
compare "${R}_hybrid_vs_global_hn_e12" "runs/$R/hybrid" runs/global_hn_e12/best
if [ "$SEED" = 42 ]; then
  compare "${R}_hybrid_vs_default" "runs/$R/hybrid" "$(session6_default)"
else  # the same seed without word time (tools/margin.sh)
  compare "${R}_hybrid_vs_faithful_e12_s${SEED}_hybrid" "runs/$R/hybrid" \
    "runs/faithful_e12_s$SEED/hybrid"
  compare "${R}_hybrid_vs_global_e12_s$SEED" "runs/$R/hybrid" "runs/global_e12_s$SEED/best"
fi
compare "${R}_vs_global_e12_s1" "runs/$R/best" runs/global_e12_s1/best
# The hybrid weight's validation table, beside the test rows.
$PY -c "import json, sys; json.dump(json.load(open(sys.argv[1]))['meta']['whole_clip_selection'], open(sys.argv[2], 'w'), \
indent=1)" "runs/$R/hybrid/config.json" "docs/results/${R}_hybrid/selection.json"
