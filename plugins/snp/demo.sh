#!/usr/bin/env bash
# demo.sh OUTDIR: simulate -> preprocess -> train (3 architectures) -> predict -> validate -> importance at demo
# size (4 populations x 40 samples, 1 Mb; a few minutes on 2 cores).
set -euo pipefail
OUT=${1:?usage: demo.sh OUTDIR}
N=${DEMO_SAMPLES:-40}
EPOCHS=${DEMO_EPOCHS:-15}
mkdir -p "$OUT"
genotool snp simulate -o "$OUT/sim" --num-samples "$N" --length 1000000 --seed 1 --force
genotool snp preprocess --vcf "$OUT/sim/genotypes.vcf.gz" --samples "$OUT/sim/samples.tsv" -o "$OUT/data" --force
for arch in cnn cnn-transformer gnn; do
  genotool snp train -d "$OUT/data" -o "$OUT/model-$arch" --architecture "$arch" --epochs "$EPOCHS" --force
done
genotool snp predict --vcf "$OUT/sim/genotypes.vcf.gz" -m "$OUT/model-cnn" -o "$OUT/predictions" --force
for arch in cnn cnn-transformer gnn; do
  genotool snp validate -m "$OUT/model-$arch" -d "$OUT/data" -o "$OUT/validation-$arch" --force
done
genotool snp importance -m "$OUT/model-cnn-transformer" -d "$OUT/data" -o "$OUT/importance" \
    --methods attention,saliency --force
echo "reports: $OUT/validation-*/report.html, $OUT/importance/report.html"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
for arch in ("cnn", "cnn-transformer", "gnn"):
    res = json.load(open(f"{out}/validation-{arch}/validation.json"))
    line = "  ".join(f"{m} {v['accuracy']:.3f}" for m, v in res["methods"].items())
    print(f"test accuracy: {line}")
PY
