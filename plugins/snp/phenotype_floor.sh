#!/usr/bin/env bash
# phenotype_floor.sh OUTDIR [REPLICATES] [ARCH]: the issue's phenotype floor. Per replicate r: simulate
# 1,000 samples of one population over 1 Mb with 3 causal SNPs (h2 0.2, seed r), preprocess, train
# SEEDS models (default 3: seeds r, 11, 12) on the quantitative phenotype, attribute with every model
# on all training samples (METHODS, default saliency + gradient x input; averaged over the models) and
# score LD-aware causal recall/precision at k = 10 beside the clumped marginal association test and
# SuSiE. Every ranking is scored after the same LD clumping as the marginal test (importance's
# default); the raw rankings' recall is printed beside. No truth is used before the scoring.
set -euo pipefail
OUT=${1:?usage: phenotype_floor.sh OUTDIR [REPLICATES] [ARCH]}
REPS=${2:-3}
ARCH=${3:-cnn}
METHODS=${METHODS:-saliency,gradient-x-input}
EXTRA_SEEDS=${EXTRA_SEEDS:-11 12}
T="--threads ${THREADS:-1}"
mkdir -p "$OUT"
for r in $(seq 1 "$REPS"); do
  D="$OUT/rep$r"
  genotool snp simulate -o "$D/sim" --demography island --num-populations 1 --num-samples 1000 \
      --length 1000000 --num-causal 3 --h2 0.2 --seed "$r" --force
  genotool snp preprocess --vcf "$D/sim/genotypes.vcf.gz" --samples "$D/sim/samples.tsv" -o "$D/pre" \
      --label phenotype --seed "$r" --force $T
  also=()
  for s in "$r" $EXTRA_SEEDS; do
    m="$D/model"; [ "$s" = "$r" ] || { m="$D/model_s$s"; also+=(--also-model "$m"); }
    [ -f "$m/model.pt" ] && [ -z "${RETRAIN:-}" ] && continue
    genotool snp train -d "$D/pre" -o "$m" --architecture "$ARCH" --task phenotype \
        --phenotype-type quantitative --epochs "${EPOCHS:-20}" --seed "$s" --force $T
  done
  genotool snp importance -m "$D/model" "${also[@]}" -d "$D/pre" -o "$D/importance" --truth "$D/sim/truth.json" \
      --methods "$METHODS" --split train --max-samples 1000 --k 10 --force $T
done
python3 - "$OUT" "$REPS" <<'PY'
import json, sys
out, reps = sys.argv[1], int(sys.argv[2])
rows, raw, susie = {}, {}, []
for r in range(1, reps + 1):
    rec = json.load(open(f"{out}/rep{r}/importance/importance.json"))["recovery"]
    for m, v in rec["methods"].items():
        rows.setdefault(m, []).append((v["at_10"]["recall"], v["at_10"]["precision"]))
    for m, v in rec.get("methods_raw", {}).items():
        raw.setdefault(m, []).append(v["at_10"]["recall"])
    if rec["susie"].get("ran"):
        susie.append(rec["susie"])
print(f"{'method':24s} recall@10 per replicate   mean  precision@10  raw-ranking recall@10  (clumped rankings)")
for m, v in rows.items():
    per = " ".join(f"{a:.2f}" for a, _ in v)
    rr = f"{sum(raw[m]) / len(raw[m]):.2f}" if m in raw else ""
    print(f"{m:24s} {per:24s} {sum(a for a, _ in v) / len(v):5.2f}  {sum(b for _, b in v) / len(v):12.2f}  {rr}")
if susie:
    for k in ("coverage", "power", "power_ld_aware", "mean_set_size"):
        vals = [s[k] for s in susie if s[k] == s[k]]
        print(f"susie {k:18s} {sum(vals) / max(1, len(vals)):.2f}")
json.dump({"methods": rows, "methods_raw": raw, "susie": susie}, open(f"{out}/phenotype_floor.json", "w"), indent=1)
PY
