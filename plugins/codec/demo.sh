#!/usr/bin/env bash
# genotool codec demo: simulate -> preprocess -> train -> encode/decode -> validate -> dorado-validate.
# Usage: plugins/codec/demo.sh OUTDIR   (uses `genotool` from PATH; a few minutes on 2 CPU cores)
set -euo pipefail
OUT=${1:?usage: demo.sh OUTDIR}
STEPS=${DEMO_STEPS:-300}
mkdir -p "$OUT"
set -x
genotool codec simulate -o "$OUT/sim" --chemistry r9.4.1 --num-reads 60 --read-length 2000 --seed 1 --force
genotool codec simulate -o "$OUT/sim_test" --chemistry r9.4.1 --num-reads 10 --read-length 1500 --seed 2 --force
genotool codec preprocess --pod5 "$OUT/sim/pod5" -o "$OUT/dataset" --window 10000 --force
genotool codec train --data "$OUT/dataset" -o "$OUT/model" --config r941-cpu --steps "$STEPS" \
    --set train.disc_start=$((STEPS * 3 / 4)) --set train.log_every=25 --max-minutes 5 --force
genotool codec predict --pod5 "$OUT/sim_test/pod5" -m "$OUT/model" -o "$OUT/predict" --force
genotool codec validate -m "$OUT/model" --pod5 "$OUT/sim_test/pod5" -o "$OUT/validate" --force
genotool codec dorado-validate -m "$OUT/model" --pod5 "$OUT/sim_test/pod5" --truth "$OUT/sim_test/truth.fa" \
    -o "$OUT/dorado_validate" --max-reads 5 --basecaller-threads 2 --force
set +x
echo "demo done: $OUT/validate/report.html, $OUT/dorado_validate/dorado_report.json"
