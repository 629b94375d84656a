#!/usr/bin/env bash
# Reproduces the ablation table of docs/results.md: four recipes, the same budget (the `cpu`
# preset, 4 epochs, one thread each, run side by side on 2 cores), evaluated on the test splits
# of the procedural corpus and of Bandai-Namco. Checkpoints are chosen on validation only.
#
#   bash tools/ablation.sh            # ~90 minutes on 2 CPU cores
#   EPOCHS=1 bash tools/ablation.sh   # a quick smoke version
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
EPOCHS=${EPOCHS:-4}
BANDAI=${BANDAI:-../shared/data/bandai-namco}

$PY -m motion_retrieval prepare synthetic:5000 --seed 0 --out data/synthetic
$PY -m motion_retrieval prepare "bandai:$BANDAI" --out data/bandai

DATA="--data data/synthetic --data data/bandai"
COMMON="num_threads=1 epochs=$EPOCHS grounding_from=synthetic"
declare -A RECIPE=(
  [global]="--config cpu --set $COMMON model.scorer=global"
  [vanilla]="--config cpu --set $COMMON"
  [faithful_nogr]="--config faithful --set $COMMON grounding_weight=0"
  [faithful]="--config faithful --set $COMMON"
)
for name in "${!RECIPE[@]}"; do
  # shellcheck disable=SC2086
  $PY -m motion_retrieval train $DATA --out "runs/$name" ${RECIPE[$name]} > "runs/$name.log" 2>&1 &
done
wait
for name in "${!RECIPE[@]}"; do
  for data in synthetic bandai; do
    $PY -m motion_retrieval evaluate --checkpoint "runs/$name/best" --data "data/$data" \
      --split test --json --output "runs/$name/test_$data.json" > /dev/null
  done
done
$PY tools/results_table.py runs/global runs/vanilla runs/faithful_nogr runs/faithful
