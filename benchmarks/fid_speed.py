"""FID speed: the toolkit (culturalstyle.metrics) vs torch_fidelity.calculate_metrics on the same folders.

Builds two folders of N images at 299 px (default N = 500) by random-resized-cropping, flipping and colour
jittering sample-corpus images (generated side: ukiyo_e, reference side: renaissance), then times

  1. toolkit cold      : reference statistics not cached (its cache entry is removed first), both sets run
                          through Inception, statistics cached;
  2. toolkit cached    : same call again; the reference set comes from cache_dir("refstats");
  3. fidelity cold     : torch_fidelity.calculate_metrics(input1, input2, fid=True, cache=False);
  4. fidelity cached   : calculate_metrics with input2_cache_name, after a warm-up call (input1 = 2 images)
                          that fills its statistics cache for input2.

Both use the same Inception weights (weights.fidelity_inception_path() / weights.load("inception-fid")).
Images through the network are counted for the toolkit runs, which shows that the cached path skips the
reference pass. Timings on a shared CPU are noisy; the load average is recorded with the figures.

    python benchmarks/fid_speed.py [--n 500] [--batch-size 50] [--out benchmarks/results/fid_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from culturalstyle import metrics, weights  # noqa: E402
from culturalstyle.cache import cache_dir, sha256_file  # noqa: E402
from culturalstyle.corpus import Corpus  # noqa: E402
from culturalstyle.images import load_image  # noqa: E402


def augmented_folder(paths: list[Path], folder: Path, n: int, size: int, seed: int) -> Path:
    """n PNGs of size x size made from `paths` by random resized crop, flip and brightness/colour jitter."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = load_image(paths[i % len(paths)])
        w, h = img.size
        scale = rng.uniform(0.5, 1.0)
        side = max(32, int(min(w, h) * scale))
        left, top = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
        img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
        img = ImageEnhance.Color(img).enhance(rng.uniform(0.8, 1.2))
        img.save(folder / f"{i:05d}.png")
    return folder


class Counting(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.images = 0

    def forward(self, x: torch.Tensor):
        self.images += x.shape[0]
        return self.inner(x)


def toolkit(gen: Path, ref: Path, batch_size: int) -> tuple[float, float, int, bool]:
    """Seconds, FID, images through Inception, reference-cache hit; model construction included."""
    start = time.perf_counter()
    extractor = metrics.inception_extractor("cpu")
    counter = Counting(extractor.module)
    extractor.module = counter
    ref_stats = metrics.reference_stats(ref, size=299, extractor=extractor, batch_size=batch_size)
    gen_features = metrics.inception_features(gen, size=299, extractor=extractor, batch_size=batch_size)
    value = metrics.fid_with_ci(gen_features, ref_stats, n_bootstrap=0).value
    return time.perf_counter() - start, value, counter.images, ref_stats.cached


def fidelity(gen: Path, ref: Path, batch_size: int, cache_root: Path | None) -> tuple[float, float]:
    import torch_fidelity

    kwargs = {
        "input1": str(gen),
        "input2": str(ref),
        "fid": True,
        "cuda": False,
        "batch_size": batch_size,
        "feature_extractor_weights_path": str(weights.fidelity_inception_path()),
        "verbose": False,
    }
    if cache_root is None:
        kwargs["cache"] = False
    else:
        kwargs.update(cache=True, cache_root=str(cache_root), input2_cache_name="fid-speed-reference")
    start = time.perf_counter()
    out = torch_fidelity.calculate_metrics(**kwargs)
    return time.perf_counter() - start, float(out["frechet_inception_distance"])


def fidelity_cached(gen: Path, ref: Path, work: Path, batch_size: int) -> tuple[float, float, float]:
    """Warm-up seconds, cached seconds and FID of torch-fidelity with its statistics cache for input2."""
    fcache = work / "fidelity_cache"
    # fill torch-fidelity's statistics cache for input2 with a cheap call (input1 = 2 images)
    warm = work / "warm"
    warm.mkdir(exist_ok=True)
    for p in sorted(gen.iterdir())[:2]:
        shutil.copy(p, warm / p.name)
    f_warm, _ = fidelity(warm, ref, batch_size, fcache)
    f_cached, value = fidelity(gen, ref, batch_size, fcache)
    return f_warm, f_cached, value


def cached_only(args: argparse.Namespace, gen: Path, ref: Path, work: Path, load: tuple) -> int:
    """Toolkit cached vs torch-fidelity cached, back to back (the toolkit's cache must be warm already)."""
    t_cached, fid_t, seen, hit = toolkit(gen, ref, args.batch_size)
    print(
        f"toolkit cached   {t_cached:8.1f} s  FID {fid_t:.4f}  images {seen} (cache hit: {hit})", flush=True
    )
    f_warm, f_cached, fid_f = fidelity_cached(gen, ref, work, args.batch_size)
    print(f"fidelity cached  {f_cached:8.1f} s  FID {fid_f:.4f} (warm-up {f_warm:.1f} s)", flush=True)
    result = {
        "n_per_set": args.n,
        "mode": "cached-only re-measurement",
        "load_average_start": load,
        "load_average_end": os.getloadavg(),
        "toolkit_cached_s": t_cached,
        "fidelity_cached_s": f_cached,
        "ratio_cached_toolkit_over_fidelity": t_cached / f_cached,
        "toolkit_images_through_inception_cached": seen,
        "toolkit_reference_cache_hit": hit,
        "fid_toolkit": fid_t,
        "fid_fidelity": fid_f,
    }
    print(f"ratio toolkit/fidelity cached {t_cached / f_cached:.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500, help="images per set (default 500)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--corpus", default=str(REPO / "data" / "sample"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fid_speed.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="only the two cached timings, back to back (re-measure when the machine's load changed)",
    )
    args = parser.parse_args()

    corpus = Corpus.load(args.corpus)
    work = Path(tempfile.mkdtemp(prefix="fid_speed_"))
    try:
        gen = augmented_folder(corpus.filter(culture="ukiyo_e").paths(), work / "gen", args.n, 299, args.seed)
        ref = augmented_folder(
            corpus.filter(culture="renaissance").paths(), work / "ref", args.n, 299, args.seed + 1
        )
        load = os.getloadavg()
        print(
            f"N={args.n} per set, 299 px, batch {args.batch_size}, torch threads {torch.get_num_threads()}, "
            f"load average {load[0]:.1f}",
            flush=True,
        )
        if args.cached_only:
            return cached_only(args, gen, ref, work, load)
        # make the toolkit run cold: drop this reference set's cache entry if an earlier run left one
        key = metrics.refstats_key(
            [sha256_file(p) for p in metrics.image_paths(ref)],
            299,
            metrics.FeatureExtractor(module=None, weights_sha256=weights.sha256(metrics.FID_NETWORK)),
        )
        (cache_dir("refstats") / f"{key}.npz").unlink(missing_ok=True)

        t_cold, fid_cold, seen_cold, hit_cold = toolkit(gen, ref, args.batch_size)
        print(
            f"toolkit cold     {t_cold:8.1f} s  FID {fid_cold:.4f}  images through Inception {seen_cold}",
            flush=True,
        )
        t_cached, fid_cached, seen_cached, hit_cached = toolkit(gen, ref, args.batch_size)
        print(
            f"toolkit cached   {t_cached:8.1f} s  FID {fid_cached:.4f}  images through Inception {seen_cached}"
            f" (reference from cache: {hit_cached})",
            flush=True,
        )
        f_cold, ffid_cold = fidelity(gen, ref, args.batch_size, None)
        print(f"fidelity cold    {f_cold:8.1f} s  FID {ffid_cold:.4f}", flush=True)
        f_warm, f_cached, ffid_cached = fidelity_cached(gen, ref, work, args.batch_size)
        print(
            f"fidelity cached  {f_cached:8.1f} s  FID {ffid_cached:.4f} (warm-up call {f_warm:.1f} s)",
            flush=True,
        )

        result = {
            "n_per_set": args.n,
            "size": 299,
            "batch_size": args.batch_size,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_start": load,
            "load_average_end": os.getloadavg(),
            "toolkit_cold_s": t_cold,
            "toolkit_cached_s": t_cached,
            "fidelity_cold_s": f_cold,
            "fidelity_cached_s": f_cached,
            "fidelity_cache_warmup_s": f_warm,
            "ratio_cold_toolkit_over_fidelity": t_cold / f_cold,
            "ratio_cached_toolkit_over_fidelity": t_cached / f_cached,
            "speedup_toolkit_cached_vs_cold": t_cold / t_cached,
            "toolkit_images_through_inception_cold": seen_cold,
            "toolkit_images_through_inception_cached": seen_cached,
            "toolkit_reference_cache_hit": {"cold": hit_cold, "cached": hit_cached},
            "fid_toolkit": fid_cold,
            "fid_fidelity": ffid_cold,
            "fid_abs_difference": abs(fid_cold - ffid_cold),
            "note": "shared 2-core machine; other jobs ran concurrently, timings are noisy",
        }
        print(
            f"ratio toolkit/fidelity: cold {result['ratio_cold_toolkit_over_fidelity']:.2f}x, "
            f"cached {result['ratio_cached_toolkit_over_fidelity']:.2f}x; |FID difference| "
            f"{result['fid_abs_difference']:.2e}"
        )
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(f"wrote {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
