#!/usr/bin/env bash
# genotool splice demo: simulate -> train-base (own) -> preprocess -> train (meta, score-only) -> validate
# -> evaluate -> predict -> variant -> bench, at demo size. Usage: plugins/splice/demo.sh OUTDIR
# With OpenSpliceAI MANE weights (GPL-3.0, never bundled) set SPLICE_WEIGHTS=DIR to use them as the base model.
set -euo pipefail
OUT=${1:?usage: demo.sh OUTDIR}
mkdir -p "$OUT"
genotool splice simulate -o "$OUT/sim" --genome-size 1500000 --num-chromosomes 12 --num-variants 100 --seed 0 --force
FA=(--fasta "$OUT/sim/genome.fa")
if [ -n "${SPLICE_WEIGHTS:-}" ]; then
  BASE=(--base-model openspliceai --base-weights "$SPLICE_WEIGHTS" --base-flank 400)
  BASE_DIR="$SPLICE_WEIGHTS/400nt"
else
  genotool splice train-base "${FA[@]}" --annotation "$OUT/sim/annotation.gtf" -o "$OUT/base" --flank 80 \
      --epochs 2 --force
  BASE=(--base-model own --base-weights "$OUT/base")
  BASE_DIR="$OUT/base"
fi
genotool splice preprocess "${FA[@]}" --annotation "$OUT/sim/annotation.gtf" "${BASE[@]}" \
    --variants "$OUT/sim/splicevardb.tsv" -o "$OUT/data" --force
genotool splice train -d "$OUT/data" -o "$OUT/meta" --epochs 4 --force
genotool splice train -d "$OUT/data" -o "$OUT/score_only" --architecture score-only --epochs 4 --force
genotool splice validate -d "$OUT/data" -m "$OUT/meta" --score-only-model "$OUT/score_only" -o "$OUT/validate" --force
genotool splice evaluate "${FA[@]}" --annotation "$OUT/sim/annotation.gtf" -m "$OUT/meta" --also-model "$BASE_DIR" \
    --test-regions chr1,chr3 --variant-check 20 -o "$OUT/evaluate" --force
genotool splice predict "${FA[@]}" -m "$OUT/meta" --region chr1:1-50000 -o "$OUT/predict" --force
genotool splice variant "${FA[@]}" -m "$OUT/meta" --variants "$OUT/sim/splicevardb.tsv" \
    --annotation "$OUT/sim/annotation.gtf" -o "$OUT/variant" --force
genotool splice bench --flanks 80,400 --bases 50000 --rows 512 -o "$OUT/bench.json" --force > /dev/null
echo "demo done: $OUT/validate/report.html, $OUT/predict/sites.bed, $OUT/variant/delta_scores.vcf" >&2
