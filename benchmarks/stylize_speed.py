"""Speed of the style-transfer baselines: seconds per output at 256 and 512 px for Gatys and AdaIN.

    python benchmarks/stylize_speed.py [--sizes 256 512] [--gatys-steps 20] [--repeats 3] [--batch 4]
                                       [--threads N] [--device auto]

- Gatys (L-BFGS): times `--gatys-steps` optimiser steps on a sample content photo with a precomputed style
  target (style targets are computed once, outside the loop), splits the time into VGG forward, VGG backward
  and the rest (losses, L-BFGS update, Python), and extrapolates to 300 steps. FLOPs per step = conv FLOPs of
  the forward pass to relu5_1 x 2 (the backward pass computes input gradients only: the weights are frozen).
- AdaIN: seconds per single image after a warm-up (best of `--repeats`), split into encoder and decoder, and
  images/s for batches of `--batch` images of the same size.
- peak: best GFLOP/s of a 2048^3 fp32 matmul in this process, as a yardstick for "close to the FLOP cost".
Writes benchmarks/results/stylize_speed.json (with the load average, which matters on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from common import matmul_peak, sync
from torch import nn

REPO = Path(__file__).resolve().parents[1]


def decoder_flops(decoder: nn.Sequential, height: int, width: int) -> int:
    """Conv FLOPs of the AdaIN decoder for a relu4_1 input of height x width (2 per multiply-add)."""
    flops, h, w = 0, height, width
    for module in decoder:
        if isinstance(module, nn.ReflectionPad2d):
            h, w = h + module.padding[2] + module.padding[3], w + module.padding[0] + module.padding[1]
        elif isinstance(module, nn.Upsample):
            h, w = int(h * module.scale_factor), int(w * module.scale_factor)
        elif isinstance(module, nn.Conv2d):
            h, w = h - module.kernel_size[0] + 1, w - module.kernel_size[1] + 1
            flops += (
                2
                * module.in_channels
                * module.kernel_size[0]
                * module.kernel_size[1]
                * module.out_channels
                * h
                * w
            )
    return flops


def sample_images() -> tuple[Path, Path]:
    from culturalstyle.corpus import Corpus

    corpus = Corpus.load(REPO / "data" / "sample")
    content = corpus.filter(culture="content_photo").df.sort_values("image_id").iloc[0]
    style = corpus.filter(culture="ukiyo_e").df.sort_values("image_id").iloc[0]
    return corpus.abspath(content), corpus.abspath(style)


def bench_gatys(size: int, steps: int, device: torch.device, peak: float) -> dict:
    from culturalstyle import nst
    from culturalstyle.nst.common import load_content

    content_path, style_path = sample_images()
    content = load_content(content_path, size)
    config = nst.GatysConfig(size=size, steps=steps, patience=10**6)
    model = nst.Gatys(device=device, config=config)
    t0 = time.perf_counter()
    target = model.targets(nst.style_image(style_path), size)
    target_s = time.perf_counter() - t0
    warm = nst.GatysConfig(size=size, steps=2, patience=10**6)
    nst.Gatys(model.extractor, config=warm).stylize(content, target, progress=False)
    result = model.stylize(content, target, progress=False, profile=True)
    h, w = result.image.shape[-2:]
    # the optimisation loop only: setup (content features, resizing) and the final check are excluded
    loop, steps = result.timing["loop_s"], result.steps_run
    per_step = loop / steps
    flops_step = 2 * model.extractor.conv_flops(h, w)
    fwd, bwd = result.timing["forward_s"], result.timing["backward_s"]
    return {
        "method": "gatys-lbfgs",
        "size": size,
        "image_hw": [h, w],
        "steps_timed": result.steps_run,
        "seconds_per_step": round(per_step, 3),
        "seconds_per_output_300_steps_extrapolated": round(per_step * 300 + target_s, 1),
        "style_target_seconds": round(target_s, 2),
        "share_vgg_forward_and_losses": round(fwd / loop, 3),
        "share_vgg_backward": round(bwd / loop, 3),
        "share_optimizer_and_python": round(1 - (fwd + bwd) / loop, 3),
        "gflop_per_step": round(flops_step / 1e9, 1),
        "achieved_gflops": round(flops_step / per_step / 1e9, 1),
        "fraction_of_matmul_peak": round(flops_step / per_step / 1e9 / peak, 3),
    }


def bench_adain(size: int, repeats: int, batch: int, device: torch.device, peak: float) -> dict:
    from culturalstyle import nst

    content_path, style_path = sample_images()
    model = nst.AdaIN(device=device, config=nst.AdaINConfig(size=size))
    target = model.target(nst.style_image(style_path))
    x = torch.rand(1, 3, size, size)
    model.stylize(x, target)  # warm-up
    best, enc_best, dec_best = float("inf"), float("inf"), float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            model.stylize(x, target)
            sync(device)
            best = min(best, time.perf_counter() - t0)
            t0 = time.perf_counter()
            f = model.encode(x.to(device))
            sync(device)
            t1 = time.perf_counter()
            model.decode(f)
            sync(device)
            enc_best, dec_best = min(enc_best, t1 - t0), min(dec_best, time.perf_counter() - t1)
        xb = torch.rand(batch, 3, size, size)
        model.stylize(xb, target)
        batch_best = float("inf")
        for _ in range(max(1, repeats - 1)):
            sync(device)
            t0 = time.perf_counter()
            model.stylize(xb, target)
            sync(device)
            batch_best = min(batch_best, time.perf_counter() - t0)
    flops = model.encoder.conv_flops(size, size) + decoder_flops(model.decoder, size // 8, size // 8)
    return {
        "method": "adain",
        "size": size,
        "image_hw": [size, size],
        "seconds_per_output": round(best, 3),
        "encoder_seconds": round(enc_best, 3),
        "decoder_seconds": round(dec_best, 3),
        "batch": batch,
        "images_per_second_batched": round(batch / batch_best, 3),
        "gflop_per_output": round(flops / 1e9, 1),
        "achieved_gflops": round(flops / best / 1e9, 1),
        "fraction_of_matmul_peak": round(flops / best / 1e9 / peak, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--gatys-steps", type=int, default=20, help="steps timed (extrapolated to 300)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-gatys", action="store_true")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "stylize_speed.json"))
    args = parser.parse_args()
    from culturalstyle.device import default_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = default_device(args.device)
    load_before = os.getloadavg()
    peak = matmul_peak(device)
    print(
        f"device {device}, threads {torch.get_num_threads()}, matmul peak {peak:.1f} GFLOP/s, load {load_before}"
    )
    rows = []
    for size in args.sizes:
        row = bench_adain(size, args.repeats, args.batch, device, peak)
        print(json.dumps(row))
        rows.append(row)
    if not args.skip_gatys:
        for size in args.sizes:
            row = bench_gatys(size, args.gatys_steps, device, peak)
            print(json.dumps(row))
            rows.append(row)
    # the peak moves with the machine's load: sample it again and compare against the best (higher) sample
    peak = max(peak, matmul_peak(device))
    for row in rows:
        row["fraction_of_matmul_peak"] = round(row["achieved_gflops"] / peak, 3)
    result = {
        "benchmark": "stylize_speed",
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "matmul_peak_gflops": round(peak, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
