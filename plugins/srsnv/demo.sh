#!/usr/bin/env bash
# demo.sh OUTDIR: simulate -> preprocess -> train -> predict -> validate at demo size (a few minutes on 2 cores).
set -euo pipefail
OUT=${1:?usage: demo.sh OUTDIR}
READS=${DEMO_READS:-12000}
mkdir -p "$OUT"
D="$OUT/data"
genotool srsnv simulate -o "$D" --num-reads "$READS" --genome-size 600000 --seed 1 --force
ARGS=(--positive-bam "$D/positive.bam" --negative-bam "$D/negative.bam"
      --positive-parquet "$D/positive.parquet" --negative-parquet "$D/negative.parquet"
      --training-regions "$D/training_regions.interval_list")
# cold preprocess, then the same command again: a cache hit
genotool srsnv preprocess "${ARGS[@]}" -o "$OUT/cache" --preprocess-num-workers 2 > "$OUT/preprocess_cold.json"
genotool srsnv preprocess "${ARGS[@]}" -o "$OUT/cache" --preprocess-num-workers 2 > "$OUT/preprocess_hit.json"
genotool srsnv train "${ARGS[@]}" -o "$OUT/model" --preprocess-cache-dir "$OUT/cache" \
    --single-model-split --val-fraction 0.1 --split-hash-key RN --split-manifest-out "$OUT/split_manifest.json" \
    --epochs 3 --force
genotool srsnv predict --bam "$D/negative.bam" --parquet "$D/negative.parquet" -m "$OUT/model" \
    -o "$OUT/negative_scores.parquet" --force
genotool srsnv validate -m "$OUT/model" --positive-parquet "$D/positive.parquet" \
    --negative-parquet "$D/negative.parquet" --training-regions "$D/training_regions.interval_list" \
    -o "$OUT/validation" --force
echo "report: $OUT/validation/report.html"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rep = json.load(open(f"{out}/validation/holdout_report.json"))
for m in ("cnn", "xgboost"):
    a = rep[m]["all"]
    print(f"{m:8s} holdout ROC AUC {a['roc_auc']:.4f}  PR AUC {a['pr_auc']:.4f}  recall@SNVQ60 {a['recall_at_snvq_60']:.3f}")
cold = json.load(open(f"{out}/preprocess_cold.json")); hit = json.load(open(f"{out}/preprocess_hit.json"))
print(f"preprocess cold {cold['seconds']} s, cache hit {hit['seconds']} s")
PY
