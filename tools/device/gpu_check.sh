#!/usr/bin/env bash
# The GPU check of issue #4: training on CUDA with bf16 autocast, CUDA inference, resume.
# Runs on a machine that has torch, timm and transformers but not our venv, after
# `bash tools/device/prepare_carry.sh` here (carry ["artifacts/device"]; docs/training.md).
#
#   bash tools/device/gpu_check.sh                               (on the GPU machine)
#   DEVICE=cpu N=200 EPOCHS=1 EVAL_MAX_CLIPS=32 OMP_NUM_THREADS=1 \
#     EXTRA_SET="num_threads=1 max_train_clips=48 max_val_clips=32 batch_size=16" \
#     PY=.venv/bin/python bash tools/device/gpu_check.sh         (dry run here, on the CPU)
#
# Steps (each timed, logged to $OUT/log.txt; a failed step does not hide later independent ones):
#   env         versions, nvidia-smi, CUDA, bf16; stops here if a needed module is missing
#   prepare     synthetic:N procedural corpus (3.3 s per 1000 clips on one core here, written
#               in 2.6 s per 1000 with 2 processes: generate_records uses up to 4 processes)
#   train       faithful preset, --device $DEVICE, EPOCHS epochs, grounding_from=synthetic
#   eval_trained, eval_default_device, eval_default_cpu   test split, --json
#   default_scores  weights/default's score matrix on $DEVICE vs CPU (first 128 test clips)
#   resume      --resume for one more epoch
#   pytest      tests/test_cuda.py (if pytest imports)
# Env: N (5000), EPOCHS (8), SKIP_TRAIN=1, SKIP_PYTEST=1, EXTRA_SET (more --set for train),
#      EVAL_MAX_CLIPS (0 = all), SCORE_CLIPS (128), TRAIN_TIMEOUT (270 s), BUDGET_S (480 s:
#      later steps are cut short or skipped so the script ends within it),
#      OUT (./artifacts/device_out), PY (python3), DEVICE (cuda).
# Back in $OUT (6 files): log.txt, summary.json, train_log.jsonl, eval_trained.json,
#   eval_default_device.json, eval_default_cpu.json.
set -euo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PYTHONPATH="$ROOT/artifacts/device/pylib:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-$(command -v python3 || command -v python || true)}
[ -n "$PY" ] || { echo "gpu_check: no python3 or python on PATH" >&2; exit 1; }
DEVICE=${DEVICE:-cuda}
export N=${N:-5000} EPOCHS=${EPOCHS:-8} EXTRA_SET=${EXTRA_SET:-} SKIP_TRAIN=${SKIP_TRAIN:-0}
export SKIP_PYTEST=${SKIP_PYTEST:-0} EVAL_MAX_CLIPS=${EVAL_MAX_CLIPS:-0}
export TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-270} BUDGET_S=${BUDGET_S:-480} SCORE_CLIPS=${SCORE_CLIPS:-128}
OUT=${OUT:-$ROOT/artifacts/device_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
DATA=$WORK/synthetic   # the folder name is what grounding_from names
RUN=$WORK/run
LOG=$OUT/log.txt
: > "$LOG"
: > "$WORK/steps.tsv"
START=$(date +%s)
FAILED=0

say() { echo "[$(date +%H:%M:%S) +$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$WORK/steps.tsv"; }
# Progress bars (tqdm redraws with \r) and blank lines are dropped from the log.
unbar() { awk -v RS='[\r\n]' 'NF && !/[0-9]%\|/ && !/it\/s\]$/ && !/s\/it\]$/ {print; fflush()}'; }

# step NAME LIMIT_S CMD...: run CMD under `timeout`, cut to what is left of BUDGET_S.
step() {
  local name=$1 limit=$2 rc=0 t0 left dt status
  shift 2
  left=$((BUDGET_S - ($(date +%s) - START)))
  if [ "$left" -lt 20 ]; then
    say "=== $name: skipped (budget of ${BUDGET_S}s spent)"
    record "$name" skipped_budget 0 0
    FAILED=1
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "=== $name (limit ${limit}s): $*"
  t0=$(date +%s.%N)
  set +e
  timeout -k 10 "$limit" "$@" 2>&1 | unbar | tee -a "$LOG" > "$WORK/$name.out"
  rc=${PIPESTATUS[0]}
  set -e
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  case $rc in
    0) status=ok ;;
    124|137) status=timeout ;;
    *) status=failed ;;
  esac
  record "$name" "$status" "$rc" "$dt"
  say "=== $name: $status (rc $rc) in ${dt}s"
  if [ "$rc" -ne 0 ]; then
    FAILED=1
    echo "--- last lines of $name:"
    tail -n 25 "$WORK/$name.out"
  fi
  return "$rc"
}

skip() { say "=== $1: skipped ($2)"; record "$1" skipped 0 0; }

finish() {
  [ -f "$RUN/log.jsonl" ] && cp "$RUN/log.jsonl" "$OUT/train_log.jsonl"
  say "=== summary"
  "$PY" tools/device/gpu_report.py summary --work "$WORK" --out "$OUT" --device "$DEVICE" \
    2>&1 | tee -a "$LOG" || echo "summary failed" | tee -a "$LOG"
  say "done in $(($(date +%s) - START))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
  rm -rf "$WORK"
}
trap finish EXIT

say "gpu_check: DEVICE=$DEVICE N=$N EPOCHS=$EPOCHS EXTRA_SET='$EXTRA_SET' SKIP_TRAIN=$SKIP_TRAIN \
BUDGET_S=$BUDGET_S PY=$PY work=$WORK"

# a. environment
if ! step env 150 "$PY" tools/device/gpu_report.py env --device "$DEVICE" --out "$WORK/env.json"
then
  say "STOP: the environment check failed (see above); nothing else can run"
  exit 1
fi

# b. the procedural corpus
if ! step prepare 120 "$PY" -m motion_retrieval prepare "synthetic:$N" --seed 0 --out "$DATA"
then
  say "STOP: no data"
  exit 1
fi

# c. training on $DEVICE (bf16 autocast on CUDA)
trained=0
if [ "$SKIP_TRAIN" = 1 ]; then
  skip train "SKIP_TRAIN=1"
else
  # shellcheck disable=SC2086
  step train "$TRAIN_TIMEOUT" "$PY" -m motion_retrieval train --data "$DATA" --config faithful \
    --out "$RUN" --device "$DEVICE" --set "epochs=$EPOCHS" grounding_from=synthetic $EXTRA_SET \
    || true
  if [ -f "$RUN/last/train_state.json" ]; then
    trained=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['epoch'] + 1)" \
      "$RUN/last/train_state.json")
    echo "$trained" > "$WORK/trained_epochs"
    say "trained epochs completed: $trained"
  fi
fi

# d. evaluation on the test split
EV=(--data "$DATA" --split test --json --max-clips "$EVAL_MAX_CLIPS")
if [ -f "$RUN/best/config.json" ]; then
  step eval_trained 90 "$PY" -m motion_retrieval evaluate --checkpoint "$RUN/best" "${EV[@]}" \
    --device "$DEVICE" --output "$OUT/eval_trained.json" || true
else
  skip eval_trained "no trained checkpoint"
fi
step eval_default_device 90 "$PY" -m motion_retrieval evaluate --checkpoint weights/default \
  "${EV[@]}" --device "$DEVICE" --output "$OUT/eval_default_device.json" || true
step eval_default_cpu 150 "$PY" -m motion_retrieval evaluate --checkpoint weights/default \
  "${EV[@]}" --device cpu --output "$OUT/eval_default_cpu.json" || true
step default_scores 90 "$PY" tools/device/gpu_report.py scores --checkpoint weights/default \
  --data "$DATA" --device "$DEVICE" --max-clips "$SCORE_CLIPS" --out "$WORK/scores.json" || true

# e. resume for one more epoch
if [ "$trained" -gt 0 ]; then
  step resume 120 "$PY" -m motion_retrieval train --data "$DATA" --config faithful \
    --out "$RUN" --device "$DEVICE" --resume --set "epochs=$((trained + 1))" || true
else
  skip resume "no last/ checkpoint to resume"
fi

# f. the CUDA tests (self-contained: --noconftest, so hypothesis is not needed)
if [ "$SKIP_PYTEST" = 1 ]; then
  skip pytest "SKIP_PYTEST=1"
elif "$PY" -c "import pytest" 2>/dev/null; then
  step pytest 150 "$PY" -m pytest -q -p no:cacheprovider --noconftest tests/test_cuda.py || true
else
  skip pytest "pytest is not installed"
fi

[ "$FAILED" = 0 ] || { say "some steps failed (summary.json: steps)"; exit 1; }
