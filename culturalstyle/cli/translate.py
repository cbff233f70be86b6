"""`culturalstyle translate RUN --direction A2B --input DIR_OR_CORPUS --out DIR`: apply a trained translator.

Writes one PNG per input image, `manifest.csv` (a corpus with provenance columns) and `run_record.json`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate",
        help="translate images with a trained translator run (cyclegan, cut, fastcut)",
        description="Translate a folder of images or a corpus with a trained run; outputs form a new corpus.",
    )
    parser.add_argument("run", type=Path, help="the training run directory")
    parser.add_argument(
        "--direction",
        choices=("A2B", "B2A"),
        default="A2B",
        help="A2B: source -> target culture; B2A (CycleGAN only): the reverse",
    )
    parser.add_argument(
        "--input", type=Path, required=True, help="folder of images, or a corpus folder/manifest"
    )
    parser.add_argument("--out", type=Path, required=True, help="new (or empty) output folder")
    parser.add_argument(
        "--checkpoint",
        default="last",
        help="last (default: the newest intact checkpoint), best (lowest FID during training) or a step number",
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, help="shorter side in px (default: the run's training size)")
    parser.add_argument("--culture", help="translate only these rows of an input corpus (culture label)")
    parser.add_argument("--split", help="translate only these rows of an input corpus (split)")
    parser.add_argument("--device", help="cpu, cuda or auto")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.set_defaults(handler=_translate)


def _translate(args: argparse.Namespace) -> int:
    from ..translate.apply import translate_images

    inputs = args.input
    if args.culture or args.split:
        from ..corpus import Corpus

        inputs = Corpus.load(args.input).filter(culture=args.culture, split=args.split)
    corpus = translate_images(
        args.run,
        inputs,
        args.direction,
        args.out,
        checkpoint=args.checkpoint,
        batch_size=args.batch_size,
        size=args.size,
        device=args.device,
        progress=not args.no_progress,
    )
    print(f"wrote {len(corpus)} translation(s) to {args.out} (manifest.csv, run_record.json)")
    return 0
