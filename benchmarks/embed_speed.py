"""Speed of the Gram style embedding: images/s at 256 and 512 px, achieved GFLOP/s vs the machine's fp32 peak,
and how much faster a cached re-run is than a cold one.

    python benchmarks/embed_speed.py [--images 16] [--sizes 256 512] [--device auto]

- peak: best GFLOP/s of a large fp32 torch.matmul in this process (same threads, same moment);
- network: VGGFeatures (store weights) + Gram matrices of the style layers on random batches, NCHW and
  channels_last, FLOPs counted from the conv layers actually run (`VGGFeatures.conv_flops`);
- end to end: `features.extract` over sample-corpus images with an empty feature cache (cold: decode, resize,
  network, Gram, cache write) and again (cached: cache reads only).
Writes benchmarks/results/embed_speed.json. Timings on a shared machine are noisy: the JSON records the load
average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from common import matmul_peak, sync

REPO = Path(__file__).resolve().parents[1]


def network_throughput(extractor, size: int, batch: int, repeats: int) -> dict:
    """Images/s and GFLOP/s of extractor + Gram on random batches (best of `repeats` after a warm-up)."""
    from culturalstyle.features import gram

    x = torch.rand(batch, 3, size, size, device=extractor.device)
    with torch.inference_mode():
        for a in extractor(x).values():
            gram(a)
        best = float("inf")
        for _ in range(repeats):
            sync(extractor.device)
            start = time.perf_counter()
            for a in extractor(x).values():
                gram(a)
            sync(extractor.device)
            best = min(best, time.perf_counter() - start)
    flops = extractor.conv_flops(size, size) * batch
    return {"batch": batch, "seconds": best, "images_per_s": batch / best, "gflops_per_s": flops / best / 1e9}


def sample_paths(n: int) -> list[Path]:
    import pandas as pd

    manifest = pd.read_csv(REPO / "data" / "sample" / "manifest.csv")
    art = manifest[manifest["culture"] != "content_photo"].sort_values("image_id")
    return [REPO / "data" / "sample" / p for p in art["path"].iloc[:n]]


def end_to_end(extractor, paths: list[Path], size: int, batch: int) -> dict:
    """Cold (empty cache) vs cached `extract` over real images."""
    from culturalstyle.features import STYLE_LAYERS, extract

    with tempfile.TemporaryDirectory() as cache:
        previous = os.environ.get("CULTURALSTYLE_CACHE")
        os.environ["CULTURALSTYLE_CACHE"] = cache
        try:
            calls = extractor.calls
            start = time.perf_counter()
            extract(paths, STYLE_LAYERS, size, "shorter", batch, extractor=extractor)
            cold = time.perf_counter() - start
            network_calls = extractor.calls - calls
            calls = extractor.calls
            start = time.perf_counter()
            cached = extract(paths, STYLE_LAYERS, size, "shorter", batch, extractor=extractor)
            warm = time.perf_counter() - start
            assert extractor.calls == calls and cached.cache_hits == len(paths), (
                "cached run called the network"
            )
        finally:
            if previous is None:
                del os.environ["CULTURALSTYLE_CACHE"]
            else:
                os.environ["CULTURALSTYLE_CACHE"] = previous
    flops = extractor.conv_flops(size, size) * len(paths)
    return {
        "images": len(paths),
        "cold_seconds": cold,
        "cold_images_per_s": len(paths) / cold,
        "cold_gflops_per_s": flops / cold / 1e9,
        "cold_network_batches": network_calls,
        "cached_seconds": warm,
        "cached_images_per_s": len(paths) / warm,
        "cached_speedup": cold / warm,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16, help="sample images for the end-to-end runs")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "embed_speed.json"))
    args = parser.parse_args()

    from culturalstyle import weights
    from culturalstyle.device import default_device
    from culturalstyle.features import STYLE_LAYERS, VGGFeatures

    device = default_device(args.device)
    load_before = os.getloadavg()
    # On a shared machine the achievable peak moves with the other processes' load: sample it before every
    # measurement and at the end, and compare against the best sample (a conservative, i.e. high, peak).
    n = 4096 if device.type == "cuda" else 2048
    peaks = [matmul_peak(device, n)]
    print(f"device {device}, {torch.get_num_threads()} threads, fp32 matmul {peaks[0]:.1f} GFLOP/s")
    net = weights.load("vgg19-gatys")
    results: dict = {"sizes": {}}
    paths = sample_paths(args.images)
    for size in args.sizes:
        entry: dict = {"conv_gflop_per_image": None, "network": {}}
        best_layout, best_rate = None, 0.0
        for channels_last in (False, True):
            extractor = VGGFeatures(
                STYLE_LAYERS, device=device, weights_module=net, channels_last=channels_last
            )
            entry["conv_gflop_per_image"] = extractor.conv_flops(size, size) / 1e9
            batch = args.batch_size if size <= 256 else max(1, args.batch_size // 2)
            peaks.append(matmul_peak(device, n))
            run = network_throughput(extractor, size, batch, args.repeats)
            layout = "channels_last" if channels_last else "nchw"
            entry["network"][layout] = run
            print(
                f"{size}px network {layout:13s}: {run['images_per_s']:.2f} img/s, {run['gflops_per_s']:.1f} GFLOP/s"
            )
            if run["images_per_s"] > best_rate:
                best_layout, best_rate = channels_last, run["images_per_s"]
        extractor = VGGFeatures(STYLE_LAYERS, device=device, weights_module=net, channels_last=best_layout)
        e2e = end_to_end(
            extractor, paths, size, args.batch_size if size <= 256 else max(1, args.batch_size // 2)
        )
        e2e["layout"] = "channels_last" if best_layout else "nchw"
        entry["end_to_end"] = e2e
        print(
            f"{size}px end to end ({e2e['images']} images, {e2e['layout']}): cold {e2e['cold_images_per_s']:.2f} img/s "
            f"({e2e['cold_gflops_per_s']:.1f} GFLOP/s), cached {e2e['cached_images_per_s']:.1f} img/s, "
            f"{e2e['cached_speedup']:.0f}x faster"
        )
        results["sizes"][str(size)] = entry
    peaks.append(matmul_peak(device, n))
    peak = max(peaks)
    results["peak_gflops_per_s"] = peak
    results["peak_samples_gflops_per_s"] = peaks
    print(
        f"fp32 matmul peak (best of {len(peaks)} samples: {', '.join(f'{p:.0f}' for p in peaks)}): {peak:.1f} GFLOP/s"
    )
    for size, entry in results["sizes"].items():
        for layout, run in entry["network"].items():
            run["fraction_of_peak"] = run["gflops_per_s"] / peak
            print(f"{size}px network {layout:13s}: {run['fraction_of_peak']:.0%} of peak")
        e2e = entry["end_to_end"]
        e2e["cold_fraction_of_peak"] = e2e["cold_gflops_per_s"] / peak
        print(f"{size}px end to end cold: {e2e['cold_fraction_of_peak']:.0%} of peak")
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    results["machine"] = {
        "device": str(device),
        "cpu": cpu,
        "cuda": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "note": "shared machine: other processes compete for the cores, so timings are noisy",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
