"""Speed of one translator training step: images/s, peak RSS and the per-phase time split.

Configurations: the `cpu` preset (128 px, ngf 32, 6 blocks) and the paper's 256 px / ngf 64 / 9 blocks, each
with channels_last off and on, on the bundled sample corpus (ukiyo_e -> renaissance, batch 1), for each
method in `--methods` (default: cyclegan). Every configuration runs in a fresh subprocess so its peak RSS is
its own. Phases: data (crop + flip + upload), generators (generator passes, losses, backward),
discriminators (discriminator passes, backward), optimiser (Adam steps, scaler and schedulers).

    python benchmarks/train_speed.py [--steps 3] [--warmup 1] [--threads N] [--device auto] [--methods cyclegan,fastcut]

Prints a table and writes benchmarks/results/train_speed.json. Timings on a shared machine are noisy.
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

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "cpu-preset-128px": {"preset": "cpu", "fields": {}},
    "paper-256px-ngf64-9blocks": {"preset": "paper", "fields": {"steps": 1000, "steps_decay": 500}},
}


def worker(
    name: str, channels_last: bool, steps: int, warmup: int, device: str, amp: bool, method: str
) -> dict:
    import torch

    from culturalstyle.corpus import Corpus
    from culturalstyle.translate import train as T
    from culturalstyle.translate.config import make_config
    from culturalstyle.translate.models import Batch

    rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    spec = CONFIGS[name]
    config = make_config(
        spec["preset"],
        source="ukiyo_e",
        target="renaissance",
        channels_last=channels_last,
        method=method,
        eval_every=0,
        device=device,
        amp=amp,
        progress=False,
        tensorboard=False,
        **spec["fields"],
    )
    corpus = Corpus.load(REPO / "data" / "sample")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = T.Engine(config, corpus, run_dir)
        setup = time.perf_counter() - start
        model = trainer.model
        model.train()
        phases: dict[str, float] = {}
        for step in range(warmup + steps):
            if step == warmup:
                model.phase_times = {}
                phases = {"data": 0.0}
                t0 = time.perf_counter()
            tick = time.perf_counter()
            a, b = trainer.data.batch(step)
            batch = Batch(trainer.prepare(a), trainer.prepare(b), step)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            if model.phase_times is not None:
                phases["data"] += time.perf_counter() - tick
            values = model.step(batch)
            model.scaler.update()
            for scheduler in trainer.schedulers.values():
                scheduler.step()
        values.cpu()  # a single sync at the end
        total = time.perf_counter() - t0
    phases.update(model.phase_times)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "config": name,
        "method": method,
        "size": config.size,
        "ngf": config.ngf,
        "n_blocks": config.n_blocks,
        "ndf": config.ndf,
        "batch_size": config.batch_size,
        "channels_last": channels_last,
        "device": str(trainer.device),
        "amp": trainer.use_amp,
        "threads": torch.get_num_threads(),
        "steps_timed": steps,
        "seconds_per_step": total / steps,
        "steps_per_s": steps / total,
        "images_per_s": 2 * config.batch_size * steps / total,
        "phase_seconds_per_step": {k: v / steps for k, v in phases.items()},
        "peak_rss_mib": peak_kib / 1024,
        "peak_rss_after_imports_mib": rss_after_import,
        "setup_s": setup,
    }
    if trainer.device.type == "cuda":
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help="comma-separated subset of " + ",".join(CONFIGS)
    )
    parser.add_argument("--methods", default="cyclegan", help="comma-separated translator methods")
    parser.add_argument("--method", default="cyclegan", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "train_speed.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--channels-last", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        print(
            json.dumps(
                worker(
                    args.worker,
                    bool(args.channels_last),
                    args.steps,
                    args.warmup,
                    args.device,
                    not args.no_amp,
                    args.method,
                )
            )
        )
        return

    results = []
    for method, name, channels_last in (
        (m, n, c) for m in args.methods.split(",") for n in args.configs.split(",") for c in (0, 1)
    ):
        cmd = [sys.executable, __file__, "--worker", name, "--channels-last", str(channels_last)]
        cmd += ["--method", method]
        cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.no_amp:
            cmd += ["--no-amp"]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=os.environ.copy())
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"benchmark worker {name} channels_last={channels_last} failed")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        p = result["phase_seconds_per_step"]
        print(
            f"{method:8s} {name:28s} channels_last={channels_last} {result['device']:6s} amp={int(result['amp'])} "
            f"threads={result['threads']}: {result['images_per_s']:7.2f} img/s "
            f"({result['seconds_per_step'] * 1000:8.1f} ms/step; data {p.get('data', 0) * 1000:.1f}, "
            f"G {p.get('generators', 0) * 1000:.1f}, D {p.get('discriminators', 0) * 1000:.1f}, "
            f"opt {p.get('optimiser', 0) * 1000:.1f} ms), peak RSS {result['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "note": "one training step (batch 1: one image per culture); images/s = 2 x batch / step "
        "time; phases in seconds per step; shared machine, timings are noisy",
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
