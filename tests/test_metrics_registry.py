"""The metric registry (culturalstyle.metrics.registry): a metric registered in one place appears in
evaluate's table and in the report with no edit elsewhere; names, directions and dependencies are checked;
the older config flags still switch their metrics off."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_metrics import MeanAbsLPIPS, counting, toy  # noqa: F401 - toy is a fixture

from culturalstyle import metrics
from culturalstyle.metrics.registry import Metric, Output, register_metric, unregister_metric

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _mean_red(inputs):
    """A test metric: mean red channel of the role's images at the evaluation size (no network)."""
    values = np.array(
        [metrics.load_uint8(p, inputs.evaluation.size)[0].float().mean() / 255 for p in inputs.images.paths()]
    )
    value = metrics.MetricValue(float(values.mean()), n_generated=len(values), details="mean red")
    return [inputs.row("mean_red", value, network="none", weights_sha="")]


@pytest.fixture
def mean_red():
    metric = register_metric(
        Metric(
            name="mean_red",
            direction="higher",
            description="mean red channel (a test metric)",
            needs=("images",),
            compute=_mean_red,
            default=False,
        )
    )
    yield metric
    unregister_metric("mean_red")


def test_a_registered_metric_appears_in_table_and_report(toy, mean_red):  # noqa: F811
    corpus, trans, _ = toy
    config = metrics.EvaluationConfig(n_bootstrap=0, kid_subsets=5, attribution=False, paired_bootstrap=0)
    kwargs = dict(target="tgt", corpus=corpus, extractor=counting()[0], lpips_net=MeanAbsLPIPS())
    assert "mean_red" not in set(metrics.evaluate(trans, config=config, **kwargs)["metric"])  # off by default
    config.extra_metrics = ("mean_red",)
    table = metrics.evaluate(trans, config=config, **kwargs)
    rows = table[table["metric"] == "mean_red"].set_index("method")
    assert list(rows.index) == ["fake", "identity", "real-target", "noise", "pixel-shuffled"]
    assert rows.loc["fake", "value"] > rows.loc["identity", "value"]  # red translations of blue sources
    # independently: the mean red of the translation files themselves
    red = np.mean([np.asarray(Image.open(p))[..., 0].mean() / 255 for p in trans.paths()])
    assert rows.loc["fake", "value"] == pytest.approx(red, rel=1e-6)
    assert (rows["target"] == "tgt").all() and (rows["size"] == 32).all()
    md = metrics.report_markdown(table)
    assert "| mean_red |" in md and "- `mean_red`: mean red channel (a test metric)" in md
    assert "higher is better for mean_red" in md
    # only it: an explicit list computes just the named metrics
    config.metrics, config.extra_metrics = ("mean_red",), ()
    only = metrics.evaluate(trans, config=config, **kwargs)
    assert set(only["metric"]) == {"mean_red"}
    pd.testing.assert_frame_equal(
        only.reset_index(drop=True), table[table["metric"] == "mean_red"].reset_index(drop=True)
    )


def test_registry_refuses_bad_metrics_and_names(toy):  # noqa: F811
    corpus, trans, _ = toy
    with pytest.raises(ValueError, match="already registered"):
        register_metric(metrics.METRICS["fid"])
    with pytest.raises(ValueError, match="direction must be one of"):
        Metric("x", "up", "", (), lambda inputs: [])
    with pytest.raises(ValueError, match="needs \\['gpu'\\]"):
        register_metric(Metric("x", "lower", "", ("gpu",), lambda inputs: []))
    assert "x" not in metrics.METRICS
    kwargs = dict(target="tgt", corpus=corpus, extractor=counting()[0], lpips_net=MeanAbsLPIPS())
    with pytest.raises(ValueError, match="unknown metric\\(s\\) nope; registered: fid, kid"):
        metrics.evaluate(trans, config=metrics.EvaluationConfig(extra_metrics=("nope",)), **kwargs)
    with pytest.raises(ValueError, match="'artfid' needs fid, lpips"):
        metrics.evaluate(trans, config=metrics.EvaluationConfig(metrics=("artfid",)), **kwargs)


def test_old_flags_switch_their_metrics_off_and_sections_keep_the_table_order():
    on = metrics.EvaluationConfig()
    names = [m.name for m in metrics.registry.enabled_metrics(None, (), on)]
    assert names == [
        "fid",
        "kid",
        "lpips",
        "artfid",
        "fid_minus_identity",
        "kid_minus_identity",
        "attribution",
    ]
    off = metrics.EvaluationConfig(attribution=False, paired_bootstrap=0)
    assert [m.name for m in metrics.registry.enabled_metrics(None, (), off)] == names[:4]
    sections = metrics.registry.sections(metrics.registry.enabled_metrics(None, ("palette_distance",), on))
    assert [[m.name for m in s] for s in sections] == [names[:4], names[4:6], names[6:], ["palette_distance"]]
    # every output the report explains has a direction and a description
    for metric in metrics.METRICS.values():
        for output in metric.written:
            assert isinstance(output, Output) and output.direction in ("lower", "higher", "none")
            assert output.description and metrics.registry.output_of(output.name) == output


def test_evaluation_config_with_metric_names_round_trips_through_yaml(tmp_path):
    from culturalstyle.configs import load_yaml, save_yaml

    config = metrics.EvaluationConfig(metrics=("fid", "kid"), extra_metrics=("palette_distance",))
    assert load_yaml(metrics.EvaluationConfig, save_yaml(config, tmp_path / "c.yaml")) == config
    assert load_yaml(
        metrics.EvaluationConfig, save_yaml(metrics.EvaluationConfig(), tmp_path / "d.yaml")
    ) == (metrics.EvaluationConfig())
