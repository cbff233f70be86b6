"""Cost of the content check (issue 15): every cached reader verifies that each file's sha256 is the manifest's.

    python benchmarks/content_check.py [--size 128] [--repeats 3]

A fresh `culturalstyle embed` process hashes every image once (`cache.content_sha256`, memoised per process),
on a cold feature cache and on a warm one alike; that is the check's whole cost. Measured on the bundled
sample corpus:
- check alone: `Corpus.verified_hashes()` with an empty memo (a new process: every file hashed) and with a
  filled one (stat only);
- cold embed: `embed_corpus` once with an empty feature cache (network for every image), check included;
- warm embed: `embed_corpus` on the filled cache with the check and without it (the manifest's hashes trusted,
  as before issue 15), in interleaved repeats, each with an empty memo; the ratio of the medians is the
  relative cost, which must stay under 5 %.
Writes benchmarks/results/content_check.json. The machine may be shared: the JSON records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="embedding image size (default 128)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved warm pairs (default 3)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "content_check.json"))
    args = parser.parse_args()

    load_before = os.getloadavg()
    real_cache = Path(os.environ.get("CULTURALSTYLE_CACHE") or Path.home() / ".cache" / "culturalstyle")
    with tempfile.TemporaryDirectory() as tmp:
        # an empty feature cache that still sees the installed weights
        os.environ["CULTURALSTYLE_CACHE"] = str(Path(tmp) / "cache")
        (Path(tmp) / "cache").mkdir()
        (Path(tmp) / "cache" / "weights").symlink_to(real_cache / "weights")

        import torch

        from culturalstyle import cache
        from culturalstyle import corpus as corpus_module
        from culturalstyle.corpus import Corpus
        from culturalstyle.embedding import EmbedConfig, embed_corpus

        corpus = Corpus.load(REPO / "data" / "sample")
        n_bytes = sum(p.stat().st_size for p in corpus.paths())
        config = EmbedConfig(size=args.size)
        verify = corpus_module.verified_sha256

        def trust(path, expected=None, *, row=None):  # the pre-issue-15 behaviour: the manifest is believed
            return expected or cache.sha256_file(path)

        def embed(name: str, check: bool) -> float:
            cache._CONTENT_MEMO.clear()  # a new process starts with an empty memo
            corpus_module.verified_sha256 = verify if check else trust
            try:
                seconds, _ = timed(lambda: embed_corpus(corpus, Path(tmp) / name, config))
            finally:
                corpus_module.verified_sha256 = verify
            return seconds

        cache._CONTENT_MEMO.clear()
        check_cold, _ = timed(corpus.verified_hashes)
        check_warm, _ = timed(corpus.verified_hashes)
        print(f"check alone: {check_cold * 1e3:.0f} ms hashing {len(corpus)} files ({n_bytes / 1e6:.1f} MB)")
        print(f"             {check_warm * 1e3:.1f} ms with the per-process memo filled (stat only)")

        cold = embed("cold", check=True)
        print(f"cold embed ({args.size} px, empty feature cache): {cold:.1f} s with the check")
        embed("warm-up", check=True)
        with_check, without_check = [], []
        for i in range(args.repeats):
            order = [(True, with_check), (False, without_check)]
            for check, bucket in order if i % 2 == 0 else order[::-1]:
                bucket.append(embed(f"warm-{i}-{check}", check))
        ratio = statistics.median(with_check) / statistics.median(without_check)
        print(
            f"warm embed: median {statistics.median(with_check):.2f} s with the check, "
            f"{statistics.median(without_check):.2f} s without ({(ratio - 1):+.1%})"
        )
        results = {
            "corpus": "data/sample",
            "images": len(corpus),
            "image_bytes": n_bytes,
            "size": args.size,
            "check_seconds_empty_memo": check_cold,
            "check_seconds_filled_memo": check_warm,
            "cold_embed_seconds_with_check": cold,
            "check_fraction_of_cold_embed": check_cold / cold,
            "warm_embed_seconds_with_check": with_check,
            "warm_embed_seconds_without_check": without_check,
            "warm_ratio_with_over_without": ratio,
            "check_fraction_of_warm_embed": check_cold / statistics.median(with_check),
            "under_5_percent": bool(ratio < 1.05 and check_cold / statistics.median(with_check) < 0.05),
            "machine": {
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
                "note": "shared machine (other agents and a training run): timings are noisy; compare the "
                "interleaved with/without repeats of one run, not absolute seconds",
            },
        }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
