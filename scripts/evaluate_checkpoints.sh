#!/usr/bin/env bash
# Evaluate a translator run's best and last checkpoints on the bundled sample's test split, the way a user
# would: `culturalstyle translate` the source culture's test images with each checkpoint, then
# `culturalstyle evaluate` them (FID/KID with intervals, LPIPS, ArtFID, conformal culture attribution, the
# identity and real-target baselines, the noise and pixel-shuffled negative controls, and the paired
# translation-minus-identity FID/KID differences). Tables land in OUT/<checkpoint>/.
#
#   scripts/evaluate_checkpoints.sh RUN_DIR OUT [SOURCE TARGET]
set -euo pipefail
run=$1
out=$2
source=${3:-ukiyo_e}
target=${4:-renaissance}
for checkpoint in best last; do
  culturalstyle translate "$run" --input data/sample --culture "$source" --split test \
    --out "$out/$checkpoint" --checkpoint "$checkpoint" --no-progress
  culturalstyle evaluate "$out/$checkpoint" --source "$source" --target "$target" --corpus data/sample \
    --n-bootstrap 1000 --kid-subsets 200
done
