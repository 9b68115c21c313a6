#!/usr/bin/env bash
# The measured floor of docs/codec.md: train the r941-cpu preset for at most 20 minutes on CPU,
# then compare scrappie identity of original vs decoded signal and build the rate-distortion table.
# Usage: [FINETUNE_MINUTES=35] plugins/codec/floor.sh OUTDIR   (pin cores with e.g. `taskset -c 0,1`; uses `genotool` from PATH)
set -euo pipefail
OUT=${1:?usage: floor.sh OUTDIR}
MINUTES=${FLOOR_MINUTES:-19}
mkdir -p "$OUT"
set -x
genotool codec simulate -o "$OUT/train_sim" --chemistry r9.4.1 --num-reads 300 --read-length 2000 --seed 5 --force
genotool codec simulate -o "$OUT/test_sim" --chemistry r9.4.1 --num-reads 40 --read-length 1500 --seed 99 --force
genotool codec preprocess --pod5 "$OUT/train_sim/pod5" -o "$OUT/dataset" --window 10000 --force
/usr/bin/time -v genotool codec train --data "$OUT/dataset" -o "$OUT/model" --config r941-cpu \
    --max-minutes "$MINUTES" --quiet --force 2> "$OUT/train_time.txt"
# train fits the entropy-coding prior itself; a model folder from an older genotool gets one here.
[ -f "$OUT/model/model/prior.npz" ] || genotool codec prior -m "$OUT/model" -d "$OUT/dataset"
# Optional (FINETUNE_MINUTES > 0): fine-tune the model for the 2-codebook rate (every batch on exactly
# 2 levels, lower learning rate) and put it in the same table as a second codec curve.
FT=${FINETUNE_MINUTES:-0}
ALSO=()
if [ "$FT" != 0 ]; then
    genotool codec train --data "$OUT/dataset" -o "$OUT/model_2cb" --config r941-cpu --resume "$OUT/model" \
        --set train.steps=9000 --set train.learning_rate=0.0003 --set train.active_codebooks=2 \
        --max-minutes "$FT" --quiet --force
    ALSO=(--also-model "$OUT/model_2cb" --also-codebooks 2)
fi
# One rate-distortion table: the codec at 1, 2, 3 codebooks (entropy-coded token files) and the
# baselines (drop k = 1..5 low bits + VBZ; LFZip-style predictive quantiser at max error 4, 8, 16 ADC),
# all basecalled with scrappie on the same 40 held-out reads.
# Each codec row twice: greedy codes (the fast default) and the signal search (candidates judged by
# the decoded signal; same decoder and rate, slower encode).
genotool codec dorado-validate -m "$OUT/model" --pod5 "$OUT/test_sim/pod5" --truth "$OUT/test_sim/truth.fa" \
    --codebooks 1,2,3 "${ALSO[@]}" --search greedy,signal --max-reads 40 --basecaller-threads 2 \
    -o "$OUT/scrappie_rd" --force
genotool codec validate -m "$OUT/model" --pod5 "$OUT/test_sim/pod5" --codebooks 1,2,3 -o "$OUT/validate" --force
genotool codec bench -m "$OUT/model" --seconds 120 --train-steps 10 -o "$OUT/bench.json" --force
