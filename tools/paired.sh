# Shared by tools/margin.sh and tools/word_time.sh (sourced; they set PY).

# The four procedural test splits, tested together (`compare --pool`).
PROC="--data data/synthetic --data data/synthetic_seed1 --data data/synthetic_seed2 \
  --data data/synthetic_seed3 --split test --pool"

paired() {  # A, B, procedural output .json, Bandai-Namco output .json
  # shellcheck disable=SC2086
  $PY -m motion_retrieval compare --checkpoint "$1" --checkpoint "$2" $PROC --output "$3"
  $PY -m motion_retrieval compare --checkpoint "$1" --checkpoint "$2" --data data/bandai \
    --split test --output "$4"
}

session6_default() {  # the default of sessions 5-6 (faithful_e12_hybrid), from git; prints its folder
  local dir=runs/default_session6
  [ -f "$dir/config.json" ] || { mkdir -p "$dir" && git archive 4c7f4da weights/default \
    | tar -x -C "$dir" --strip-components=2; }
  echo "$dir"
}
