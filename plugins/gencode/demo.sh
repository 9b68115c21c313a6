#!/usr/bin/env bash
# genotool gencode demo: simulate -> preprocess (region splits) -> train a gene finder -> validate ->
# predict gene models (GTF + GFF3), at demo size.
# Usage: plugins/gencode/demo.sh OUTDIR      (uses `genotool` from PATH; a few minutes on 2 CPU cores)
set -euo pipefail
OUT=${1:?usage: demo.sh OUTDIR}
mkdir -p "$OUT"
genotool gencode simulate -o "$OUT/sim" --num-chroms 6 --chrom-length 150000 --seed 0 --force
genotool gencode preprocess --gtf "$OUT/sim/annotation.gtf" --fasta "$OUT/sim/genome.fa" -o "$OUT/data" \
    --train-regions chr1,chr2,chr3,chr4 --val-regions chr5 --test-regions chr6 --force
# counted sensors + a small neural encoder (200 trunk steps), CRF weights learned on held-out folds
genotool gencode train --data "$OUT/data" -o "$OUT/model" --features both --encoder-steps 200 --force
genotool gencode validate --data "$OUT/data" --model "$OUT/model" -o "$OUT/validate" --force
genotool gencode predict --fasta "$OUT/sim/genome.fa" --model "$OUT/model" -o "$OUT/predict" \
    --region chr6 --chunk-size 50000 --force
echo "demo done: $OUT/validate/report.html, $OUT/predict/predictions.gtf (+ .gff3)" >&2
