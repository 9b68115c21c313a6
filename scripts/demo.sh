#!/usr/bin/env bash
# Runs every built-in plugin's demo (simulate -> preprocess -> train -> validate) into OUT/<plugin>.
set -euo pipefail
out=${1:-demo_out}
mkdir -p "$out"
genotool plugins
genotool probe
for demo in plugins/*/demo.sh; do
  name=$(basename "$(dirname "$demo")")
  echo "=== $name ==="
  start=$(date +%s)
  bash "$demo" "$out/$name"
  echo "=== $name done in $(( $(date +%s) - start )) s ==="
done
echo "demo outputs in $out/ (each folder has metadata.json; reports are *.html)"
