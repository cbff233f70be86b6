"""The example registered metric `palette_distance`: CIELAB palettes against independent computations, its
controls (noise rates far worse than real target images; pixel-shuffled images are NOT caught), and that
enabling it adds its rows and report lines without changing any other row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.spatial.distance
from PIL import Image
from test_metrics import MeanAbsLPIPS, counting, toy  # noqa: F401 - toy is a fixture

from culturalstyle import metrics
from culturalstyle.metrics import palette_distance as palette

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_js_divergence_matches_scipy_and_is_bounded():
    rng = np.random.default_rng(0)
    p, q = rng.random(512), rng.random(512)
    expected = scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2  # scipy returns the square root
    assert palette.js_divergence(p, q) == pytest.approx(expected, rel=1e-10)
    assert palette.js_divergence(q, p) == pytest.approx(expected, rel=1e-10)
    assert palette.js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    assert palette.js_divergence([1, 0, 0], [0, 0, 2]) == pytest.approx(1.0)  # disjoint palettes


def test_lab_histogram_of_a_flat_colour_is_one_bin(tmp_path):
    Image.fromarray(np.full((40, 40, 3), (255, 0, 0), np.uint8)).save(tmp_path / "red.png")
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(tmp_path / "white.png")
    hist = palette.lab_histograms([tmp_path / "red.png", tmp_path / "white.png"], 32)
    assert hist.shape == (2, 8 * 9 * 9) and np.allclose(hist.sum(1), 1.0)

    def bin_of(lab):  # sRGB red is L* 53.24, a* 80.09, b* 67.20; white is L* 100, a* = b* = 0 (D65)
        l_cell = min(7, int(lab[0] / 100 * 8))
        a_cell, b_cell = (min(8, int((v + 108) / 216 * 9)) for v in lab[1:])
        return (l_cell * 9 + a_cell) * 9 + b_cell

    assert hist[0, bin_of((53.24, 80.09, 67.20))] == 1.0
    assert hist[1, bin_of((100.0, 0.0, 0.0))] == 1.0


def test_pixel_shuffling_keeps_the_palette_so_this_metric_cannot_catch_it(tmp_path):
    """The documented blind spot: a pixel-shuffled image has exactly its source's palette (distance 0),
    although its structure is gone; FID/KID and LPIPS are what rate it badly."""
    from culturalstyle.metrics.controls import PIXEL_SHUFFLED, control_image

    y, x = np.mgrid[0:32, 0:32]
    art = np.stack([x * 8, y * 8, (x + y) * 4], axis=-1).clip(0, 255).astype(np.uint8)  # smooth structure
    Image.fromarray(art).save(tmp_path / "art.png")
    shuffled = control_image(PIXEL_SHUFFLED, (32, 32), seed=0, source=tmp_path / "art.png")
    assert not np.array_equal(shuffled, art)
    Image.fromarray(shuffled).save(tmp_path / "shuffled.png")
    hist = palette.lab_histograms([tmp_path / "art.png", tmp_path / "shuffled.png"], 32)
    assert palette.js_divergence(hist[0], hist[1]) == pytest.approx(0.0, abs=1e-12)
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    noise_hist = palette.lab_histograms([tmp_path / "noise.png"], 32)[0]
    assert palette.js_divergence(hist[0], noise_hist) > 0.3  # while noise does change the palette


def test_palette_distance_interval_is_seeded_and_shares_resamples():
    rng = np.random.default_rng(1)
    a, b = rng.dirichlet(np.ones(16), size=12), rng.dirichlet(np.ones(16) * 3, size=10)
    one = palette.palette_distance(a, b, n_bootstrap=50, seed=3)
    two = palette.palette_distance(a, b, n_bootstrap=50, seed=3)
    assert (one.value, one.ci_low, one.ci_high) == (two.value, two.ci_low, two.ci_high)
    assert one.ci_low < one.ci_high and (one.n_generated, one.n_reference) == (12, 10)
    assert one.value == pytest.approx(palette.js_divergence(a.mean(0), b.mean(0)))
    none = palette.palette_distance(a, b, n_bootstrap=0)
    assert np.isnan(none.ci_low) and none.value == one.value
    with pytest.raises(ValueError, match="at least one image"):
        palette.palette_distance(a[:0], b)


def test_palette_distance_is_off_by_default_and_adds_only_its_rows(toy):  # noqa: F811
    corpus, trans, _ = toy
    base = dict(n_bootstrap=20, kid_subsets=10, attribution=False, paired_bootstrap=20)
    kwargs = dict(target="tgt", corpus=corpus, lpips_net=MeanAbsLPIPS())
    plain = metrics.evaluate(
        trans, config=metrics.EvaluationConfig(**base), extractor=counting()[0], **kwargs
    )
    assert (
        "palette_distance" not in set(plain["metric"]) and "palette_distance" not in metrics.default_metrics()
    )
    config = metrics.EvaluationConfig(**base, extra_metrics=("palette_distance",))
    table = metrics.evaluate(trans, config=config, extractor=counting()[0], **kwargs)
    rows = table[table["metric"] == "palette_distance"]
    assert list(rows["method"]) == ["fake", "identity", "real-target", "noise", "pixel-shuffled"]
    others = table[table["metric"] != "palette_distance"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, plain)  # no other row moved or changed
    again = metrics.evaluate(trans, config=config, extractor=counting()[0], **kwargs)
    pd.testing.assert_frame_equal(table, again)  # seeded

    p = rows.set_index("method")
    # positive control: real target images of the other split share the target's palette ...
    assert p.loc["real-target", "value"] < 0.1
    # ... negative control: uniform noise covers the whole gamut, far from any culture's palette
    assert p.loc["noise", "value"] > 5 * p.loc["real-target", "value"] and p.loc["noise", "value"] > 0.3
    # red translations of blue sources moved towards the red target
    assert p.loc["fake", "value"] < p.loc["identity", "value"]
    # what it does NOT catch: shuffling pixels keeps the source's palette, so it scores like the identity
    # (here both saturate at 1 bit: blue sources and a red target share no colour bin)
    assert p.loc["pixel-shuffled", "value"] == pytest.approx(p.loc["identity", "value"], rel=0.05)
    assert p.loc["real-target", "n_generated"] == 8 and "random 8 of 10" in p.loc["real-target", "details"]
    assert (p["n_reference"] == 8).all() and (p["ci_low"] <= p["ci_high"]).all()

    # alone, it runs no network at all: inputs nobody needs are never computed
    extractor, module = counting()
    alone = metrics.EvaluationConfig(**base, metrics=("palette_distance",))
    only = metrics.evaluate(trans, config=alone, extractor=extractor, **kwargs)
    assert set(only["metric"]) == {"palette_distance"} and module.images == 0
    pd.testing.assert_frame_equal(only, rows.reset_index(drop=True))

    md = metrics.report_markdown(table)
    assert "| palette_distance |" in md
    direction = next(line for line in md.splitlines() if line.startswith("Lower is better for"))
    assert "palette_distance" in direction.split(";")[0]
    assert "- `palette_distance`: Jensen-Shannon divergence" in md
