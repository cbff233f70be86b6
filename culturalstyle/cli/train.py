"""`culturalstyle train`: train a translator (cyclegan, cut, fastcut) between two cultures, or resume one.

    culturalstyle train --corpus data/sample --source ukiyo_e --target renaissance --preset cpu \
        [--method fastcut] [--set key=value ...] [--out RUN | --name NAME --runs-dir runs]
    culturalstyle train --resume runs/NAME [--time-budget SECONDS]

Works under `torchrun --nproc_per_node N -m culturalstyle train ...` (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a cross-culture translator (cyclegan, cut, fastcut), or resume an interrupted run",
        description="Train a translator source -> target (CycleGAN: both ways); every run gets its own "
        "directory with checkpoints, losses.csv, metrics.csv (FID/KID during training) and checkpoints/best.pt.",
    )
    parser.add_argument(
        "--corpus", type=Path, default=Path("data/sample"), help="corpus folder or manifest CSV"
    )
    parser.add_argument("--source", help="culture A (e.g. ukiyo_e)")
    parser.add_argument("--target", help="culture B (e.g. renaissance)")
    parser.add_argument("--preset", default="cpu", help="smoke, cpu or paper (default: cpu)")
    parser.add_argument(
        "--method", help="cyclegan, cut or fastcut (same as --set method=...; default: cyclegan)"
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="stop with a checkpoint after this much CPU time of this process (--set time_budget_clock=wall "
        "for wall-clock time); also for --resume",
    )
    options.add_set_option(
        parser, "override a config field, e.g. --set lambda_gram=1.0 --set steps=5000 (repeatable)"
    )
    parser.add_argument("--config", type=Path, help="start from a saved config.yaml instead of a preset")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="RUN",
        help="explicit run directory (new or empty); default: the run's content-keyed home in the cache "
        "(translators/<source>2<target>-<preset>-<key>), where the same config on the same corpus is reused "
        "or resumed instead of trained again",
    )
    parser.add_argument(
        "--name", help="run name under --runs-dir (must not exist yet); default <source>2<target>-<time>"
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        help="parent folder of explicitly placed runs (with --name, or alone: a timestamped name)",
    )
    parser.add_argument(
        "--resume", type=Path, metavar="RUN", help="continue this run from its newest checkpoint"
    )
    options.add_device_option(parser, "cpu, cuda, cuda:1 or auto (overrides the config)")
    options.add_progress_option(parser)
    options.add_debug_option(parser)
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from ..pipeline import train_or_reuse, translator_home
    from ..translate import train as T
    from ..translate.config import TrainConfig, make_config

    if args.resume:
        if (
            args.source
            or args.target
            or args.overrides
            or args.name
            or args.config
            or args.method
            or args.out
        ):
            raise ValueError(
                "--resume continues a run with its saved config; "
                "drop --source/--target/--method/--set/--name/--out"
            )
        run = T.resume(args.resume, time_budget_s=args.time_budget)
        _report(run)
        return 0
    if not args.source or not args.target:
        raise ValueError("--source and --target cultures are required (or --resume RUN)")
    from ..corpus import Corpus

    corpus = Corpus.load(args.corpus)
    extra = {"source": args.source, "target": args.target}
    if args.device:
        extra["device"] = args.device
    if args.no_progress:
        extra["progress"] = False
    if args.method:
        extra["method"] = args.method
    if args.time_budget is not None:
        extra["time_budget_s"] = args.time_budget
    if args.config:
        from .. import configs

        config = configs.apply_overrides(TrainConfig.load(args.config), args.overrides)
        config = configs.apply_overrides(config, extra).validate()
    else:
        config = make_config(args.preset, args.overrides, **extra)
    config.validate()
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 talks
    if args.out and (args.name or args.runs_dir):
        raise ValueError("--out is the run directory itself; drop --name/--runs-dir")
    distributed = os.environ.get("WORLD_SIZE", "1") != "1"
    if args.out or args.name or args.runs_dir or distributed:  # an explicitly placed run, trained as given
        if args.out:  # rank 0 creates it, the others receive it
            run_dir = T.choose_run_dir(args.out.parent, args.out.name, config)
        else:
            run_dir = T.choose_run_dir(args.runs_dir or Path("runs"), args.name, config)
        if main_process:
            print(f"training {config.method} {config.source} -> {config.target} into {run_dir}")
        T.train(config, corpus, run_dir)
    else:
        label = "config" if args.config else args.preset
        run_dir = translator_home(config, corpus, label)
        if main_process:
            print(f"{config.method} {config.source} -> {config.target}: content-keyed run {run_dir}")
        run_dir, status = train_or_reuse(corpus, config, label=label)
        if main_process and status == "reused":
            print(f"reused the complete run {run_dir} (same config and corpus); pass --out to train anew")
    if main_process:
        _report(run_dir)
    return 0


def _report(run_dir: Path) -> None:
    """Say whether the run is complete or stopped early (time budget), and where its best checkpoint is."""
    from .. import runs
    from ..translate import train as T

    total = runs.read_record(run_dir).get("total_steps")
    newest = T.list_checkpoints(run_dir)
    step = int(newest[0].stem.split("_")[1]) if newest else 0
    if total is not None and step < int(total):
        print(f"stopped at step {step} of {total}: continue with culturalstyle train --resume {run_dir}")
    else:
        print(f"run complete: {run_dir}")
    best = T.read_best_info(run_dir)
    if best:
        print(f"best checkpoint: step {best['step']}, FID {best['fid']:.2f} ({T.best_path(run_dir)})")
