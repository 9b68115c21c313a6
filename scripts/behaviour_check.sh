#!/usr/bin/env bash
# behaviour_check.sh OUT: the srsnv and codec demo pipelines, pinned (1 thread, fixed batch size) so that
# two versions of the code can be compared output for output (issue 28): run it once per version, then
# `python scripts/output_digest.py OUT > digest.json` and `python scripts/output_digest.py --compare A B`.
# Uses `genotool` from PATH; an older version can shadow the installed one through PYTHONPATH
# (git archive REV | tar -x -C SRC; PYTHONPATH=SRC:SRC/plugins/srsnv:SRC/plugins/codec:...).
# Run both versions into the same OUT path (move the first result aside before the second run): a
# token file's header stores its input paths, and their compressed size moves a rate by a byte.
set -euo pipefail
OUT=${1:?usage: behaviour_check.sh OUT}
mkdir -p "$OUT"
S="$OUT/srsnv"; D="$S/data"
genotool srsnv simulate -o "$D" --num-reads 12000 --genome-size 600000 --seed 1 --force
A=(--positive-bam "$D/positive.bam" --negative-bam "$D/negative.bam" --positive-parquet "$D/positive.parquet"
   --negative-parquet "$D/negative.parquet" --training-regions "$D/training_regions.interval_list")
genotool srsnv preprocess "${A[@]}" -o "$S/cache" --preprocess-num-workers 2 > "$S/preprocess_cold.json"
genotool srsnv preprocess "${A[@]}" -o "$S/cache" --preprocess-num-workers 2 > "$S/preprocess_hit.json"
genotool srsnv train "${A[@]}" -o "$S/model" --preprocess-cache-dir "$S/cache" --single-model-split --val-fraction 0.1 \
    --split-hash-key RN --split-manifest-out "$S/split_manifest.json" --epochs 3 --threads 1 --force
genotool srsnv train "${A[@]}" -o "$S/model_kfold" --kfold-split --num-folds 2 --epochs 1 --threads 1 --batch-size 256 \
    --max-steps-per-epoch 20 --preprocess-num-workers 1 --force
genotool srsnv predict --bam "$D/negative.bam" --parquet "$D/negative.parquet" -m "$S/model" \
    -o "$S/negative_scores.parquet" --threads 1 --preprocess-num-workers 2 --force
genotool srsnv validate -m "$S/model" --positive-parquet "$D/positive.parquet" --negative-parquet "$D/negative.parquet" \
    --training-regions "$D/training_regions.interval_list" -o "$S/validation" --force
C="$OUT/codec"
genotool codec simulate -o "$C/sim" --chemistry r9.4.1 --num-reads 60 --read-length 2000 --seed 1 --force
genotool codec simulate -o "$C/sim_test" --chemistry r9.4.1 --num-reads 10 --read-length 1500 --seed 2 --force
genotool codec preprocess --pod5 "$C/sim/pod5" -o "$C/dataset" --window 10000 --force
genotool codec train --data "$C/dataset" -o "$C/model" --config r941-cpu --steps 120 --set train.disc_start=90 \
    --set train.log_every=25 --threads 1 --quiet --force
genotool codec encode --pod5 "$C/sim_test/pod5" -m "$C/model" -o "$C/reads.tokens" --threads 1 --force > "$C/encode.json"
genotool codec encode --pod5 "$C/sim_test/pod5" -m "$C/model" -o "$C/reads_beam.tokens" --search beam --codebooks 3 \
    --threads 1 --force > "$C/encode_beam.json"
genotool codec decode --tokens "$C/reads.tokens" -m "$C/model" -o "$C/decoded.pod5" --threads 1 --force > "$C/decode.json"
genotool codec predict --pod5 "$C/sim_test/pod5" -m "$C/model" -o "$C/predict" --threads 1 --force
genotool codec validate -m "$C/model" --pod5 "$C/sim_test/pod5" -o "$C/validate" --search greedy,signal --threads 1 --force
genotool codec dorado-validate -m "$C/model" --pod5 "$C/sim_test/pod5" --truth "$C/sim_test/truth.fa" \
    -o "$C/dorado_validate" --max-reads 5 --basecaller-threads 1 --threads 1 --force
cp -r "$C/model" "$C/model_refit"
genotool codec prior -m "$C/model_refit" -d "$C/dataset" --max-windows 40 --threads 1 --force > "$C/prior.json"
echo "behaviour check outputs in $OUT"
