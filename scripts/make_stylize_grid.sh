#!/usr/bin/env bash
# Rebuilds docs/img/stylize_grid.png with the toolkit's CLI: four content photos of the bundled sample x four
# culture-level targets (each culture's training images), AdaIN (256 px) and Gatys (128 px, L-BFGS, 100 steps).
# On a 2-core CPU this takes about 30 min (Gatys dominates). Outputs go to a new folder under results/.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-results/stylize_grid-$(date +%Y%m%d-%H%M%S)}
PHOTOS="content_photo/38da1ff27652 content_photo/451865d3d471 content_photo/63889faf84ab content_photo/b2e39e55f092"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread per process: the two Gatys runs go in parallel

culturalstyle stylize $PHOTOS --corpus data/sample --method adain --size 256 --quiet \
  --style culture:ukiyo_e --style culture:renaissance --style culture:impressionism --style culture:chinese_ink \
  --out "$RUN/adain"
culturalstyle stylize $PHOTOS --corpus data/sample --method gatys --size 128 --steps 100 --quiet \
  --style culture:ukiyo_e --style culture:renaissance --out "$RUN/gatys-a" &
culturalstyle stylize $PHOTOS --corpus data/sample --method gatys --size 128 --steps 100 --quiet \
  --style culture:impressionism --style culture:chinese_ink --out "$RUN/gatys-b" &
wait

python - "$RUN" <<'PY'
import sys
from pathlib import Path

from culturalstyle import nst
from culturalstyle.corpus import Corpus

run = Path(sys.argv[1])
sample = Corpus.load("data/sample")
photos = ["content_photo/38da1ff27652", "content_photo/451865d3d471", "content_photo/63889faf84ab",
          "content_photo/b2e39e55f092"]
contents = [c for p in photos for c in nst.load_contents(p, sample)]
translations = [Corpus.load(run / name) for name in ("adain", "gatys-a", "gatys-b")]
grid = nst.grid_from_translations(translations, contents, tile=128)
grid.save("docs/img/stylize_grid.png", optimize=True)
print(f"wrote docs/img/stylize_grid.png {grid.size} from {run}")
PY
