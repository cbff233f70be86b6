"""`culturalstyle stylize`: Gatys / AdaIN style transfer of one image or a batch, to images or cultures.

    culturalstyle stylize photo.jpg --style culture:ukiyo_e --corpus data/sample --method adain --out out.png
    culturalstyle stylize content_photo --corpus data/sample --style culture:ukiyo_e --style culture:renaissance \
        --method gatys --size 256 --out results/gatys_grid      # batch: every content x every style
"""

from __future__ import annotations

import argparse

from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stylize",
        help="Gatys / AdaIN style transfer to an image, several images or a whole culture",
        description=(
            "Stylise CONTENT (an image, a folder of images, or a culture of --corpus such as content_photo) with "
            "each --style (an image path, paths joined by '+' to average them, or culture:NAME for a culture's "
            "training images). One content image and an --out ending in an image suffix writes that file; "
            "otherwise --out is a new folder with one image per content x style, manifest.csv and run_record.json."
        ),
    )
    p.add_argument(
        "content",
        nargs="+",
        help="image file(s), folder(s) of images, or a culture name (culture:NAME) of --corpus",
    )
    p.add_argument(
        "--style",
        action="append",
        required=True,
        metavar="IMAGE_OR_culture:NAME",
        help="style target; repeat for several (one output each, or one mixed output with --mix)",
    )
    p.add_argument(
        "--mix",
        type=float,
        nargs="+",
        metavar="W",
        help="interpolate all --style targets into one with these weights (one per style)",
    )
    p.add_argument("--method", choices=("gatys", "adain"), default="gatys")
    p.add_argument("--out", required=True, help="output image file (single content) or new output folder")
    p.add_argument("--corpus", help="corpus folder/manifest for culture:NAME styles and culture contents")
    p.add_argument(
        "--split", default="train", help="split of a culture's images used as its target ('all': every row)"
    )
    p.add_argument("--size", type=int, default=512, help="longer side of the output in px (default 512)")
    p.add_argument(
        "--style-size", type=int, help="AdaIN: longer side of style images for statistics (default --size)"
    )
    p.add_argument(
        "--preserve-colour",
        "--preserve-color",
        action="store_true",
        dest="preserve_colour",
        help="luminance-only transfer: keep the content's colours",
    )
    options.add_device_option(p)
    p.add_argument(
        "--force", action="store_true", help="write into an existing non-empty folder / over a file"
    )
    options.add_progress_option(p, deprecated=("--quiet",))
    options.add_debug_option(p)
    g = p.add_argument_group("Gatys")
    g.add_argument("--steps", type=int, default=300, help="optimiser steps per pass (default 300)")
    g.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    g.add_argument("--lr", type=float, help="learning rate (default 1.0 L-BFGS, 0.02 Adam)")
    g.add_argument("--init", choices=("content", "style", "noise"), default="content")
    g.add_argument("--content-weight", type=float, default=None)
    g.add_argument("--style-weight", type=float, default=None)
    g.add_argument("--tv-weight", type=float, default=None)
    g.add_argument(
        "--layer-weight",
        action="append",
        default=[],
        metavar="LAYER=W",
        help="per-layer style weight, e.g. relu1_1=0.5 (repeatable; others weigh 1)",
    )
    g.add_argument(
        "--passes", type=int, default=1, help="coarse-to-fine passes (each halves the size before)"
    )
    g.add_argument(
        "--patience", type=int, default=None, help="early stop after this many steps without progress"
    )
    g.add_argument("--seed", type=int, default=0)
    a = p.add_argument_group("AdaIN")
    a.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off in [0, 1] (default 1)")
    a.add_argument("--batch-size", type=int, default=4)
    p.set_defaults(handler=run)


def _config(args: argparse.Namespace):
    from ..nst import AdaINConfig, GatysConfig

    if args.method == "adain":
        return AdaINConfig(
            size=args.size,
            style_size=args.style_size,
            alpha=args.alpha,
            preserve_colour=args.preserve_colour,
            batch_size=args.batch_size,
        )
    layer_weights = {}
    for item in args.layer_weight:
        if "=" not in item:
            raise ValueError(f"--layer-weight {item!r} is not of the form LAYER=WEIGHT")
        layer, value = item.split("=", 1)
        layer_weights[layer.strip()] = float(value)
    cfg = GatysConfig(
        size=args.size,
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        init=args.init,
        layer_weights=layer_weights,
        passes=args.passes,
        preserve_colour=args.preserve_colour,
        seed=args.seed,
    )
    for name in ("content_weight", "style_weight", "tv_weight", "patience"):
        if getattr(args, name) is not None:
            setattr(cfg, name, type(getattr(cfg, name))(getattr(args, name)))
    cfg.validate()
    return cfg


def run(args: argparse.Namespace) -> int:
    import json

    from ..pipeline import stylize

    result = stylize(
        args.content,
        args.style,
        args.out,
        _config(args),
        method=args.method,
        corpus=args.corpus,
        split=None if args.split == "all" else args.split,
        mix=args.mix,
        device=args.device,
        force=args.force,
        progress=not args.no_progress,
    )
    if result.translations is None:
        width, height = result.size
        print(
            f"wrote {result.out} ({width}x{height}, {result.method}, style {result.style_label}); "
            f"record {result.record}"
        )
    else:
        print(
            f"wrote {len(result.translations)} images to {result.out} (manifest.csv, run_record.json): "
            f"{json.dumps(result.counts)}"
        )
    return 0
