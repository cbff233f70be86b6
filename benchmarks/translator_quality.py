"""Which translator works on a CPU: train each method for the same time budget, then measure speed and quality.

For each method (cyclegan, cut, fastcut) at one preset (default `cpu`) on ukiyo_e -> renaissance of the
bundled sample: train with `time_budget_s` (this process's CPU time by default, robust to other load on a
shared machine; `--clock wall` for wall-clock time) and evaluation during training, each in a fresh
subprocess (its own peak RSS); then translate the source culture's test split with the best and with the
last checkpoint and compute FID/KID (bootstrap / subset intervals) against the target culture's test split,
beside the identity ("do nothing": the untranslated sources) and real-target (the target culture's
training images) baselines, and a paired bootstrap of FID(translation) - FID(identity) over the same
resampled source images and reference images. Also one in-process, interleaved measurement of the step-time
ratio FastCUT / CycleGAN at the same size and width.

    python benchmarks/translator_quality.py [--budget 1800] [--preset cpu] [--methods cyclegan,cut,fastcut]

Writes benchmarks/results/translator_quality.json. The best checkpoint is selected on the same test split it
is scored on, so its numbers are optimistic; `last` is not selected. `--extractor random-test` replaces the
FID Inception by a fixed random network: for testing this script only, its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
METHODS = ("cyclegan", "cut", "fastcut")


def extractor_for(name: str, device: str):
    from culturalstyle import metrics

    if name == "inception":
        return metrics.inception_extractor(device)
    import torch

    class RandomTestNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 16, 5, stride=2)
            generator = torch.Generator().manual_seed(0)
            with torch.no_grad():
                self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.2)
                self.conv.bias.zero_()

        def forward(self, x):
            return torch.relu(self.conv(x.float() / 255.0)).mean((2, 3))

    return metrics.FeatureExtractor(
        module=RandomTestNet(), weights_sha256="random-test-net", name="random-test"
    )


def scores(features: np.ndarray, reference, n_bootstrap: int, kid_subsets: int, seed: int) -> dict:
    from culturalstyle import metrics

    fid = metrics.fid_with_ci(features, reference, n_bootstrap=n_bootstrap, seed=seed)
    kid = metrics.kid_with_ci(features, reference, subsets=kid_subsets, seed=seed)
    return {
        "fid": fid.value,
        "fid_ci": [fid.ci_low, fid.ci_high],
        "kid": kid.value,
        "kid_ci": [kid.ci_low, kid.ci_high],
        "n_generated": fid.n_generated,
        "n_reference": fid.n_reference,
    }


def paired_difference(
    a: np.ndarray, b: np.ndarray, reference: np.ndarray, n_bootstrap: int, seed: int
) -> dict:
    """FID(a) - FID(b) and KID(a) - KID(b) where row i of a and of b come from the same source image
    (culturalstyle.metrics.paired: shared resamples of the sources and of the reference)."""
    from culturalstyle.metrics.paired import fid_difference, kid_difference

    fid = fid_difference(a, b, reference, n_bootstrap=n_bootstrap, seed=seed)
    kid = kid_difference(a, b, reference, subsets=n_bootstrap, seed=seed)
    return {
        "estimate": fid.value,
        "ci95": [fid.ci_low, fid.ci_high],
        "n_bootstrap": n_bootstrap,
        "below_zero": bool(fid.ci_high < 0),
        "kid_estimate": kid.value,
        "kid_ci95": [kid.ci_low, kid.ci_high],
        "kid_below_zero": bool(kid.ci_high < 0),
    }


def config_for(args: argparse.Namespace, method: str, **fields):
    from culturalstyle.translate.config import make_config

    base = dict(
        source=args.source,
        target=args.target,
        method=method,
        device=args.device,
        seed=args.seed,
        progress=False,
        tensorboard=False,
        eval_every=args.eval_every,
        time_budget_s=args.budget,
        time_budget_clock=args.clock,
    )
    base.update(fields)
    return make_config(args.preset, args.overrides, **base)


def train_worker(args: argparse.Namespace, method: str) -> dict:
    """In a fresh process: train `method` for the budget, then score its best and last checkpoints."""
    import torch

    from culturalstyle import metrics
    from culturalstyle.corpus import Corpus
    from culturalstyle.translate import train as T
    from culturalstyle.translate.apply import translate_images

    rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    corpus = Corpus.load(args.corpus)
    config = config_for(args, method)
    extractor = extractor_for(args.extractor, args.device)
    run = Path(args.runs_dir) / method
    wall, cpu = time.perf_counter(), time.process_time()
    T.train(config, corpus, run, eval_extractor=extractor)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss_training = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steps = int(T.list_checkpoints(run)[0].stem.split("_")[1])
    evals = []
    if (run / "metrics.csv").exists():
        import pandas as pd

        evals = pd.read_csv(run / "metrics.csv").to_dict("records")
    eval_seconds = float(sum(e["seconds"] for e in evals))
    size = config.eval_size or config.size
    reference = metrics.culture_reference(corpus, config.target, "test", size=size, extractor=extractor)
    inputs = corpus.filter(culture=config.source, split="test")
    result = {
        "method": method,
        "steps": steps,
        "train_wall_s": wall,
        "train_cpu_s": cpu,
        "eval_during_training_s": eval_seconds,
        "seconds_per_step": (wall - eval_seconds) / max(steps, 1),
        "cpu_seconds_per_step": (cpu - eval_seconds) / max(steps, 1),  # load-independent with --clock cpu
        "images_per_s": 2 * config.batch_size * steps / max(wall - eval_seconds, 1e-9),
        "peak_rss_mib": rss_training,
        "rss_after_imports_mib": rss_imports,
        "threads": torch.get_num_threads(),
        "evaluations": evals,
        "method_settings": json.loads((run / "run_record.json").read_text()).get("method_settings"),
        "checkpoints": {},
    }
    features = {}
    for choice in ("best", "last"):
        try:
            state, path = T.load_checkpoint(run, choice)
        except T.CheckpointError as error:
            result["checkpoints"][choice] = {"error": str(error)}
            continue
        out = translate_images(
            run, inputs, "A2B", run / "translations" / choice, checkpoint=choice, progress=False
        )
        feats = metrics.inception_features(out, size=size, extractor=extractor)
        features[choice] = feats
        result["checkpoints"][choice] = {"step": int(state["step"])} | scores(
            feats, reference, args.n_bootstrap, args.kid_subsets, args.seed
        )
    identity = metrics.inception_features(inputs, size=size, extractor=extractor)
    for choice, feats in features.items():
        result["checkpoints"][choice]["fid_minus_identity"] = paired_difference(
            feats, identity, reference.features, args.n_bootstrap, args.seed
        )
    return result


def baselines(args: argparse.Namespace) -> dict:
    from culturalstyle import metrics
    from culturalstyle.corpus import Corpus

    corpus = Corpus.load(args.corpus)
    config = config_for(args, "cyclegan")
    size = config.eval_size or config.size
    extractor = extractor_for(args.extractor, args.device)
    reference = metrics.culture_reference(corpus, args.target, "test", size=size, extractor=extractor)
    identity = metrics.culture_reference(corpus, args.source, "test", size=size, extractor=extractor)
    # the floor at the translations' N (FID falls with N): a seeded random subset of the target's train split
    train = corpus.filter(culture=args.target, split="train")
    n = len(corpus.filter(culture=args.source, split="test"))
    pick = np.sort(np.random.default_rng(args.seed).choice(len(train), min(n, len(train)), replace=False))
    real = metrics.reference_stats(
        type(train)(train.df.iloc[pick], corpus.root), size=size, extractor=extractor
    )
    return {
        "size": size,
        "identity": scores(identity.features, reference, args.n_bootstrap, args.kid_subsets, args.seed),
        "real_target": scores(real.features, reference, args.n_bootstrap, args.kid_subsets, args.seed)
        | {"images": f"random {len(pick)} of the {len(train)} {args.target} train images (seed {args.seed})"},
    }


def step_ratio(args: argparse.Namespace) -> dict:
    """Median over interleaved rounds of (FastCUT step time) / (CycleGAN step time), one process."""
    import torch

    from culturalstyle.corpus import Corpus
    from culturalstyle.translate.engine import Engine

    corpus = Corpus.load(args.corpus)
    engines = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("cyclegan", "fastcut"):
            config = config_for(args, method, eval_every=0, time_budget_s=None)
            engines[method] = Engine(config, corpus, Path(tmp) / method)
            engines[method].model.train()
        times = {m: [] for m in engines}
        for round_ in range(args.ratio_steps + 1):
            for method, engine in engines.items():
                start = time.perf_counter()
                engine.train_step(round_).cpu()
                if round_ > 0:  # the first round warms up
                    times[method].append(time.perf_counter() - start)
    ratios = [f / c for f, c in zip(times["fastcut"], times["cyclegan"])]
    cfg = engines["cyclegan"].config
    return {
        "size": cfg.size,
        "ngf": cfg.ngf,
        "ndf": cfg.ndf,
        "n_blocks": cfg.n_blocks,
        "threads": torch.get_num_threads(),
        "seconds_per_step": {m: float(np.median(t)) for m, t in times.items()},
        "fastcut_over_cyclegan_median": float(np.median(ratios)),
        "ratios": ratios,
        "speedup_fastcut": float(1 / np.median(ratios)),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds of training per method")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--corpus", default=str(REPO / "data" / "sample"))
    parser.add_argument("--source", default="ukiyo_e")
    parser.add_argument("--target", default="renaissance")
    parser.add_argument("--eval-every", type=int, default=250, help="evaluation during training (steps)")
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument(
        "--ratio-steps", type=int, default=5, help="interleaved rounds for the step-time ratio"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--extractor", choices=("inception", "random-test"), default="inception")
    parser.add_argument("--runs-dir", help="where the runs go (default: a temporary folder, deleted)")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "translator_quality.json"
    )
    parser.add_argument(
        "--parallel", action="store_true", help="train all methods at once (one process each)"
    )
    parser.add_argument("--worker-results", help="assemble from DIR/<method>.json written by earlier workers")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker_results(args: argparse.Namespace, argv: list[str] | None, runs_dir: Path) -> list[dict]:
    """One training worker per method, in its own process: one after the other, or all at once with
    `--parallel` (fair with the default CPU-time budget); or read from `--worker-results DIR/<method>.json`
    (the last line each worker printed), to assemble runs made earlier."""
    methods = args.methods.split(",")
    if args.worker_results:
        return [
            json.loads((Path(args.worker_results) / f"{m}.json").read_text().strip().splitlines()[-1])
            for m in methods
        ]
    forwarded = list(argv if argv is not None else sys.argv[1:])
    forwarded = [a for a in forwarded if a != "--parallel"]
    commands = {
        m: [sys.executable, __file__, *forwarded, "--worker", m, "--runs-dir", str(runs_dir)] for m in methods
    }
    if args.parallel:
        procs = {
            m: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
            for m, cmd in commands.items()
        }
        outputs = {m: (p.communicate(), p.returncode) for m, p in procs.items()}
    else:
        outputs = {}
        for m, cmd in commands.items():
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=os.environ.copy())
            outputs[m] = ((done.stdout, done.stderr), done.returncode)
    results = []
    for m in methods:
        (stdout, stderr), code = outputs[m]
        if code != 0:
            print(stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"training worker for {m} failed")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(train_worker(args, args.worker), default=float))
        return
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; move it away first (results are never overwritten)")
    keep = args.runs_dir is not None
    runs_dir = Path(args.runs_dir) if keep else Path(tempfile.mkdtemp(prefix="translator-quality-"))
    runs_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for method, result in zip(args.methods.split(","), worker_results(args, argv, runs_dir)):
        results.append(result)
        line = ", ".join(
            f"{c}: step {r.get('step')} FID {r.get('fid', float('nan')):.1f} KID {r.get('kid', float('nan')):.4f}"
            for c, r in result["checkpoints"].items()
        )
        print(
            f"{method:9s} {result['steps']:6d} steps, {result['seconds_per_step']:.3f} s/step, "
            f"{result['images_per_s']:.2f} img/s, peak RSS {result['peak_rss_mib']:.0f} MiB; {line}",
            flush=True,
        )
    base = baselines(args)
    print(f"identity FID {base['identity']['fid']:.1f}, real-target FID {base['real_target']['fid']:.1f}")
    ratio = step_ratio(args)
    print(
        f"step time FastCUT / CycleGAN: {ratio['fastcut_over_cyclegan_median']:.3f} (median of {args.ratio_steps})"
    )
    payload = {
        "note": (
            "each method trained for the same budget in its own process; FID/KID on the test split at the "
            "preset's size; `best` is selected on that same split (optimistic), `last` is not; fid_minus_identity "
            "is a paired bootstrap (same resampled sources and references) of FID(translation) - FID(identity); "
            "timings on a shared machine are noisy"
        ),
        "budget_s": args.budget,
        "clock": args.clock,
        "preset": args.preset,
        "overrides": args.overrides,
        "source": args.source,
        "target": args.target,
        "extractor": args.extractor,
        "seed": args.seed,
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "methods": results,
        "baselines": base,
        "step_ratio": ratio,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {args.out}" + (f" (runs kept in {runs_dir})" if keep else ""))
    if not keep:
        import shutil

        shutil.rmtree(runs_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
