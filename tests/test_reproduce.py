"""The papermill batch runner, on tiny throwaway notebooks written by the tests (no study modules needed)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from culturalstyle import reproduce as rp
from culturalstyle.cli import main


def _notebook(path: Path, parameters: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


WRITE_TABLE = """
from pathlib import Path
import pandas as pd
out = Path(results_dir) / NAME
(out / "tables").mkdir(parents=True, exist_ok=True)
pd.DataFrame({"i": range(n), "label": [label] * n}).to_csv(out / "tables" / "rows.csv", index=False)
"""

WRITE_FIGURE = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot(range(n))
(out / "figures").mkdir(exist_ok=True)
fig.savefig(out / "figures" / "line.png"); fig.savefig(out / "figures" / "line.pdf")
"""


@pytest.fixture()
def study(tmp_path: Path) -> Path:
    """notebooks/ with two working notebooks and a smoke profile."""
    return _make_study(tmp_path)


def _make_study(tmp_path: Path) -> Path:
    nbdir = tmp_path / "notebooks"
    (nbdir / "params").mkdir(parents=True)
    _notebook(
        nbdir / "1_first.ipynb",
        'results_dir = None  # where outputs go\nn = 2  # rows\nlabel = "default"\nseed = 0',
        'NAME = "1_first"\n' + WRITE_TABLE,
        WRITE_FIGURE,
    )
    _notebook(
        nbdir / "2_second.ipynb",
        'results_dir = None\nn = 1\nseed = 0\nlabel = "x"',
        'NAME = "2_second"\n' + WRITE_TABLE,
    )
    (nbdir / "params" / "smoke.yaml").write_text(
        yaml.safe_dump(
            {
                "description": "test profile",
                "parameters": {"seed": 7, "label": "smoke"},
                "notebooks": {"1_first": {"n": 4}, "2_second": {"n": 3}},
            }
        )
    )
    (nbdir / "README.md").write_text("not a notebook")
    return tmp_path


def test_full_run_parameters_outputs_and_index(study: Path) -> None:
    result = rp.reproduce(
        "smoke",
        overrides=["2_second.n=5", "label=cli"],
        notebooks_dir=study / "notebooks",
        results_root=study / "results",
        echo=False,
    )
    out = result.out_dir
    assert out.parent == (study / "results" / "smoke").resolve()
    assert [nb.name for nb in result.notebooks] == ["1_first", "2_second"] and result.ok

    # Parameters reached the notebooks: profile per-notebook value, -p common and -p per-notebook overrides.
    first = pd.read_csv(out / "1_first" / "tables" / "rows.csv")
    second = pd.read_csv(out / "2_second" / "tables" / "rows.csv")
    assert len(first) == 4 and len(second) == 5
    assert set(first["label"]) == {"cli"} and set(second["label"]) == {"cli"}
    assert (out / "1_first" / "figures" / "line.png").stat().st_size > 0
    assert (out / "1_first" / "figures" / "line.pdf").read_bytes().startswith(b"%PDF")

    # Executed notebooks carry the injected parameters, including the absolute results_dir.
    executed = nbformat.read(out / "notebooks" / "2_second.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "n = 5" in injected[0].source and str(out) in injected[0].source

    record = json.loads((out / "run_record.json").read_text())
    assert record["kind"] == "reproduce" and record["status"] == "ok" and record["seed"] == 7
    assert [nb["status"] for nb in record["notebooks_run"]] == ["ok", "ok"]
    assert set(record["inputs"]) == {"1_first.ipynb", "2_second.ipynb"}
    saved = yaml.safe_load((out / "parameters.yaml").read_text())
    assert saved["notebooks"]["2_second"]["n"] == 5 and saved["parameters"]["label"] == "cli"

    md = (out / "index.md").read_text()
    page = (out / "index.html").read_text()
    for rel in ("1_first/figures/line.png", "1_first/tables/rows.csv", "2_second/tables/rows.csv"):
        assert f"({rel})" in md and f"href='{rel}'" in page
    assert "1_first/figures/line.pdf" in md and "<img src='1_first/figures/line.png'" in page
    assert "| n | `4` |" in md and "| n | `5` |" in md and "| label | `cli` |" in md
    assert "line.pdf" not in [Path(p).name for p in rp.collect_outputs(out, "1_first")["other"]]


def test_failing_notebook_stops_batch_and_names_cell(study: Path) -> None:
    nbdir = study / "notebooks"
    _notebook(
        nbdir / "2_second.ipynb",
        "results_dir = None\nn = 1",
        "x = n + 1",
        "raise ValueError('broken on purpose')",
        "never = True",
    )
    _notebook(
        nbdir / "3_third.ipynb",
        "results_dir = None",
        "import pathlib\npathlib.Path(results_dir, 'ran').touch()",
    )
    with pytest.raises(rp.NotebookFailed) as info:
        rp.reproduce("smoke", notebooks_dir=nbdir, results_root=study / "results", echo=False)
    error = info.value
    assert error.notebook == "2_second" and error.cell_number == 3  # parameters, x = n + 1, raise
    assert "notebook 2_second failed in cell 3 (`raise ValueError('broken on purpose')`)" in str(error)
    assert "ValueError: broken on purpose" in str(error)

    out = error.output.parents[1]
    # The partially executed notebook is kept, with the failing cell's error recorded and later cells not run.
    partial = nbformat.read(error.output, as_version=4)
    failing = [c for c in partial.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failing) == 1 and "raise ValueError" in failing[0].source
    assert partial.cells[[c.source for c in partial.cells].index("x = n + 1")].execution_count is not None
    assert partial.cells[-1].get("execution_count") is None
    # Earlier outputs are intact, the notebook after the failure did not run, and the index says so.
    assert len(pd.read_csv(out / "1_first" / "tables" / "rows.csv")) == 4
    assert not (out / "ran").exists()
    record = json.loads((out / "run_record.json").read_text())
    assert record["status"] == "failed"
    assert [nb["status"] for nb in record["notebooks_run"]] == ["ok", "failed", "not run"]
    assert "broken on purpose" in (out / "index.md").read_text()


def test_never_overwrites_without_name_and_force(study: Path, capsys: pytest.CaptureFixture) -> None:
    common = ["--notebooks", str(study / "notebooks"), "--results", str(study / "results"), "--only", "2"]
    assert main(["reproduce", *common]) == 0
    assert main(["reproduce", *common]) == 0
    runs_made = sorted((study / "results" / "smoke").iterdir())
    assert len(runs_made) == 2  # two timestamped (or suffixed) directories, nothing overwritten
    for run in runs_made:
        assert not (run / "1_first").exists() and (run / "2_second" / "tables" / "rows.csv").exists()

    assert main(["reproduce", *common, "--name", "mine"]) == 0
    marker = study / "results" / "smoke" / "mine" / "2_second" / "tables" / "rows.csv"
    marker.write_text("i,label\n")  # a result the next run must not silently replace
    assert main(["reproduce", *common, "--name", "mine"]) == 1
    assert "already exists" in capsys.readouterr().err and marker.read_text() == "i,label\n"
    assert main(["reproduce", *common, "--force"]) == 1  # --force needs --name
    assert main(["reproduce", *common, "--name", "mine", "--force", "-p", "n=2"]) == 0
    assert len(pd.read_csv(marker)) == 2


def test_cli_reports_failing_notebook(study: Path, capsys: pytest.CaptureFixture) -> None:
    _notebook(study / "notebooks" / "2_second.ipynb", "results_dir = None\nn = 1", "1 / 0")
    code = main(
        [
            "reproduce",
            "--notebooks",
            str(study / "notebooks"),
            "--results",
            str(study / "results"),
            "--only",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "notebook 2_second failed in cell 2 (`1 / 0`)" in err and "ZeroDivisionError" in err


def test_bad_parameters_fail_before_running(study: Path) -> None:
    kwargs = dict(notebooks_dir=study / "notebooks", results_root=study / "results", echo=False)
    with pytest.raises(rp.ReproductionError, match="nn.*declared by no notebook"):
        rp.reproduce("smoke", overrides=["nn=3"], **kwargs)
    with pytest.raises(rp.ReproductionError, match="2_second has no parameter"):
        rp.reproduce("smoke", overrides=["2_second.nope=1"], **kwargs)
    with pytest.raises(rp.ReproductionError, match="unknown notebook '9_x'"):
        rp.reproduce("smoke", overrides=["9_x.n=1"], **kwargs)
    with pytest.raises(rp.ReproductionError, match="paper.yaml does not exist"):
        rp.reproduce("paper", **kwargs)
    with pytest.raises(rp.ReproductionError, match="matches no notebook"):
        rp.reproduce("smoke", only=["7"], **kwargs)
    with pytest.raises(rp.ReproductionError, match="not of the form"):
        rp.reproduce("smoke", overrides=["n"], **kwargs)
    bad = study / "bad.yaml"
    bad.write_text("paramters: {n: 1}\n")
    with pytest.raises(rp.ReproductionError, match="unknown top-level key.*paramters"):
        rp.reproduce("smoke", params_file=bad, **kwargs)
    _notebook(study / "notebooks" / "3_untagged.ipynb", "x = 1")
    nb = nbformat.read(study / "notebooks" / "3_untagged.ipynb", as_version=4)
    nb.cells[0].metadata["tags"] = []
    nbformat.write(nb, study / "notebooks" / "3_untagged.ipynb")
    with pytest.raises(rp.ReproductionError, match="3_untagged.ipynb has no cell tagged 'parameters'"):
        rp.reproduce("smoke", **kwargs)
    assert not (study / "results").exists()  # nothing was created for a run that could not start


def test_parameter_layers_merge_in_order(tmp_path: Path) -> None:
    common, per = rp.parse_assignments(["a=1", "b=[1, 2]", "nb.c=x", "d=1e-3"])
    assert common == {"a": 1, "b": [1, 2], "d": 0.001} and per == {"nb": {"c": "x"}}
    merged = rp.merge_parameters(
        {"parameters": {"a": 0, "k": "keep"}, "notebooks": {"nb": {"c": "y", "e": 1, "a": 5}}},
        {"parameters": common, "notebooks": per},
    )
    assert merged == {
        "parameters": {"a": 1, "k": "keep", "b": [1, 2], "d": 0.001},
        "notebooks": {"nb": {"c": "x", "e": 1}},
    }
    declared = {"nb": {"a": {}, "c": {}, "e": {}, "k": {}}, "other": {"b": {}, "d": {}, "a": {}}}
    resolved = rp.resolve_parameters(merged, declared)
    assert resolved == {
        "nb": {"a": 1, "k": "keep", "c": "x", "e": 1},
        "other": {"a": 1, "b": [1, 2], "d": 0.001},
    }


def test_notebook_order_and_selection(tmp_path: Path) -> None:
    for name in ("10_last.ipynb", "2_b.ipynb", "1_a.ipynb", "notes.ipynb", "2_b-copy.txt"):
        (tmp_path / name).write_text("{}")
    names = [p.name for p in rp.list_notebooks(tmp_path)]
    assert names == ["1_a.ipynb", "2_b.ipynb", "10_last.ipynb"]
    nbs = rp.list_notebooks(tmp_path)
    assert [p.stem for p in rp.select_notebooks(nbs, ["10", "1_a.ipynb"])] == ["1_a", "10_last"]
    assert [p.stem for p in rp.select_notebooks(nbs, ["notebooks/2_b.ipynb"])] == ["2_b"]


# --------------------------------------------------------------------------------------------- the index

WRITE_TRANSLATIONS = """
from pathlib import Path
import json
import pandas as pd
from PIL import Image
folder = Path(results_dir) / "2_second" / "translations" / "cyclegan-a2b"
folder.mkdir(parents=True)
for k in range(5):
    Image.new("RGB", (16, 16), (50 * k, 0, 0)).save(folder / f"img{k}.png")
pd.DataFrame({"path": [f"img{k}.png" for k in range(5)], "source_image_id": [f"a/{k}" for k in range(5)]}).to_csv(
    folder / "manifest.csv", index=False)
(Path(results_dir) / "1_first" / "captions.json").write_text(
    json.dumps({"line.png": {"caption": "A line of n points.", "featured": True}}))
"""


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Path:
    """The two-notebook study with a caveat, a caption, a featured figure and a folder of translations
    (reproduced once for the module; a test that changes it works on a copy)."""
    study = _make_study(tmp_path_factory.mktemp("indexed"))
    profile = study / "notebooks" / "params" / "smoke.yaml"
    data = yaml.safe_load(profile.read_text())
    data["caveat"] = "Smoke profile: no number here is a result."
    profile.write_text(yaml.safe_dump(data))
    nb = nbformat.read(study / "notebooks" / "2_second.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(WRITE_TRANSLATIONS))
    nbformat.write(nb, study / "notebooks" / "2_second.ipynb")
    result = rp.reproduce(
        "smoke", notebooks_dir=study / "notebooks", results_root=study / "results", echo=False
    )
    return result.out_dir


def _body_text(page: str) -> str:
    body = page.split("<body>", 1)[1]
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", body, flags=re.S))


def test_index_puts_the_caveat_before_any_number_and_has_a_table_of_contents(indexed: Path) -> None:
    page = (indexed / "index.html").read_text()
    text = _body_text(page)
    caveat = "Smoke profile: no number here is a result."  # this study's profile file, not the repository's
    assert caveat in text and not re.search(r"\d", text[: text.index(caveat)])  # no number before it
    assert "bundled sample" in text  # no corpus parameter: the sample's caveat too
    md = (indexed / "index.md").read_text()
    assert not re.search(r"\d", md[: md.index(caveat)])
    assert md.index(caveat) < md.index("## Contents") < md.index("Total time")
    # table of contents: one link per section, each to an element with that id
    toc = re.search(r"<nav class='toc'>(.*?)</nav>", page, re.S).group(1)
    anchors = re.findall(r"href='#([^']+)'", toc)
    assert anchors == ["featured", "1_first", "2_second", "gallery", "run"]
    for anchor in anchors:
        assert f"id='{anchor}'" in page, anchor
    assert "<details id='1_first' open>" in page and "<details id='2_second' open>" in page
    # figures are thumbnails linking to the full image, with their caption; the featured one comes first
    thumb = "<a href='1_first/figures/line.png'><img src='1_first/figures/line.png'"
    assert page.count(thumb) == 2 and page.index("Key figures") < page.index("<details id='1_first'")
    assert page.count("A line of n points.") == 2 and "· <a href='1_first/figures/line.pdf'>PDF</a>" in page
    # tables are collapsed previews with the caveat as their footnote
    assert (
        "<details><summary>rows</summary>" in page and "† Smoke profile: no number here is a result." in page
    )


def test_translation_images_go_to_one_gallery_page_not_the_figures(indexed: Path) -> None:
    outputs = rp.collect_outputs(indexed, "2_second")
    assert outputs["galleries"] == [Path("2_second/translations/cyclegan-a2b")]
    assert not any(
        "translations" in str(p) for p in outputs["figures"] + outputs["tables"] + outputs["other"]
    )
    page = (indexed / "index.html").read_text()
    assert "img0.png" not in page and page.count("href='gallery.html'") == 2
    assert "5 images in 1 folders" in page
    gallery = (indexed / "gallery.html").read_text()
    assert "Smoke profile: no number here is a result." in gallery
    for k in range(5):
        assert (
            f"<a href='2_second/translations/cyclegan-a2b/img{k}.png'>" in gallery
            and f"from a/{k}" in gallery
        )
    assert "gallery.html" in (indexed / "index.md").read_text()


def test_explicit_featured_figures_come_first(indexed: Path, tmp_path: Path) -> None:
    from culturalstyle import report_index

    indexed = Path(shutil.copytree(indexed, tmp_path / "copy"))
    record = json.loads((indexed / "run_record.json").read_text())
    result = rp.Reproduction(out_dir=indexed, profile="smoke", seconds=record["seconds"])
    result.notebooks = [
        rp.NotebookResult(n["name"], n["status"], n["seconds"], {}) for n in record["notebooks_run"]
    ]
    (indexed / "2_second" / "figures").mkdir()
    shutil.copy(indexed / "1_first" / "figures" / "line.png", indexed / "2_second" / "figures" / "first.png")
    report_index.write_index(result, caveat="c", featured=["2_second/figures/first.png", "missing.png"])
    page = (indexed / "index.html").read_text()
    key = page.split("<h2 id='featured'>", 1)[1].split("</div>", 1)[0]
    assert key.index("2_second/figures/first.png") < key.index("1_first/figures/line.png")
    assert "missing.png" not in page


@pytest.mark.slow
def test_index_renders_short_with_the_caveat_on_the_first_screen(indexed: Path, tmp_path: Path) -> None:
    import browser

    binary = browser.chromium()
    info = browser.probe(
        binary,
        indexed / "index.html",
        """window.addEventListener("load", function () {
          const c = document.getElementById("caveat").getBoundingClientRect();
          report({height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth,
                  caveat: [c.top, c.bottom], text: document.getElementById("caveat").textContent});
        });""",
        tmp_path,
        window=(1400, 900),
    )
    assert info["width"] <= 1400 and info["height"] < 8000, info
    assert 0 < info["caveat"][0] < info["caveat"][1] < 400 and "no number here is a result" in info["text"]
    pixels = browser.screenshot(binary, indexed / "index.html", tmp_path, window=(1400, 900))
    banner = np.abs(pixels - [0xB2, 0x22, 0x22]).max(axis=2) < 40  # the caveat's red border
    rows = np.flatnonzero(banner.sum(axis=1) > 200)
    assert len(rows) and rows.min() < 400, "the caveat's border is not on the first screen"


def test_featured_ranks_order_the_key_figures_across_notebooks(indexed: Path, tmp_path: Path) -> None:
    """A figure a later notebook features with rank 1 (the shipped translator's side by side) comes before
    an earlier notebook's plain featured figure (rank True = 100)."""
    from culturalstyle import report_index

    indexed = Path(shutil.copytree(indexed, tmp_path / "copy"))
    record = json.loads((indexed / "run_record.json").read_text())
    result = rp.Reproduction(out_dir=indexed, profile="smoke", seconds=record["seconds"])
    result.notebooks = [
        rp.NotebookResult(n["name"], n["status"], n["seconds"], {}) for n in record["notebooks_run"]
    ]
    (indexed / "2_second" / "figures").mkdir()
    shutil.copy(indexed / "1_first" / "figures" / "line.png", indexed / "2_second" / "figures" / "top.png")
    (indexed / "2_second" / "captions.json").write_text(
        json.dumps({"top.png": {"caption": "t", "featured": 1}})
    )
    report_index.write_index(result, caveat="c")
    key = (indexed / "index.html").read_text().split("<h2 id='featured'>", 1)[1].split("</div>", 1)[0]
    assert key.index("2_second/figures/top.png") < key.index("1_first/figures/line.png")
