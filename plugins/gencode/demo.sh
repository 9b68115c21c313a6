#!/usr/bin/env bash
# genotool gencode demo: simulate -> preprocess -> train (semi-CRF) -> validate -> predict, at demo size.
# Usage: plugins/gencode/demo.sh OUTDIR      (uses `genotool` from PATH; a few minutes on 2 CPU cores)
set -euo pipefail
OUT=${1:?usage: demo.sh OUTDIR}
mkdir -p "$OUT"
genotool gencode simulate -o "$OUT/sim" --num-chroms 22 --chrom-length 60000 --seed 0 --force
genotool gencode preprocess --gtf "$OUT/sim/annotation.gtf" --fasta "$OUT/sim/genome.fa" \
    -o "$OUT/data" --chunk-size 10000 --overlap 500 --force
# 120 steps (~75 s): enough for the model to call exons and introns, not for exact segments
genotool gencode train --data "$OUT/data" -o "$OUT/model" --head semicrf --encoder bilstm \
    --max-duration 200 --hidden-dim 32 --num-layers 1 --epochs 8 --max-steps-per-epoch 15 \
    --crop-length 1000 --batch-size 16 --lr 5e-3 --scheduler cosine --max-val-chunks 4 --log-every 100 --force
genotool gencode validate --data "$OUT/data" --model "$OUT/model" -o "$OUT/validate" \
    --max-chunks 8 --threads 1 --force
genotool gencode predict --fasta "$OUT/sim/genome.fa" --model "$OUT/model" -o "$OUT/predict" \
    --region chr21:1-20000 --threads 1 --force
echo "demo done: $OUT/validate/report.html, $OUT/predict/predictions.bed" >&2
