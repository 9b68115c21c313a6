#!/usr/bin/env bash
# phenotype_floor.sh OUTDIR [REPLICATES] [ARCH]: the issue's phenotype floor. Per replicate: simulate
# 1,000 samples of one population over 1 Mb with 3 causal SNPs (h2 0.2), preprocess, train on the
# quantitative phenotype, attribute (IG, SmoothGrad, saliency + ensemble) and score LD-aware causal
# recall/precision at k = 10 beside the clumped marginal association test and SuSiE.
set -euo pipefail
OUT=${1:?usage: phenotype_floor.sh OUTDIR [REPLICATES] [ARCH]}
REPS=${2:-3}
ARCH=${3:-cnn}
mkdir -p "$OUT"
for r in $(seq 1 "$REPS"); do
  D="$OUT/rep$r"
  genotool snp simulate -o "$D/sim" --demography island --num-populations 1 --num-samples 1000 \
      --length 1000000 --num-causal 3 --h2 0.2 --seed "$r" --force
  genotool snp preprocess --vcf "$D/sim/genotypes.vcf.gz" --samples "$D/sim/samples.tsv" -o "$D/pre" \
      --label phenotype --seed "$r" --force
  genotool snp train -d "$D/pre" -o "$D/model" --architecture "$ARCH" --task phenotype \
      --phenotype-type quantitative --epochs "${EPOCHS:-20}" --seed "$r" --force
  genotool snp importance -m "$D/model" -d "$D/pre" -o "$D/importance" --truth "$D/sim/truth.json" \
      --methods integrated-gradients,smoothgrad,saliency --split train --max-samples 200 --k 10 --force
done
python3 - "$OUT" "$REPS" <<'PY'
import json, sys
out, reps = sys.argv[1], int(sys.argv[2])
rows = {}
susie = []
for r in range(1, reps + 1):
    rec = json.load(open(f"{out}/rep{r}/importance/importance.json"))["recovery"]
    for m, v in rec["methods"].items():
        rows.setdefault(m, []).append((v["at_10"]["recall"], v["at_10"]["precision"]))
    if rec["susie"].get("ran"):
        susie.append(rec["susie"])
print(f"{'method':24s} recall@10  precision@10  (mean of {reps} replicates)")
for m, v in rows.items():
    print(f"{m:24s} {sum(a for a, _ in v) / len(v):9.2f}  {sum(b for _, b in v) / len(v):12.2f}")
if susie:
    for k in ("coverage", "power", "power_ld_aware", "mean_set_size"):
        vals = [s[k] for s in susie if s[k] == s[k]]
        print(f"susie {k:18s} {sum(vals) / max(1, len(vals)):.2f}")
json.dump({"methods": rows, "susie": susie}, open(f"{out}/phenotype_floor.json", "w"), indent=1)
PY
