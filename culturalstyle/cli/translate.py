"""`culturalstyle translate RUN --direction A2B --input DIR_OR_CORPUS --out DIR`: apply a trained translator;
`culturalstyle export-translator RUN --out DIR [--checkpoint best] [--fp16]`: export one.

`translate` writes one PNG per input image, `manifest.csv` (a corpus with provenance columns) and
`run_record.json`; RUN is a training run directory or an exported translator directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate",
        help="translate images with a trained translator run (cyclegan, cut, fastcut)",
        description="Translate a folder of images or a corpus with a trained run; outputs form a new corpus.",
    )
    parser.add_argument("run", type=Path, help="a training run directory or an exported translator directory")
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
    options.add_device_option(parser)
    options.add_progress_option(parser)
    options.add_debug_option(parser)
    parser.set_defaults(handler=_translate)

    export = subparsers.add_parser(
        "export-translator",
        help="export a trained translator (generator weights, config, curves, command) to a small directory",
        description="Write a self-contained translator directory that `culturalstyle translate` applies.",
    )
    export.add_argument("run", type=Path, help="the training run directory")
    export.add_argument("--out", type=Path, required=True, help="new (or empty) output folder")
    export.add_argument("--checkpoint", default="best", help="best (default), last or a step number")
    export.add_argument("--fp16", action="store_true", help="store the weights in half precision")
    options.add_debug_option(export)
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from ..translate.export import export_translator, read_export_info

    out = export_translator(args.run, args.out, checkpoint=args.checkpoint, fp16=args.fp16)
    info = read_export_info(out)
    size = sum(d["bytes"] for d in info["directions"].values())
    fid = (info.get("evaluation") or {}).get("fid")
    print(
        f"exported {info['method']} {info['source']} -> {info['target']}, {info['checkpoint']} (step "
        f"{info['step']}{f', FID {fid:.2f}' if fid is not None else ''}), {size / 2**20:.1f} MiB of weights "
        f"({info['dtype']}) to {out}"
    )
    return 0


def _translate(args: argparse.Namespace) -> int:
    from ..pipeline import translate

    corpus = translate(
        args.run,
        args.input,
        args.direction,
        args.out,
        culture=args.culture,
        split=args.split,
        checkpoint=args.checkpoint,
        batch_size=args.batch_size,
        size=args.size,
        device=args.device,
        progress=not args.no_progress,
    )
    print(f"wrote {len(corpus)} translation(s) to {args.out} (manifest.csv, run_record.json)")
    return 0
