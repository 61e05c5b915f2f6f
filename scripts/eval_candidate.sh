#!/usr/bin/env bash
# Every suite that decides whether a model may replace the shipped one, on 2 CPU cores (about 5 minutes):
#
#     bash scripts/eval_candidate.sh MODEL OUT [TEMPERATURE] [DATA] [HELDOUT_EVALUATOR]
#
# MODEL: a model folder (RUN/final); OUT: a results folder; TEMPERATURE: the motion's sampling temperature
# (default: the model's own, from its config.json, else the package's 1.0); DATA: the folder holding bandai/, anycontext/, x2mo/ (default data). Two sequences run
# side by side on one thread each. The shipped model's figures to compare with are in the README
# ("A fifth ..." and "Measured"). Describing motions is part of it: a model moved onto another tokenizer's
# codes can generate well and still have forgotten how to read motions (the fifth fine-tune, 2026-12-07).
# HELDOUT_EVALUATOR (e.g. runs/eval_heldout/best) judges the captions a second time: the shipped evaluator
# was trained on the captions of its day and ranks today's own ground truth at R@1 72.5 (the held-out one: 94.8).
set -euo pipefail
M=$1; O=$2; D=${4:-data}; H=${5:-}
TEMP=(); [ -n "${3:-}" ] && TEMP=(--temperature "$3")
mkdir -p "$O"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
follow() { omnimogen bench follow --data "$D/bandai" --model "$M" "${TEMP[@]}" --overwrite "$@"; }
(
  follow --prompts benchmarks/follow/skills/prompts.json --split all --repeats 16 --out "$O/skills16" > "$O/skills16.log" 2>&1
  omnimogen bench t2m --data "$D/bandai" --model "$M" --quick --repeats 8 "${TEMP[@]}" --out "$O/t2m" --overwrite > "$O/t2m.log" 2>&1
  follow --split dev --repeats 2 --out "$O/follow" > "$O/follow.log" 2>&1
) &
a=$!
(
  omnimogen bench anycontext --data "$D/bandai" --model "$M" --cases "$D/anycontext" --quick --repeats 4 "${TEMP[@]}" \
    --out "$O/anycontext" --overwrite > "$O/anycontext.log" 2>&1
  omnimogen bench edit --data "$D/bandai" --model "$M" --cases "$D/x2mo" --quick --repeats 2 "${TEMP[@]}" \
    --out "$O/edit" --overwrite > "$O/edit.log" 2>&1
  python scripts/bench_describe.py --data "$D/bandai" --model "$M" --temperatures 0.6 --threads 1 \
    --out "$O/describe.json" > "$O/describe.log" 2>&1
  if [ -n "$H" ]; then
    python scripts/bench_describe.py --data "$D/bandai" --model "$M" --temperatures 0.6 --threads 1 --evaluator "$H" \
      --out "$O/describe_heldout.json" > "$O/describe_heldout.log" 2>&1
  fi
) &
b=$!
status=0
wait "$a" || status=1
wait "$b" || status=1
[ "$status" = 0 ] || { echo "a suite failed: see the logs in $O" >&2; exit 1; }
echo "wrote $O: skills16, t2m, follow, anycontext, edit, describe.json"
