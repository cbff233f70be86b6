"""Where a study notebook writes, and what its outputs say about themselves.

`Outputs` is one notebook's folder (`<results_dir>/<notebook>/figures|tables/`): figures as PNG + PDF with
the profile's caveat as a footnote and a caption for the index, tidy CSV tables, and a run record that
lists the hashes of the corpus and of every network the notebook used. `profile_caveat` is the sentence a
reader must see before any number of a profile's outputs (notebooks, index, figures).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import runs
from .cache import atomic_path, stable_hash

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .corpus import Corpus


def repository_root() -> Path | None:
    """The checkout the package runs from (editable install), or None for an installed package."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() and (root / "notebooks").is_dir() else None


RESULTS_ENV = "CULTURALSTYLE_RESULTS"


def default_results_dir() -> Path:
    """Where a notebook run without `results_dir` writes: `$CULTURALSTYLE_RESULTS/notebooks/<timestamp>`
    when set, else `<repository>/results/notebooks/<timestamp>` (git-ignored), or `./results/...` outside
    a checkout. A notebook opened in JupyterLab runs in `notebooks/`, and its outputs still land in the
    repository's `results/`, not in `notebooks/results/`."""
    import os

    if os.environ.get(RESULTS_ENV):
        base = Path(os.environ[RESULTS_ENV])
    else:
        root = repository_root()
        base = (root if root is not None else Path.cwd()) / "results"
    return base / "notebooks" / runs.timestamp()


def profile_caveat(profile: str | None, corpus: str | Path | None = None) -> str:
    """What a reader must know before reading any number of a `profile`'s outputs.

    The profile's own caveat comes from `notebooks/params/<profile>.yaml` (key `caveat`); a study on the
    bundled sample (`corpus` None) adds that it describes the sample, not the cultures.
    """
    import yaml

    from .reproduce import default_notebooks_dir

    parts = []
    if profile:
        path = default_notebooks_dir() / "params" / f"{profile}.yaml"
        text = ""
        if path.is_file():
            text = str((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("caveat") or "")
        parts.append(" ".join(text.split()) or f"Profile {profile!r}: see notebooks/params/{profile}.yaml.")
    if corpus is None:
        parts.append(SAMPLE_CAVEAT)
    return " ".join(parts)


SAMPLE_CAVEAT = (
    "Corpus: the bundled sample (326 public-domain images, a few artists per culture); results describe "
    "this sample, not the cultures."
)


def show_caveat(text: str) -> None:
    """Display a caveat as a red-bordered banner in a notebook (plain text where HTML is not shown)."""
    import html

    from IPython.display import display

    if not text:
        return
    banner = (
        "<div style='border:2px solid #b22;background:#fff3f3;padding:8px 12px;margin:4px 0;"
        f"font-weight:bold;color:#611'>⚠ {html.escape(text)}</div>"
    )
    display({"text/html": banner, "text/plain": f"CAVEAT: {text}"}, raw=True)


def images_hash(corpus: Corpus) -> str:
    """Hash of the sorted sha256 list of a corpus's image files (what the images are, labels aside)."""
    return stable_hash(sorted(corpus.df["sha256"].astype(str)))


class Outputs:
    """Where one notebook writes: `<results_dir>/<notebook>/{figures,tables}/`, and what its run record says.

    The notebook's folder must be new (or empty) unless `overwrite`: results are never silently replaced.
    With a `profile`, every figure carries the profile's caveat as a footnote (`caveat`). `uses_corpus`,
    `uses_weights` and `uses_file` collect the hashes of the inputs and networks the run record lists.
    Figure captions (and which figures to feature first) go to `captions.json` for the study's index.
    """

    def __init__(
        self,
        results_dir: str | Path | None,
        notebook: str,
        *,
        overwrite: bool = False,
        profile: str | None = None,
        corpus: str | Path | None = None,
    ):
        self.root = Path(results_dir) if results_dir is not None else default_results_dir()
        self.notebook = notebook
        self.profile = profile
        self.caveat = profile_caveat(profile, corpus) if profile else ""
        self.folder = runs.new_output_dir(self.root / notebook, force=overwrite)
        self.figures = self.folder / "figures"
        self.tables = self.folder / "tables"
        self.figures.mkdir(exist_ok=True)
        self.tables.mkdir(exist_ok=True)
        self.inputs: dict[str, Any] = {}
        self.weights: dict[str, str] = {}
        self.captions: dict[str, dict[str, Any]] = {}

    def figure(
        self, fig: Figure, name: str, *, dpi: int = 150, caption: str = "", featured: bool | int = False
    ) -> Path:
        """Save `fig` as `figures/<name>.png` and `.pdf` (with the caveat footnote); returns the PNG path.

        `caption` says what the figure shows and how to read it (the index prints it); `featured` asks the
        index to show the figure among its key figures: True, or a rank (1 comes before 2, and both before
        True, which ranks as 100; ties keep the notebooks' order).
        """
        from .translation_plots import stamp

        if self.caveat and not getattr(fig, "_culturalstyle_stamped", False):
            stamp(fig, self.caveat)
            fig._culturalstyle_stamped = True
        png = self.figures / f"{name}.png"
        for path, kwargs in ((png, {"dpi": dpi}), (png.with_suffix(".pdf"), {})):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=path.suffix[1:], bbox_inches="tight", **kwargs)
        if caption or featured:
            rank = 100 if featured is True else int(featured)
            self.captions[png.name] = {"caption": caption, "featured": rank}
            from .cache import atomic_write_text

            atomic_write_text(
                self.folder / CAPTIONS_NAME, json.dumps(self.captions, indent=2, ensure_ascii=False)
            )
        return png

    def table(self, df: pd.DataFrame, name: str) -> Path:
        """Save `df` as `tables/<name>.csv` (no index: tables are tidy, every column named)."""
        path = self.tables / f"{name}.csv"
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
        return path

    def file(self, name: str) -> Path:
        """A path for any other output (an HTML explorer, a translations folder) in the notebook's folder."""
        return self.folder / name

    def uses_corpus(self, name: str, corpus: Corpus) -> dict[str, Any]:
        """Record an input corpus: its folder, manifest hash, hash of its images' sha256 list and size."""
        entry = {
            "root": str(Path(corpus.root).resolve()),
            "manifest_hash": corpus.manifest_hash(),
            "images_sha256_hash": images_hash(corpus),
            "n_images": len(corpus),
        }
        self.inputs[name] = entry
        return entry

    def uses_weights(self, *names: str) -> dict[str, str]:
        """Record the sha256 of pretrained networks (weights store names) this notebook used."""
        from . import weights

        for name in names:
            self.weights[name] = weights.sha256(name)
        return {name: self.weights[name] for name in names}

    def uses_backbones(self, spaces: Mapping[str, Any]) -> dict[str, str]:
        """Record the networks of embedded backbones (`representations.embed_backbones` results, whose
        `record` names the weights and their sha256); network-free backbones add nothing."""
        for space in spaces.values():
            record = getattr(space, "record", {}) or {}
            if record.get("weights_sha256"):
                self.weights[str(record.get("weights") or record.get("backbone"))] = record["weights_sha256"]
        return dict(self.weights)

    def uses_file(self, name: str, path: str | Path, *, weights: bool = False) -> str:
        """Record the sha256 of any other input file (a translator checkpoint: `weights=True`)."""
        from .cache import sha256_file

        digest = sha256_file(path)
        if weights:
            self.weights[name] = digest
        else:
            self.inputs[name] = {"path": str(Path(path).resolve()), "sha256": digest}
        return digest

    def uses_translator(self, run_dir: str | Path) -> str:
        """Record a translator run's final checkpoint (sha256) as a network used, and its folder; for an
        exported (shipped) translator, its generator files."""
        from .translate.export import is_exported, read_export_info
        from .translate.train import list_checkpoints

        if is_exported(run_dir):
            self.inputs.setdefault("translators", []).append(str(Path(run_dir).resolve()))
            files = [d["file"] for d in read_export_info(run_dir)["directions"].values()]
            digests = [
                self.uses_file(f"translator:{Path(run_dir).name}/{f}", Path(run_dir) / f, weights=True)
                for f in files
            ]
            return digests[0]
        checkpoints = list_checkpoints(run_dir)
        if not checkpoints:
            raise FileNotFoundError(f"translator run {run_dir} has no checkpoint")
        self.inputs["translator_run"] = str(Path(run_dir).resolve())
        return self.uses_file(f"translator:{Path(run_dir).name}", checkpoints[0], weights=True)

    def record(self, parameters: Mapping[str, Any], **extra: Any) -> Path:
        """The notebook's run record: parameters, seed, environment versions, input and weights hashes."""
        return runs.write_record(
            self.folder,
            kind=f"notebook:{self.notebook}",
            config=dict(parameters),
            seed=parameters.get("seed"),
            inputs=self.inputs,
            weights=self.weights,
            extra={"profile": self.profile, "caveat": self.caveat, **extra},
        )


CAPTIONS_NAME = "captions.json"
