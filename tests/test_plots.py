"""Figures draw the numbers they are given and always show sample sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from culturalstyle import plots, stats


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(12, 3)), rng.normal(size=(8, 3)) + 3, rng.normal(size=(5, 3)) - 3])
    y = np.array(["impressionism"] * 12 + ["renaissance"] * 8 + ["ukiyo_e"] * 5)
    artists = np.array([f"a{i % 4}-{c}" for i, c in enumerate(y)])
    return x, y, artists


def all_text(fig: Figure) -> str:
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return "\n".join(texts)


def test_style_scatter_legend_counts_regions_and_thumbnails(data):
    x, y, _ = data
    thumbnails = {0: np.zeros((8, 8, 3)), 13: np.ones((8, 8, 3))}
    fig = plots.style_scatter(x[:, :2], y, thumbnails=thumbnails)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["impressionism (n=12)", "renaissance (n=8)", "ukiyo_e (n=5)"]
    assert "n=25" in ax.get_title()
    assert len(ax.patches) == 3  # one ellipse per culture
    assert sum(type(a).__name__ == "AnnotationBbox" for a in ax.artists) == 2
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(x[:, 0]))
    hull = plots.style_scatter(x[:, :2], y, region="hull").axes[0]
    assert len(hull.patches) == 3
    with pytest.raises(ValueError, match="N x 2"):
        plots.style_scatter(x, y)
    with pytest.raises(ValueError, match="unknown region"):
        plots.style_scatter(x[:, :2], y, region="blob")


def test_distance_heatmap_and_dendrogram(data):
    x, y, _ = data
    table = stats.between_culture_distances(x, y, n_permutations=49, n_bootstrap=20, seed=0)
    fig = plots.distance_heatmap(table)
    text = all_text(fig)
    assert "49 permutations" in text and "impressionism\n(n=12)" in text and "ukiyo_e\n(n=5)" in text
    row = table.iloc[0]
    assert f"{row.distance:.3g}\np={row.p_value:.3g}" in text
    image = fig.axes[0].images[0].get_array()
    assert image[0, 1] == pytest.approx(row.distance)
    dendro = plots.culture_dendrogram(table)
    labels = [t.get_text() for t in dendro.axes[0].get_yticklabels()]
    assert sorted(labels) == ["impressionism (n=12)", "renaissance (n=8)", "ukiyo_e (n=5)"]
    assert "n=25" in dendro.axes[0].get_title()


def test_layer_separability_and_confusion(data, tmp_path):
    x, y, artists = data
    result = stats.classify_by_layer(
        {"relu1_1": x[:, :2], "relu2_1": x[:, 2:]}, y, artists, n_splits=3, n_bootstrap=50
    )
    fig = plots.layer_separability(result.table)
    ax = fig.axes[0]
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == pytest.approx(sorted(result.table["accuracy"]))
    assert "n=25 images" in ax.get_title() and "artists" in ax.get_title()
    matrix = result.confusion[("concat", "logreg")]
    cm = plots.confusion_matrix_plot(matrix)
    text = all_text(cm)
    assert "impressionism (n=12)" in text and "n=25" in text
    shares = cm.axes[0].images[0].get_array()
    np.testing.assert_allclose(shares.sum(1), 1.0)
    paths = plots.save_figure(cm, tmp_path / "confusion")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)
    assert isinstance(plots.confusion_matrix_plot(pd.DataFrame([[2, 0], [1, 3]]), normalize=False), Figure)


# ------------------------------------------------------------------------------ palette and translation figures


def test_palette_gives_each_name_one_colour_whatever_the_subset():
    from culturalstyle import palette

    every = palette.culture_colours(["ukiyo_e", "renaissance", "impressionism", "chinese_ink"])
    pair = palette.culture_colours(["renaissance", "ukiyo_e"])
    assert pair == {k: every[k] for k in pair}  # not assigned by position in a figure
    assert len(set(every.values())) == 4
    assert palette.culture_colour("newculture") == palette.culture_colour("newculture")
    assert palette.culture_colour("newculture") in palette.SPARE_CULTURE_COLOURS
    assert (
        palette.method_key("cyclegan-ukiyo_e2renaissance") == "cyclegan" == palette.method_key("cyclegan:r1")
    )
    styles = palette.METHOD_STYLES
    assert len({s.colour for s in styles.values()}) == len(styles)
    assert len({s.marker for s in styles.values()}) == len(styles)
    assert len({s.bokeh_marker for s in styles.values()}) == len(styles)
    assert not {s.colour for s in styles.values()} & set(palette.CULTURE_COLOURS.values())
    for role in ("shipped", "noise", "pixel-shuffled"):  # the lead's later methods and controls
        assert role in styles
    style = palette.register_method("cut", "#123456", "h", "hex")
    try:
        assert palette.method_style("cut-a2b") == style
    finally:
        del palette.METHOD_STYLES["cut"]
    with pytest.raises(ValueError, match="kind"):
        palette.register_method("x", "#000000", kind="other")


def test_style_scatter_colours_cultures_from_the_palette(data):
    from matplotlib.colors import to_hex

    from culturalstyle import palette

    x, y, _ = data
    ax = plots.style_scatter(x[:, :2], y).axes[0]
    for collection, name in zip(ax.collections, ["impressionism", "renaissance", "ukiyo_e"]):
        assert to_hex(collection.get_facecolor()[0], keep_alpha=False) == palette.culture_colour(name)


def _evaluation(duplicate_baselines: bool = True) -> pd.DataFrame:
    rows = []
    for source, target in (("a", "b"), ("b", "a")):
        for method, role, fid, lpips in (
            ("cyclegan", "translation", 400.0, 0.6),
            ("adain", "translation", 300.0, 0.3),
            ("identity", "baseline", 320.0, 0.0),
            ("real-target", "baseline", 260.0, None),
        ):
            for metric, value in (("fid", fid), ("lpips", lpips)):
                if value is None:
                    continue
                row = dict(
                    metric=metric, method=method, role=role, source=source, target=target, split="test"
                )
                row.update(size=32, value=value, ci_low=value * 0.9, ci_high=value * 1.1, n_generated=18)
                row["n_reference"] = 22
                rows.append(row)
    table = pd.DataFrame(rows)
    if duplicate_baselines:  # as older studies wrote them: the baselines once per evaluated method
        table = pd.concat([table, table[table["role"] == "baseline"]], ignore_index=True)
    return table


def test_metric_intervals_draw_each_row_once_with_method_colours_and_direction():
    from matplotlib.colors import to_hex

    from culturalstyle import palette, translation_plots

    table = _evaluation()
    fig = translation_plots.metric_intervals(table, ("fid", "lpips"))
    fid_ax, lpips_ax = fig.axes[:2]
    labels = [t.get_text() for t in fid_ax.get_yticklabels()]
    assert len(labels) == 8 == len(set(labels))  # 2 directions x (2 methods + 2 baselines): baselines once
    assert "a→b  cyclegan  n=18/22" in labels and "b→a  identity (baseline)  n=18/22" in labels
    assert "lower is better" in fid_ax.get_xlabel() and "lower" in lpips_ax.get_xlabel()
    # one dot per (direction, method) per panel, at its value, in its method's colour
    dots = [container.lines[0] for container in fid_ax.containers]  # errorbar: (data line, caps, bars)
    assert sorted(float(d.get_xdata()[0]) for d in dots) == sorted([400, 300, 320, 260] * 2)
    colours = {to_hex(d.get_color()) for d in dots}
    assert colours == {palette.method_colour(m) for m in ("cyclegan", "adain", "identity", "real-target")}
    # the identity's LPIPS of 0 is drawn and labelled, and real-target has no LPIPS row
    texts = [t.get_text() for t in lpips_ax.texts]
    assert texts.count("0") == 2 and texts.count(" n/a") == 2
    with pytest.raises(ValueError, match=r"no rows for metric\(s\) \['kid'\]"):
        translation_plots.metric_intervals(table, ("fid", "kid"))


def test_metric_intervals_keep_a_method_at_two_resolutions_apart():
    """A shipped translator at 128 px beside a smoke run at 32 px: each resolution has its own identity
    baseline, drawn as its own row and labelled with its size (they used to collide into one key)."""
    from culturalstyle import translation_plots

    small = _evaluation(duplicate_baselines=False)
    large = small[small["method"].isin(["identity", "adain"])].assign(size=128)
    large.loc[large["method"] == "adain", "method"] = "shipped-fastcut"
    large.loc[large["method"] == "identity", "value"] += 5
    fig = translation_plots.metric_intervals(pd.concat([small, large], ignore_index=True), ("fid",))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert (
        "a→b  identity (baseline) @32px  n=18/22" in labels
        and "a→b  identity (baseline) @128px  n=18/22" in labels
    )
    assert "a→b  shipped-fastcut @128px  n=18/22" in labels and len(labels) == len(set(labels)) == 12
    dots = sorted(float(c.lines[0].get_xdata()[0]) for c in fig.axes[0].containers)
    assert dots.count(320.0) == 2 and dots.count(325.0) == 2  # both identity rows, at their own values


def test_loss_curves_state_the_smoothing_window_and_label_the_axes():
    from culturalstyle import translation_plots

    steps = np.arange(1, 501)
    losses = pd.DataFrame({"step": steps, "G_gan_AB": 1 / steps, "cycle_A": 2 / steps, "G_total": 3 / steps})
    fig = translation_plots.loss_curves(losses)
    assert translation_plots.smoothing_window(500) == 10 and translation_plots.smoothing_window(24) == 5
    assert "rolling mean over 10 logged steps" in fig.texts[0].get_text()
    assert all(ax.get_ylabel() and ax.get_xlabel() == "training step" for ax in fig.axes)
    smoothed = fig.axes[0].get_lines()[1].get_ydata()
    assert np.allclose(smoothed, losses["G_gan_AB"].rolling(10, min_periods=1).mean())
    assert "over 3 logged" in translation_plots.loss_curves(losses, smooth=3).texts[0].get_text()


def test_training_progress_shows_grids_from_first_to_last_step(tmp_path):
    from PIL import Image

    from culturalstyle import translation_plots

    paths = []
    for step in (12, 24, 36, 48, 60, 72, 84, 96):
        paths.append(tmp_path / f"step_{step:08d}_A2B.png")
        Image.new("RGB", (30, 20), (step, 0, 0)).save(paths[-1])
    picked = translation_plots.sample_grid_steps(list(reversed(paths)), max_grids=4)
    assert picked[0] == paths[0] and picked[-1] == paths[-1] and len(picked) == 4
    assert translation_plots.sample_grid_steps(paths[:3]) == paths[:3]
    fig = translation_plots.training_progress(picked, source="a", target="b", sample_every=12)
    assert [ax.get_title() for ax in fig.axes] == [f"step {int(p.stem.split('_')[1])}" for p in picked]
    assert fig.axes[-1].images[0].get_array()[0, 0, 0] == 96  # the last grid's pixels
    assert "sampled every 12 steps" in fig.texts[0].get_text()
    with pytest.raises(ValueError, match="no sample grids"):
        translation_plots.training_progress([], source="a", target="b")


def test_translations_in_space_use_method_markers_and_colours(data):
    from matplotlib.colors import to_hex

    from culturalstyle import palette, translation_plots

    x, y, _ = data
    moved = x[:4, :2] + 1
    fig = translation_plots.translations_in_space(
        x[:, :2], y, moved, ["cyclegan", "cyclegan", "adain", "adain"], x[:4, :2]
    )
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "cyclegan translations (n=2)" in labels and "adain translations (n=2)" in labels
    drawn = {to_hex(c.get_facecolor()[0], keep_alpha=False) for c in ax.collections[-2:]}
    assert drawn == {palette.method_colour("cyclegan"), palette.method_colour("adain")}
    assert len([a for a in ax.texts if type(a).__name__ == "Annotation"]) == 4  # one arrow per translation
    with pytest.raises(ValueError, match="one row per translation"):
        translation_plots.translations_in_space(x[:, :2], y, moved, ["cyclegan"], x[:4, :2])


def test_mean_gram_heatmap_prints_values_with_cis_and_defines_the_distance(data):
    x, y, _ = data
    grams = {
        "relu1_1": np.abs(x[:, :, None] * x[:, None, :]),
        "relu2_1": np.abs(x[:, :, None] + x[:, None, :]),
    }
    table = stats.mean_gram_distances(grams, y, n_permutations=19, n_bootstrap=20, seed=0)
    fig = plots.mean_gram_heatmap(table)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == len(table)
    row = table.iloc[0]
    scale = row["relative_distance"] / row["distance"]
    expected = f"{row['relative_distance']:.2f}\n[{row['ci_low'] * scale:.2f}, {row['ci_high'] * scale:.2f}]"
    assert expected in texts
    assert "‖mean Gram A − mean Gram B‖_F / ‖overall mean Gram‖_F" in fig.axes[1].get_ylabel()
    assert "impressionism 12" in ax.get_title() and ax.get_xlabel() == "VGG19 layer"
    with pytest.raises(ValueError, match="lacks column"):
        plots.mean_gram_heatmap(table.drop(columns=["layer"]))
