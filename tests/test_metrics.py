"""Unit tests of culturalstyle.metrics: FID/KID math against independent references, the reference-statistics
cache (counted forward passes), LPIPS plumbing, ArtFID, and the evaluate() table, all with tiny fake networks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import torch
from PIL import Image

from culturalstyle import metrics
from culturalstyle.cache import sha256_file
from culturalstyle.corpus import Corpus
from culturalstyle.images import ContentMismatchError, ImageError

# ---------------------------------------------------------------------------------------------------------
# independent references written here (not the library's code paths)


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance with scipy.linalg.sqrtm, the textbook formula."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def poly_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with KID's cubic polynomial kernel k(x, y) = (x·y / d + 1)³."""
    d = x.shape[1]

    def k(p, q):
        return (p @ q.T / d + 1.0) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


# ---------------------------------------------------------------------------------------------------------
# fakes: a counting feature extractor and a tiny corpus on disk


class CountingExtractor(torch.nn.Module):
    """uint8 N×3×H×W -> 48-d features (4×4 average-pooled colours); counts images seen."""

    def __init__(self) -> None:
        super().__init__()
        self.images = 0
        self.calls = 0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        assert x.dtype == torch.uint8
        self.images += x.shape[0]
        self.calls += 1
        pooled = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 4)
        return (pooled.reshape(x.shape[0], -1),)


def counting(sha: str = "w" * 64) -> tuple[metrics.FeatureExtractor, CountingExtractor]:
    module = CountingExtractor()
    return metrics.FeatureExtractor(module=module, weights_sha256=sha, name="counting"), module


class MeanAbsLPIPS(torch.nn.Module):
    """Stand-in for lpips.LPIPS: mean |a - b| over pixels, on inputs mapped to [-1, 1] like LPIPS does."""

    name = "mean-abs"
    weights_sha256 = "m" * 64

    def forward(self, a, b, normalize=False):
        if normalize:
            a, b = a * 2 - 1, b * 2 - 1
        return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)


def write_image(path, rng, tint, size=48):
    base = np.array(tint, dtype=np.float64)
    arr = np.clip(base + rng.normal(0, 40, size=(size, size, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def make_corpus(root, rng, spec) -> Corpus:
    """spec: {(culture, split): (count, tint)} -> a Corpus of random tinted PNGs under root."""
    rows = []
    for (culture, split), (count, tint) in spec.items():
        (root / culture).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rel = f"{culture}/{split}{i:03d}.png"
            write_image(root / rel, rng, tint)
            rows.append(
                {
                    "image_id": f"{culture}/{split}{i:03d}",
                    "path": rel,
                    "culture": culture,
                    "artist": f"{culture}-artist{i % 3}",
                    "title": "",
                    "date": "",
                    "source": "test",
                    "license": "test",
                    "split": split,
                    "sha256": sha256_file(root / rel),
                    "width": 48,
                    "height": 48,
                }
            )
    return Corpus(pd.DataFrame(rows), root)


def make_translations(root, corpus, rng, source, split, tint, run="run-a", size=32) -> Corpus:
    """Fake translations of the source images: new tinted images with provenance columns."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for _, src in corpus.filter(culture=source, split=split).df.iterrows():
        name = src["image_id"].replace("/", "_") + ".png"
        write_image(root / name, rng, tint, size=size)
        rows.append(
            {
                "image_id": f"t/{name}",
                "path": name,
                "culture": "translated",
                "artist": "",
                "title": "",
                "date": "",
                "source": "",
                "license": "",
                "split": split,
                "sha256": sha256_file(root / name),
                "width": size,
                "height": size,
                "source_image_id": src["image_id"],
                "run": run,
                "checkpoint": "final",
                "method": "fake",
            }
        )
    trans = Corpus(pd.DataFrame(rows), root)
    return trans


# ---------------------------------------------------------------------------------------------------------
# FID


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(0)
    for n, d in [(300, 32), (60, 2048)]:  # full rank, and the rank-deficient case of small art test sets
        x = np.abs(rng.normal(size=(n, d))).astype(np.float32)
        assert abs(metrics.fid_from_features(x, x)) < 1e-6


def test_fid_agrees_with_scipy_sqrtm_reference():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 24))
    b = rng.normal(size=(300, 24)) @ np.diag(np.linspace(0.5, 1.5, 24)) + 0.3
    expected = scipy_fid(a, b)
    assert expected > 1.0  # the sets really differ
    assert metrics.fid_from_features(a, b) == pytest.approx(expected, abs=1e-4)
    # also torch-fidelity on cached-style statistics
    stats_b = metrics.fid_statistics(b)
    assert metrics.fid_from_stats(metrics.fid_statistics(a), stats_b) == pytest.approx(expected, abs=1e-4)


def test_isometric_projection_leaves_fid_unchanged_for_rank_deficient_sets():
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    rng = np.random.default_rng(2)
    a = rng.normal(size=(20, 64))
    b = rng.normal(size=(25, 64)) * 1.3 + 0.2
    raw = fid_statistics_to_metric(
        fid_features_to_statistics(torch.from_numpy(a)),
        fid_features_to_statistics(torch.from_numpy(b)),
        verbose=False,
    )["frechet_inception_distance"]
    za, zb = metrics.isometric_projection(a, b)
    assert za.shape[1] <= len(a) + len(b) - 1
    assert metrics.fid_from_features(a, b) == pytest.approx(raw, rel=1e-6)
    # the shortcut must also hold for bootstrap resamples (duplicated rows)
    idx_a = rng.integers(0, 20, size=(3, 20))
    idx_b = rng.integers(0, 25, size=(3, 25))
    reps = metrics.fid_bootstrap(a, b, idx_a, idx_b)
    for i in range(3):
        assert reps[i] == pytest.approx(scipy_fid(a[idx_a[i]], b[idx_b[i]]), rel=1e-4)


def test_fid_bootstrap_ci_is_seeded_and_brackets_the_resamples():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(30, 16)), rng.normal(size=(40, 16)) + 0.5
    one = metrics.fid_with_ci(a, b, n_bootstrap=50, seed=7)
    two = metrics.fid_with_ci(a, b, n_bootstrap=50, seed=7)
    other = metrics.fid_with_ci(a, b, n_bootstrap=50, seed=8)
    assert (one.ci_low, one.ci_high) == (two.ci_low, two.ci_high)
    assert (one.ci_low, one.ci_high) != (other.ci_low, other.ci_high)
    assert one.ci_low < one.ci_high
    deviations = one.replicates - one.replicates.mean()
    assert one.ci_low == pytest.approx(one.value + np.percentile(deviations, 2.5))
    assert one.ci_high == pytest.approx(one.value + np.percentile(deviations, 97.5))
    assert one.ci_low < one.value < one.ci_high
    assert one.replicates.mean() > one.value  # the resampling bias the centring removes
    assert (one.n_generated, one.n_reference) == (30, 40)


def test_fid_rejects_bad_shapes_and_tiny_sets():
    with pytest.raises(ValueError, match="equal widths"):
        metrics.fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))


# ---------------------------------------------------------------------------------------------------------
# KID and IS


def test_kid_subset_size_adapts_to_small_sets():
    assert metrics.kid_subset_size(5000, 3000) == 1000  # torch-fidelity's default where possible
    assert metrics.kid_subset_size(40, 30) == 15
    assert metrics.kid_subset_size(1500, 1800) == 750
    with pytest.raises(ValueError, match="at least 4"):
        metrics.kid_subset_size(3, 100)


def test_kid_equals_hand_written_unbiased_mmd_on_full_sets():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(12, 8)), rng.normal(size=(12, 8)) + 0.4
    kid = metrics.kid_with_ci(a, b, subsets=3, subset_size=12, seed=0)
    assert kid.value == pytest.approx(poly_mmd2_unbiased(a, b), rel=1e-9)
    assert "subset_size=12" in kid.details


def test_kid_ci_contains_zero_for_one_distribution_and_not_for_shifted():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(60, 32)), rng.normal(size=(50, 32))
    same = metrics.kid_with_ci(a, b, seed=1)
    assert same.ci_low <= 0.0 <= same.ci_high
    assert "subset_size=25" in same.details
    shifted = metrics.kid_with_ci(a, b + 1.0, seed=1)
    assert shifted.ci_low > 0.0


def test_inception_score_is_refused_with_a_reason():
    with pytest.raises(metrics.MetricUnavailableError, match="logits"):
        metrics.inception_score(np.zeros((4, 2048)))


# ---------------------------------------------------------------------------------------------------------
# features and the reference-statistics cache


def test_reference_stats_cached_and_invalidated(tmp_path):
    rng = np.random.default_rng(6)
    corpus = make_corpus(tmp_path / "c", rng, {("a", "test"): (6, (200, 50, 50))})
    extractor, module = counting()
    first = metrics.reference_stats(corpus, size=32, extractor=extractor)
    assert module.images == 6 and not first.cached
    expected = metrics.inception_features(
        sorted(corpus.paths(), key=sha256_file), size=32, extractor=extractor
    )
    np.testing.assert_allclose(first.features, expected)
    np.testing.assert_allclose(first.mu, expected.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(first.sigma, np.cov(expected.astype(np.float64), rowvar=False), rtol=1e-10)
    module.images = 0

    second = metrics.reference_stats(corpus, size=32, extractor=extractor)  # hit: no forward pass
    assert module.images == 0 and second.cached and second.key == first.key
    np.testing.assert_array_equal(second.features, first.features)

    metrics.reference_stats(corpus, size=40, extractor=extractor)  # another resolution is another entry
    assert module.images == 6
    module.images = 0

    write_image(corpus.paths()[2], rng, (10, 10, 250))  # a reference image changes
    with pytest.raises(ContentMismatchError, match="corpus check"):  # its manifest row is now stale
        metrics.reference_stats(corpus, size=32, extractor=extractor)
    corpus.df.loc[2, "sha256"] = sha256_file(corpus.paths()[2])  # re-imported: the new content's key
    changed = metrics.reference_stats(corpus, size=32, extractor=extractor)
    assert module.images == 6 and not changed.cached and changed.key != first.key
    module.images = 0

    new_weights, new_module = counting(sha="v" * 64)  # the weights change
    metrics.reference_stats(corpus, size=32, extractor=new_weights)
    assert new_module.images == 6


def test_inception_features_name_a_broken_file(tmp_path):
    good = write_image(tmp_path / "good.png", np.random.default_rng(0), (100, 100, 100))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really")
    extractor, _ = counting()
    with pytest.raises(ImageError, match="broken.png"):
        metrics.inception_features([good, bad], size=32, extractor=extractor)


def test_inception_features_follow_input_order_and_batching(tmp_path):
    rng = np.random.default_rng(7)
    paths = [write_image(tmp_path / f"{i}.png", rng, (30 * i, 80, 80)) for i in range(5)]
    extractor, module = counting()
    batched = metrics.inception_features(paths, size=32, extractor=extractor, batch_size=2)
    assert module.calls == 3
    single = np.stack([metrics.inception_features([p], size=32, extractor=extractor)[0] for p in paths])
    np.testing.assert_allclose(batched, single, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# LPIPS, ArtFID


def test_lpips_distances_pair_sources_with_translations(tmp_path):
    rng = np.random.default_rng(8)
    a = write_image(tmp_path / "a.png", rng, (200, 20, 20), size=64)
    b = write_image(tmp_path / "b.png", rng, (20, 20, 200), size=64)
    d = metrics.lpips_distances([(a, a), (a, b)], net=MeanAbsLPIPS(), device="cpu")
    arr_a = np.asarray(Image.open(a), np.float64) / 255
    arr_b = np.asarray(Image.open(b), np.float64) / 255
    assert d[0] == pytest.approx(0.0, abs=1e-7)
    assert d[1] == pytest.approx(np.abs(2 * arr_a - 2 * arr_b).mean(), rel=1e-5)


def test_artfid_is_the_published_formula():
    assert metrics.artfid(0.5, 10.0) == pytest.approx(16.5)
    assert metrics.artfid(0.0, 0.0) == 1.0


# ---------------------------------------------------------------------------------------------------------
# evaluate() and compare_runs() with fakes


@pytest.fixture
def toy(tmp_path):
    rng = np.random.default_rng(9)
    spec = {
        ("src", "train"): (8, (40, 40, 200)),
        ("src", "test"): (8, (40, 40, 200)),
        ("tgt", "train"): (10, (200, 60, 40)),
        ("tgt", "test"): (8, (200, 60, 40)),
    }
    corpus = make_corpus(tmp_path / "corpus", rng, spec)
    trans = make_translations(tmp_path / "trans", corpus, rng, "src", "test", (180, 60, 60))
    return corpus, trans, rng


def test_evaluate_table_has_metrics_baselines_and_sizes(toy):
    corpus, trans, _ = toy
    extractor, module = counting()
    config = metrics.EvaluationConfig(
        n_bootstrap=30, kid_subsets=20, attribution=False, negative_controls=False, paired_bootstrap=0
    )
    table = metrics.evaluate(
        trans, target="tgt", corpus=corpus, config=config, extractor=extractor, lpips_net=MeanAbsLPIPS()
    )
    assert list(table.columns) == metrics.RESULT_COLUMNS
    got = set(zip(table["method"], table["metric"]))
    for metric in ("fid", "kid", "lpips", "artfid"):
        assert ("fake", metric) in got and ("identity", metric) in got
    assert ("real-target", "fid") in got and ("real-target", "kid") in got
    assert (table["source"] == "src").all() and (table["size"] == 32).all()  # inferred from translations
    fid = table.set_index(["method", "metric"])
    assert fid.loc[("fake", "fid"), "n_generated"] == 8 and fid.loc[("fake", "fid"), "n_reference"] == 8
    assert fid.loc[("real-target", "fid"), "n_generated"] == 8  # 8 of the 10 train images, to match N
    # the translations are closer to the target than the untranslated sources are
    assert fid.loc[("fake", "fid"), "value"] < fid.loc[("identity", "fid"), "value"]
    # ArtFID recomputed from its parts
    lp, f = fid.loc[("fake", "lpips"), "value"], fid.loc[("fake", "fid"), "value"]
    assert fid.loc[("fake", "artfid"), "value"] == pytest.approx((1 + lp) * (1 + f))
    assert fid.loc[("identity", "lpips"), "value"] == 0.0
    for metric in ("fid", "lpips", "artfid"):
        row = fid.loc[("fake", metric)]
        assert row["ci_low"] <= row["ci_high"] and math.isfinite(row["ci_low"])
    assert "subset_size=4" in fid.loc[("fake", "kid"), "details"]
    # every image went through the network once: 8 translations + 8 target test + 8 sources + 8 of the
    # 10 target train images (the floor is subsampled before extraction)
    assert module.images == 32
    module.images = 0
    again = metrics.evaluate(
        trans, target="tgt", corpus=corpus, config=config, extractor=extractor, lpips_net=MeanAbsLPIPS()
    )
    assert module.images == 8  # only the translations; every reference set came from the cache
    pd.testing.assert_frame_equal(table, again)


def test_evaluate_refuses_unknown_sources_and_targets(toy, tmp_path):
    corpus, trans, _ = toy
    extractor, _ = counting()
    config = metrics.EvaluationConfig(n_bootstrap=0, attribution=False)
    with pytest.raises(ValueError, match="target culture 'nope'"):
        metrics.evaluate(trans, target="nope", corpus=corpus, config=config, extractor=extractor)
    broken = trans.df.copy()
    broken.loc[0, "source_image_id"] = "src/missing"
    with pytest.raises(KeyError, match="src/missing"):
        metrics.evaluate(
            Corpus(broken, trans.root), target="tgt", corpus=corpus, config=config, extractor=extractor
        )
    with pytest.raises(FileNotFoundError, match="manifest.csv"):
        metrics.load_translations(tmp_path)


def test_compare_runs_side_by_side(toy, tmp_path):
    corpus, trans, rng = toy
    extractor, _ = counting()
    config = metrics.EvaluationConfig(n_bootstrap=10, kid_subsets=10, attribution=False)
    other = make_translations(tmp_path / "trans-b", corpus, rng, "src", "test", (60, 60, 190), run="run-b")
    kwargs = {
        "target": "tgt",
        "corpus": corpus,
        "config": config,
        "extractor": extractor,
        "lpips_net": MeanAbsLPIPS(),
    }
    a = metrics.evaluate(trans, **kwargs)
    b = metrics.evaluate(other, **kwargs)
    wide = metrics.compare_runs([a, b])
    assert {"run-a", "run-b", "identity", "real-target"} <= set(wide.columns.get_level_values(0))
    fid_a = a.set_index(["method", "metric"]).loc[("fake", "fid"), "value"]
    assert wide.loc["fid", ("run-a", "value")] == pytest.approx(fid_a)
    assert wide.loc["fid", ("run-b", "n_generated")] == 8
    md = metrics.report_markdown(a)
    assert "ArtFID" in md and "fid" in md and "identity" in md


@pytest.fixture
def attribution_toy(tmp_path):
    """Two cultures with enough training images for alpha = 0.1 (9 needed), and target-like translations."""
    rng = np.random.default_rng(10)
    spec = {
        ("src", "train"): (18, (40, 40, 200)),
        ("src", "test"): (10, (40, 40, 200)),
        ("tgt", "train"): (18, (200, 60, 40)),
        ("tgt", "test"): (10, (200, 60, 40)),
    }
    corpus = make_corpus(tmp_path / "corpus", rng, spec)
    trans = make_translations(tmp_path / "trans", corpus, rng, "src", "test", (196, 62, 44), size=48)
    return corpus, trans, rng


def test_culture_attribution_with_a_random_vgg(attribution_toy):
    from culturalstyle.features import STYLE_LAYERS, VGGFeatures, random_vgg

    corpus, trans, _ = attribution_toy
    extractor, _ = counting()
    vgg = VGGFeatures(STYLE_LAYERS, device="cpu", weights_module=random_vgg())
    config = metrics.EvaluationConfig(n_bootstrap=30, kid_subsets=10, size=32)
    table = metrics.evaluate(
        trans,
        target="tgt",
        corpus=corpus,
        config=config,
        extractor=extractor,
        lpips_net=MeanAbsLPIPS(),
        attribution_model=vgg,
    )
    t = table.set_index(["method", "metric"])
    # red translations of blue sources, made like the red target images: their set is exactly {tgt}
    assert t.loc[("fake", "culture_share_target"), "value"] == 1.0
    assert t.loc[("fake", "culture_share_unknown"), "value"] == 0.0
    assert t.loc[("identity", "culture_share_target"), "value"] == 0.0
    assert t.loc[("real-target", "culture_share_target"), "value"] >= 0.7  # coverage 0.9 expected, n = 10
    assert t.loc[("identity", "gram_shift"), "value"] < 0.3 < t.loc[("fake", "gram_shift"), "value"]
    assert abs(t.loc[("real-target", "gram_shift"), "value"] - 1.0) < 0.3
    lo, hi = metrics.wilson_interval(10, 10)
    row = t.loc[("fake", "culture_share_target")]
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert row["n_reference"] == 36  # calibration images: train images of both cultures
    assert "{tgt}=10" in row["details"] and "alpha=0.1" in row["details"]
    # evaluate's negative controls go through the same conformal sets: never on target
    for control in ("noise", "pixel-shuffled"):
        assert t.loc[(control, "culture_share_target"), "value"] <= 0.1
        assert t.loc[(control, "culture_share_target"), "role"] == "negative-control"
    assert t.loc[("noise", "culture_share_unknown"), "value"] >= 0.9
    ids = corpus.df["image_id"]
    too_few = ~ids.str.startswith("src/train") | ids.isin([f"src/train{i:03d}" for i in range(8)])
    small = Corpus(corpus.df[too_few], corpus.root)  # 8 source training images, 9 needed at alpha 0.1
    with pytest.raises(ValueError, match="needs at least 9 'train' images of 'src'"):
        metrics.evaluate(
            trans,
            target="tgt",
            corpus=small,
            config=metrics.EvaluationConfig(n_bootstrap=0, kid_subsets=5, baselines=False),
            extractor=extractor,
            lpips_net=MeanAbsLPIPS(),
            attribution_model=vgg,
        )


def test_culture_attribution_with_a_far_translation_is_unknown(toy):
    """Translations unlike either culture (other texture) get the empty set, not the nearest culture."""
    from culturalstyle.features import STYLE_LAYERS, VGGFeatures, random_vgg

    corpus, trans, _ = toy
    extractor, _ = counting()
    vgg = VGGFeatures(STYLE_LAYERS, device="cpu", weights_module=random_vgg())
    config = metrics.EvaluationConfig(n_bootstrap=0, kid_subsets=10, attribution_alpha=0.2)
    t = metrics.evaluate(
        trans,
        target="tgt",
        corpus=corpus,
        config=config,
        extractor=extractor,
        lpips_net=MeanAbsLPIPS(),
        attribution_model=vgg,
    ).set_index(["method", "metric"])
    assert t.loc[("fake", "culture_share_unknown"), "value"] == 1.0
    assert t.loc[("fake", "culture_share_target"), "value"] == 0.0
    assert t.loc[("identity", "culture_share_target"), "value"] == 0.0


def test_attribution_calls_noise_and_shuffled_pixels_unknown_not_target(attribution_toy, tmp_path):
    """Negative controls: uniform noise and flat grey images must not count as the target culture.

    (Pixel-shuffled target images are no control here: the toy images are i.i.d. noise around a tint, so
    shuffling leaves their distribution unchanged; the integration test shuffles real art.)"""
    from culturalstyle.attribution import attribution_rows
    from culturalstyle.features import STYLE_LAYERS, VGGFeatures, random_vgg

    corpus, trans, rng = attribution_toy
    vgg = VGGFeatures(STYLE_LAYERS, device="cpu", weights_module=random_vgg())
    noise, grey = tmp_path / "noise", tmp_path / "grey"
    noise.mkdir()
    grey.mkdir()
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(noise / f"{i}.png")
        Image.fromarray(np.full((32, 32, 3), 100 + 5 * i, dtype=np.uint8)).save(grey / f"{i}.png")
    config = metrics.EvaluationConfig(n_bootstrap=0)
    controls = {
        "noise": sorted(noise.iterdir()),
        "grey": sorted(grey.iterdir()),
    }
    rows = attribution_rows(
        trans,
        None,
        corpus,
        source="src",
        target="tgt",
        split="test",
        method="fake",
        run="run-a",
        config=config,
        size=32,
        model=vgg,
        controls=controls,
    )
    t = pd.DataFrame(rows).set_index(["method", "metric"])
    for control in controls:
        assert t.loc[(control, "culture_share_target"), "value"] <= 0.1, control
        assert t.loc[(control, "culture_share_unknown"), "value"] >= 0.9, control
        assert t.loc[(control, "culture_share_target"), "role"] == "negative-control"
    # positive control in the same call: the red translations are on target
    assert t.loc[("fake", "culture_share_target"), "value"] == 1.0


def test_centroid_shift_and_wilson_interval():
    src, tgt = np.zeros(3), np.array([2.0, 0.0, 0.0])
    pts = np.array([[0.0, 5.0, 0.0], [2.0, -1.0, 3.0], [1.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    np.testing.assert_allclose(metrics.centroid_shift(pts, src, tgt), [0.0, 1.0, 0.5, 1.5])
    lo, hi = metrics.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)  # textbook value for 0/10
    with pytest.raises(ValueError, match="coincide"):
        metrics.centroid_shift(pts, src, src)


def test_cli_output_names_never_overwrite(tmp_path):
    from culturalstyle.cli.evaluate import free_stem

    suffixes = (".csv", ".md", ".record.json")
    assert free_stem(tmp_path, "evaluation", suffixes) == "evaluation"
    (tmp_path / "evaluation.md").write_text("earlier")
    assert free_stem(tmp_path, "evaluation", suffixes) == "evaluation-2"
    (tmp_path / "evaluation-2.record.json").write_text("{}")
    assert free_stem(tmp_path, "evaluation", suffixes) == "evaluation-3"


def test_compare_runs_reads_csv_files(toy, tmp_path):
    corpus, trans, _ = toy
    extractor, _ = counting()
    config = metrics.EvaluationConfig(n_bootstrap=0, kid_subsets=5, attribution=False)
    table = metrics.evaluate(
        trans, target="tgt", corpus=corpus, config=config, extractor=extractor, lpips_net=MeanAbsLPIPS()
    )
    path = tmp_path / "eval.csv"
    table.to_csv(path, index=False)
    wide = metrics.compare_runs([path])
    assert wide.loc["kid", ("run-a", "value")] == pytest.approx(
        table.set_index(["method", "metric"]).loc[("fake", "kid"), "value"]
    )
    assert math.isnan(wide.loc["fid", ("run-a", "ci_low")])  # no bootstrap -> no CI, not a made-up one
    lines = metrics.report_markdown(table).splitlines()
    fid_line = next(line for line in lines if line.startswith("| fid |"))
    assert "[" not in fid_line and "(n=8/8)" in fid_line


def test_compare_runs_labels_directions_in_one_concatenated_table(toy, tmp_path):
    corpus, trans, rng = toy
    extractor, _ = counting()
    config = metrics.EvaluationConfig(n_bootstrap=0, kid_subsets=5, attribution=False)
    back = make_translations(tmp_path / "back", corpus, rng, "tgt", "test", (40, 40, 190), run="run-a")
    kwargs = {"corpus": corpus, "config": config, "extractor": extractor, "lpips_net": MeanAbsLPIPS()}
    both = pd.concat(
        [metrics.evaluate(trans, target="tgt", **kwargs), metrics.evaluate(back, target="src", **kwargs)],
        ignore_index=True,
    )
    wide = metrics.compare_runs([both])
    labels = set(wide.columns.get_level_values(0))
    assert {"run-a (src→tgt)", "run-a (tgt→src)", "identity (src→tgt)", "identity (tgt→src)"} <= labels
    expected = both[(both["source"] == "tgt") & (both["method"] == "fake") & (both["metric"] == "fid")]
    assert wide.loc["fid", ("run-a (tgt→src)", "value")] == pytest.approx(expected["value"].iloc[0])
    twice = metrics.compare_runs([both, both.iloc[:4]])  # the same run again: numbered, not merged
    assert "run-a (src→tgt) #2" in set(twice.columns.get_level_values(0))


def test_evaluate_negative_controls_rate_badly_and_paired_differences(toy):
    """Noise and pixel-shuffled sources get rows of their own, and every metric rates them worse than the
    translation; the paired translation-minus-identity differences agree with the separate FIDs."""
    corpus, trans, _ = toy
    extractor, module = counting()
    config = metrics.EvaluationConfig(n_bootstrap=30, kid_subsets=20, attribution=False, paired_bootstrap=60)
    table = metrics.evaluate(
        trans, target="tgt", corpus=corpus, config=config, extractor=extractor, lpips_net=MeanAbsLPIPS()
    )
    t = table.set_index(["method", "metric"])
    assert set(table.loc[table["role"] == "negative-control", "method"]) == {"noise", "pixel-shuffled"}
    for control in ("noise", "pixel-shuffled"):
        assert t.loc[(control, "fid"), "value"] > t.loc[("fake", "fid"), "value"]
        assert t.loc[(control, "kid"), "value"] > t.loc[("fake", "kid"), "value"]
        assert t.loc[(control, "lpips"), "value"] > 0.05
        assert t.loc[(control, "fid"), "n_generated"] == 8
        # paired rows exist for the controls too (whether a control beats doing nothing is a property of the
        # feature network: with this colour-pooling fake, grey noise is nearer the red target than blue sources)
        assert (
            t.loc[(control, "fid_minus_identity"), "value"] > t.loc[("fake", "fid_minus_identity"), "value"]
        )
    diff = t.loc[("fake", "fid_minus_identity")]
    separate = t.loc[("fake", "fid"), "value"] - t.loc[("identity", "fid"), "value"]
    assert diff["value"] == pytest.approx(separate, rel=1e-6)
    assert diff["ci_high"] < 0  # red translations of blue sources: clearly closer to the red target
    assert t.loc[("fake", "kid_minus_identity"), "ci_high"] < 0
    # 8 translations + 8 target test + 8 sources + 8 floor images + 2 x 8 controls
    assert module.images == 48
