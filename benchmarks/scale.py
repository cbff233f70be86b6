"""Style space at scale: wall time and peak memory of `embed` (store path) then `compare` as N grows.

    python benchmarks/scale.py [--sizes 1000 4000 16000] [--network real|random] [--workers 1]
                               [--workdir /tmp/scale-bench] [--out benchmarks/results/scale.json]

- corpus: N distinct variants of the bundled sample's paintings (seeded crop, flip and colour jitter per
  variant, so every file has its own sha256), saved as ~72 px JPEGs; generated before timing starts;
- embed: `embed_corpus` with `scale.mode=store` at 64 px (sketches, streaming statistics, randomized PCA),
  `--network real` = the weights store's vgg19-gatys, `random` = a random network with VGG19's exact layer
  widths (same FLOPs and Gram sizes; no weights needed);
- compare: `culturalstyle compare` on the result with `--subsample-above 0 --per-culture 250`, so every N
  takes the large-corpus statistics (N x N tests on a stratified subsample of <= 250 per culture);
- each step runs in its own process, which reports its wall time, its peak RSS (getrusage) and the peak memory
  unique to its DataLoader workers (summed USS, sampled); the store's size on disk is measured per image
  (allocated blocks, including the per-shard statistics).
Growth exponents are least-squares slopes of log(time) and log(RSS) over log(N). Targets (issue 11): peak RSS
at 16,000 images < 3 GB, time per image constant within 25 % from 1,000 to 16,000, store < 50 KB per image.
Writes JSON (with the load average before and after: the machine may be shared) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"peak_rss_bytes_at_16000": 3e9, "time_per_image_ratio": 1.25, "store_bytes_per_image": 50_000}


# ------------------------------------------------------------------------------------------------------------
# the synthetic corpus


def make_corpus(n: int, folder: Path, seed: int = 0, side: int = 72):
    """N distinct variants of the sample's paintings (content photos excluded), deterministic from `seed`."""
    import pandas as pd
    from PIL import Image, ImageOps

    from culturalstyle.cache import sha256_file
    from culturalstyle.corpus import Corpus
    from culturalstyle.images import load_image

    sample = Corpus.load(REPO / "data" / "sample")
    art = sample.df[sample.df["culture"] != "content_photo"].sort_values("image_id").reset_index(drop=True)
    bases = [load_image(sample.abspath(row), max_side=192) for _, row in art.iterrows()]
    folder.mkdir(parents=True, exist_ok=True)
    rows, seen = [], set()
    for v in range(n):
        b = v % len(bases)
        rng = np.random.default_rng([seed, v])
        img = bases[b]
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img = img.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            img = ImageOps.mirror(img)
        arr = np.asarray(img, dtype=np.float32) * rng.uniform(0.85, 1.15, size=3) + rng.uniform(-12, 12)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        scale = side / min(img.size)
        img = img.resize((max(side, round(img.size[0] * scale)), max(side, round(img.size[1] * scale))))
        rel = f"{art.at[b, 'culture']}/v{v:06d}.jpg"
        (folder / rel).parent.mkdir(exist_ok=True)
        img.save(folder / rel, quality=90)
        digest = sha256_file(folder / rel)
        if digest in seen:
            raise RuntimeError(f"variant {v} repeats an earlier file's content; change the jitter")
        seen.add(digest)
        rows.append(
            {
                "image_id": f"v{v:06d}",
                "path": rel,
                "culture": art.at[b, "culture"],
                "artist": art.at[b, "artist"],
                "title": f"variant {v} of {art.at[b, 'image_id']}",
                "date": art.at[b, "date"],
                "source": f"benchmark variant of {art.at[b, 'image_id']}",
                "license": art.at[b, "license"],
                "split": "train",
                "sha256": digest,
                "width": img.size[0],
                "height": img.size[1],
            }
        )
    corpus = Corpus(pd.DataFrame(rows), folder)
    corpus.save(folder)
    return corpus


# ------------------------------------------------------------------------------------------------------------
# one step in its own process


class WorkerMemory:
    """Peak summed USS (memory unique to them, i.e. not shared with this process) of this process's
    children, sampled every 0.25 s: what DataLoader workers add on top of this process's own RSS."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.peak = 0
        self._stop = threading.Event()
        self._me = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.25):
            total = 0
            for proc in self._me.children(recursive=True):
                try:
                    total += proc.memory_full_info().uss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def child(step: str, corpus_dir: str, out_dir: str, network: str, workers: int, result: str) -> None:
    import torch

    from culturalstyle.corpus import Corpus
    from culturalstyle.embedding import EmbedConfig, embed_corpus
    from culturalstyle.features import random_vgg
    from culturalstyle.scale import ScaleConfig

    memory = WorkerMemory()
    start = time.perf_counter()
    info: dict = {}
    if step == "embed":
        weights = random_vgg(widths=(64, 128, 256, 512, 512)) if network == "random" else None
        config = EmbedConfig(size=64, batch_size=16, scale=ScaleConfig(mode="store"))
        out = embed_corpus(Corpus.load(corpus_dir), out_dir, config, weights_module=weights, workers=workers)
        from culturalstyle.runs import read_record
        from culturalstyle.store import FeatureStore

        record = read_record(out)
        store = FeatureStore(record["store"]["path"])
        info = {
            "n_images": record["inputs"]["n_images"],
            "network_images": record["feature_cache"]["network_images"],
            "store_disk_bytes": store.disk_bytes(),
            "store_bytes_per_row": store.bytes_per_row,
            "device": record["device"],
        }
    else:
        from culturalstyle.cli import main

        code = main(
            [
                "compare",
                out_dir,
                "--out",
                str(Path(out_dir) / "compare"),
                "--subsample-above",
                "0",
                "--per-culture",
                "250",
                "--formats",
                "png",
            ]
        )
        if code:
            raise SystemExit(code)
    wall = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    Path(result).write_text(
        json.dumps(
            {
                "step": step,
                "seconds": wall,
                "peak_rss_bytes": own,
                "peak_workers_uss_bytes": memory.stop(),
                "torch_threads": torch.get_num_threads(),
                **info,
            }
        )
    )


def run_step(step: str, corpus_dir: Path, out_dir: Path, args: argparse.Namespace, env: dict) -> dict:
    result = out_dir.parent / f"{out_dir.name}-{step}.json"
    command = [
        sys.executable,
        __file__,
        "--child",
        step,
        str(corpus_dir),
        str(out_dir),
        args.network,
        str(args.workers),
        str(result),
    ]
    subprocess.run(command, check=True, env=env)
    return json.loads(result.read_text())


def slope(x: list[float], y: list[float]) -> float | None:
    if len(x) < 2:
        return None
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def markdown(results: dict) -> str:
    lines = [
        "| N | embed s | embed ms/img | embed peak RSS | compare s | compare peak RSS | store KB/img |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        e, c = r["embed"], r["compare"]
        lines.append(
            f"| {r['n']:,} | {e['seconds']:.0f} | {1000 * e['seconds'] / r['n']:.1f} | "
            f"{(e['peak_rss_bytes'] + e['peak_workers_uss_bytes']) / 1e9:.2f} GB | {c['seconds']:.0f} | "
            f"{c['peak_rss_bytes'] / 1e9:.2f} GB | {e['store_disk_bytes'] / r['n'] / 1000:.1f} |"
        )
    g = results["growth_exponents"]
    lines.append("")
    lines.append(
        "Growth exponents (time ~ N^a): " + ", ".join(f"{k} {v:.2f}" for k, v in g.items() if v is not None)
    )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6], int(sys.argv[6]), sys.argv[7])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--network", choices=["real", "random"], default="real")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--workdir", default="/tmp/culturalstyle-scale-benchmark")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale.json"))
    parser.add_argument("--keep", action="store_true", help="keep the generated corpora and stores")
    args = parser.parse_args()
    work = Path(args.workdir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = {**os.environ, "CULTURALSTYLE_STORE": str(work / "stores"), "PYTHONPATH": str(REPO)}
    load_before = os.getloadavg()
    runs = []
    for n in sorted(args.sizes):
        corpus_dir = work / f"corpus-{n}"
        print(f"[scale] generating {n} variants ...", flush=True)
        make_corpus(n, corpus_dir)
        run = {"n": n}
        for step in ("embed", "compare"):
            print(f"[scale] {step} N={n} ...", flush=True)
            run[step] = run_step(step, corpus_dir, work / f"emb-{n}", args, env)
            print(
                f"[scale]   {run[step]['seconds']:.1f} s, peak RSS {run[step]['peak_rss_bytes'] / 1e9:.2f} GB",
                flush=True,
            )
        runs.append(run)
        if not args.keep:
            shutil.rmtree(corpus_dir)
            shutil.rmtree(work / "stores", ignore_errors=True)
    sizes = [r["n"] for r in runs]
    exponents = {
        "embed_time": slope(sizes, [r["embed"]["seconds"] for r in runs]),
        "compare_time": slope(sizes, [r["compare"]["seconds"] for r in runs]),
        "total_time": slope(sizes, [r["embed"]["seconds"] + r["compare"]["seconds"] for r in runs]),
        "embed_peak_rss": slope(sizes, [r["embed"]["peak_rss_bytes"] for r in runs]),
        "compare_peak_rss": slope(sizes, [r["compare"]["peak_rss_bytes"] for r in runs]),
    }
    first, last = runs[0], runs[-1]

    def per_image(r: dict) -> float:
        return (r["embed"]["seconds"] + r["compare"]["seconds"]) / r["n"]

    peak = max(
        max(
            r["embed"]["peak_rss_bytes"] + r["embed"]["peak_workers_uss_bytes"],
            r["compare"]["peak_rss_bytes"],
        )
        for r in runs
    )
    checks = {
        "largest_n": last["n"],
        "peak_rss_bytes_at_largest_n": peak,
        "time_per_image_ratio_largest_vs_smallest": per_image(last) / per_image(first),
        "embed_time_per_image_ratio": (last["embed"]["seconds"] / last["n"])
        / (first["embed"]["seconds"] / first["n"]),
        "store_bytes_per_image": max(r["embed"]["store_disk_bytes"] / r["n"] for r in runs),
    }
    checks["meets_targets"] = bool(
        peak < TARGETS["peak_rss_bytes_at_16000"]
        and 1 / TARGETS["time_per_image_ratio"]
        <= checks["time_per_image_ratio_largest_vs_smallest"]
        <= TARGETS["time_per_image_ratio"]
        and checks["store_bytes_per_image"] < TARGETS["store_bytes_per_image"]
    )
    results = {
        "benchmark": "scale",
        "network": args.network,
        "workers": args.workers,
        "size_px": 64,
        "runs": runs,
        "growth_exponents": exponents,
        "checks": checks,
        "targets": TARGETS,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "environment": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    print(json.dumps(checks, indent=2))
    print(f"wrote {out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
