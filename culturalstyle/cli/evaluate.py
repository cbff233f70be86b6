"""`culturalstyle evaluate RUN_OR_DIR --target CULTURE`: FID/KID/LPIPS/ArtFID/attribution of translations.

RUN_OR_DIR is a folder of translations (a corpus with provenance columns, as written by
`culturalstyle translate`), a translator run directory, whose source images of the evaluation split are
translated first (into a new folder inside the run), or a plain folder of images made by another program:
then `--source-images DIR` pairs each image with the source of the same file name for LPIPS and the
identity baseline (without it, FID/KID, the real-target floor and attribution are reported). The table
(CSV), a short Markdown report and a run record are written next to the translations / into the run, under
new names if earlier ones exist.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="FID/KID, LPIPS, ArtFID and culture attribution of translations, with baselines",
        description=(
            "Evaluate translations against the real images of the target culture: FID (bootstrap CI), KID "
            "(subset size adapted to small sets), LPIPS source<->translation, ArtFID, culture attribution, and "
            "the identity (untranslated) and real-target (floor) baselines. Reference statistics are cached."
        ),
    )
    parser.add_argument(
        "run_or_dir",
        help="translator run directory, a folder with a translations manifest.csv, or a plain folder of images",
    )
    parser.add_argument(
        "--source-images",
        type=Path,
        help="plain folder only: the source images, paired with the translations by file name (for LPIPS)",
    )
    parser.add_argument("--method", help="plain folder only: method name in the table (default: folder name)")
    parser.add_argument("--target", required=True, help="target culture (e.g. renaissance)")
    parser.add_argument("--source", help="source culture (default: from the run / the translations' sources)")
    parser.add_argument("--split", default="test", help="split of the reference images (default test)")
    parser.add_argument(
        "--corpus",
        help="corpus manifest or folder (default: the corpus recorded in the run's run_record.json)",
    )
    parser.add_argument("--size", type=int, help="FID/KID resolution (default: the translations' size)")
    parser.add_argument(
        "--n-bootstrap", type=int, default=200, help="bootstrap resamples for CIs (default 200)"
    )
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default="latest", help="checkpoint of a run to translate with")
    parser.add_argument("--no-attribution", action="store_true", help="skip the culture classifier")
    parser.add_argument("--no-baselines", action="store_true", help="skip the identity and real-target rows")
    parser.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME",
        help="also compute this registered metric (repeatable), e.g. palette_distance (off by default)",
    )
    options.add_device_option(parser)
    options.add_debug_option(parser)
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from .. import metrics
    from ..pipeline import evaluate_run

    config = metrics.EvaluationConfig(
        split=args.split,
        size=args.size,
        n_bootstrap=args.n_bootstrap,
        kid_subsets=args.kid_subsets,
        attribution=not args.no_attribution,
        baselines=not args.no_baselines,
        seed=args.seed,
        extra_metrics=tuple(args.metric),
    )
    result = evaluate_run(
        args.run_or_dir,
        target=args.target,
        config=config,
        source=args.source,
        corpus=args.corpus,
        checkpoint=args.checkpoint,
        source_images=args.source_images,
        method=args.method,
        device=args.device,
    )
    print(result.report)
    print(f"wrote {result.csv}, {result.markdown} and {result.record.name}")
    return 0


def free_stem(folder: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """`pipeline.free_stem` (kept importable from here)."""
    from ..pipeline.evaluation import free_stem as free

    return free(folder, stem, suffixes)
