"""Reproduce the study: run the numbered notebooks in order with papermill and index what they produced.

A reproduction is one directory `results/<profile>/<timestamp-or-name>/` holding the executed notebooks, each
notebook's figures (PNG + PDF) and tables (CSV) under `<notebook>/figures|tables/`, a run record, and
`index.html` / `index.md` linking every figure and table next to the parameters that produced it.

Parameters come from `notebooks/params/<profile>.yaml`, then `--params FILE.yaml`, then `-p key=value`
(later wins). A parameter file looks like::

    description: what this profile is for
    parameters:            # given to every notebook that declares the name in its `parameters` cell
      corpus: data/sample
      seed: 0
    notebooks:             # per-notebook values, keyed by the notebook's file stem
      3_train_translator:
        preset: smoke

`-p key=value` sets a common parameter; `-p 3_train_translator.key=value` sets one notebook's.
A name that no notebook declares is an error, so typos cannot be silently ignored.

Nothing is overwritten: each reproduction gets a fresh directory unless `name` is given, and an existing
`name` is reused only with `force=True`, which first removes what the re-run notebooks generated last time
(so the new index lists no stale files). A failing notebook stops the batch with a `NotebookFailed` error
naming the notebook and the cell; its partially executed copy is kept, and earlier outputs stay in place.
"""

from __future__ import annotations

import copy
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import runs
from .cache import atomic_write_text, sha256_file
from .configs import parse_value
from .report_index import collect_outputs, write_index  # noqa: F401 - the index lives in report_index

NOTEBOOK_PATTERN = re.compile(r"^(\d+)_[\w-]+\.ipynb$")
PROFILES = ("smoke", "cpu", "paper")
KERNEL_NAME = "python3"


class ReproductionError(RuntimeError):
    """A reproduction could not start or complete (bad parameters, missing notebooks, existing output)."""


class NotebookFailed(ReproductionError):
    """A notebook raised while executing; names the notebook, the cell and where the partial copy is.

    `cell_number` is 1-based and counts the cells of the notebook as written (the injected-parameters and
    papermill's error-banner cells are not counted), so it is the cell a reader finds in JupyterLab.
    """

    def __init__(
        self, notebook: str, cell_number: int | None, cell_source: str | None, error: str, output: Path
    ):
        self.notebook = notebook
        self.cell_number = cell_number
        self.cell_source = cell_source
        self.error = error
        self.output = output
        where = f"cell {cell_number}" if cell_number is not None else "an unknown cell"
        first_line = (cell_source or "").strip().splitlines()[:1]
        if first_line:
            where += f" (`{first_line[0][:80]}`)"
        super().__init__(
            f"notebook {notebook} failed in {where}: {error}\n"
            f"the partially executed notebook is kept at {output}; earlier outputs are left intact"
        )


def failing_cell(executed: Path) -> tuple[int | None, str | None]:
    """(1-based number in the source notebook, source) of the cell whose output is an error, if any."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - no readable partial notebook: the cell stays unknown
        return None, None
    added = {"injected-parameters", "papermill-error-cell-tag"}
    number = 0
    for cell in nb.cells:
        if added & set(cell.get("metadata", {}).get("tags", [])):
            continue
        number += 1
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return number, cell.source
    return None, None


@dataclass
class NotebookResult:
    """What happened to one notebook in a reproduction."""

    name: str
    status: str  # "ok" | "failed" | "not run"
    seconds: float | None
    parameters: dict[str, Any]
    executed: Path | None = None
    error: str | None = None


@dataclass
class Reproduction:
    """A finished (or stopped) reproduction: where it is and what each notebook did."""

    out_dir: Path
    profile: str
    notebooks: list[NotebookResult] = field(default_factory=list)
    seconds: float = 0.0
    caveat: str | None = None  # what a reader must know before any number (the profile's `caveat`)

    @property
    def ok(self) -> bool:
        return all(nb.status == "ok" for nb in self.notebooks)


# ----------------------------------------------------------------------------------------------- locating


def default_notebooks_dir() -> Path:
    """The repository's `notebooks/` next to the package (editable install), else `./notebooks`."""
    beside_package = Path(__file__).resolve().parents[1] / "notebooks"
    return beside_package if beside_package.is_dir() else Path.cwd() / "notebooks"


def list_notebooks(notebooks_dir: str | Path) -> list[Path]:
    """The study's notebooks (`<number>_<name>.ipynb`) in numeric order."""
    notebooks_dir = Path(notebooks_dir)
    if not notebooks_dir.is_dir():
        raise ReproductionError(f"notebooks directory {notebooks_dir} does not exist")
    found = [p for p in notebooks_dir.iterdir() if NOTEBOOK_PATTERN.match(p.name)]
    if not found:
        raise ReproductionError(f"no study notebooks (<number>_<name>.ipynb) in {notebooks_dir}")
    return sorted(found, key=lambda p: (int(NOTEBOOK_PATTERN.match(p.name).group(1)), p.name))


def select_notebooks(notebooks: Sequence[Path], only: Sequence[str] | None) -> list[Path]:
    """Notebooks picked by `--only`: a file name, a stem, or the leading number (`2`, `2_style_space`)."""
    if not only:
        return list(notebooks)
    chosen = []
    for wanted in only:
        key = Path(wanted).name.removesuffix(".ipynb")
        matches = [
            nb for nb in notebooks if nb.stem == key or NOTEBOOK_PATTERN.match(nb.name).group(1) == key
        ]
        if not matches:
            names = ", ".join(nb.stem for nb in notebooks)
            raise ReproductionError(f"--only {wanted!r} matches no notebook; available: {names}")
        chosen.extend(m for m in matches if m not in chosen)
    return [nb for nb in notebooks if nb in chosen]


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """Names declared in the notebook's cell tagged `parameters`, with papermill's type/default/help."""
    import nbformat
    import papermill

    nb = nbformat.read(notebook, as_version=4)
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in nb.cells):
        raise ReproductionError(f"notebook {notebook} has no cell tagged 'parameters'")
    return papermill.inspect_notebook(str(notebook))


# -------------------------------------------------------------------------------------------- parameters


def load_param_file(path: str | Path) -> dict[str, Any]:
    """Read a profile/params YAML file into {'description', 'parameters', 'notebooks'}."""
    path = Path(path)
    if not path.is_file():
        raise ReproductionError(f"parameter file {path} does not exist")
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ReproductionError(f"parameter file {path}: expected a mapping at the top level")
    unknown = sorted(set(data) - {"description", "caveat", "parameters", "notebooks"})
    if unknown:
        raise ReproductionError(
            f"parameter file {path}: unknown top-level key(s) {', '.join(unknown)}; "
            "expected description, caveat, parameters, notebooks"
        )
    common = data.get("parameters") or {}
    per_notebook = data.get("notebooks") or {}
    if not isinstance(common, dict) or not isinstance(per_notebook, dict):
        raise ReproductionError(f"parameter file {path}: 'parameters' and 'notebooks' must be mappings")
    for stem, values in per_notebook.items():
        if not isinstance(values, dict):
            raise ReproductionError(f"parameter file {path}: notebooks.{stem} must be a mapping")
    return {
        "description": data.get("description", ""),
        "caveat": data.get("caveat", ""),
        "parameters": common,
        "notebooks": per_notebook,
    }


def parse_assignments(items: Sequence[str] | None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split `-p key=value` / `-p notebook.key=value` into common and per-notebook parameters."""
    common: dict[str, Any] = {}
    per_notebook: dict[str, dict[str, Any]] = {}
    for item in items or []:
        if "=" not in item:
            raise ReproductionError(f"-p {item!r} is not of the form key=value")
        key, text = item.split("=", 1)
        key, value = key.strip(), parse_value(text)
        if "." in key:
            stem, name = key.rsplit(".", 1)
            per_notebook.setdefault(stem, {})[name] = value
        else:
            common[key] = value
    return common, per_notebook


def merge_parameters(*layers: dict[str, Any]) -> dict[str, Any]:
    """Merge parameter layers ({'parameters', 'notebooks'}); later layers win key by key.

    A common value in a later layer also replaces earlier per-notebook values of that name, so
    `-p n=2` on the command line wins over a profile's `notebooks: {x: {n: 3}}`.
    """
    merged: dict[str, Any] = {"parameters": {}, "notebooks": {}}
    for layer in layers:
        for key, value in (layer.get("parameters") or {}).items():
            merged["parameters"][key] = copy.deepcopy(value)
            for values in merged["notebooks"].values():
                values.pop(key, None)
        for stem, values in (layer.get("notebooks") or {}).items():
            merged["notebooks"].setdefault(stem, {}).update(copy.deepcopy(values))
    return merged


def resolve_parameters(
    merged: dict[str, Any], declared: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Per-notebook parameters to inject, checked against what each notebook declares.

    `declared` maps notebook stem -> declared parameters (of all study notebooks, so a profile written for
    the whole study stays valid with `--only`).
    """
    all_declared = {name for params in declared.values() for name in params}
    unknown_common = sorted(set(merged["parameters"]) - all_declared)
    if unknown_common:
        raise ReproductionError(
            f"parameter(s) {', '.join(unknown_common)} are declared by no notebook; "
            f"known: {', '.join(sorted(all_declared))}"
        )
    for stem, values in merged["notebooks"].items():
        if stem not in declared:
            raise ReproductionError(
                f"parameters given for unknown notebook {stem!r}; known: {', '.join(declared)}"
            )
        unknown = sorted(set(values) - set(declared[stem]))
        if unknown:
            raise ReproductionError(
                f"notebook {stem} has no parameter(s) {', '.join(unknown)}; "
                f"declared: {', '.join(sorted(declared[stem]))}"
            )
    resolved = {}
    for stem, params in declared.items():
        values = {k: v for k, v in merged["parameters"].items() if k in params}
        values.update(merged["notebooks"].get(stem, {}))
        resolved[stem] = values
    return resolved


# -------------------------------------------------------------------------------------------- execution


def _output_dir(results_root: Path, profile: str, name: str | None, force: bool) -> Path:
    parent = results_root / profile
    if name is None:
        parent.mkdir(parents=True, exist_ok=True)
        return runs.unique_dir(parent)
    if "/" in name or name in {"", ".", ".."}:
        raise ReproductionError(f"--name {name!r} must be a plain directory name")
    try:
        return runs.new_output_dir(parent / name, force=force, hint=" (--name), or pass --force to redo it")
    except runs.OutputExistsError as error:
        raise ReproductionError(str(error)) from error


def clear_previous(out_dir: Path, notebooks: Sequence[Path]) -> list[Path]:
    """Before `--force` re-runs `notebooks` into an existing reproduction, remove what they generated last
    time (their output folders and executed copies) and the index, record and parameters, so the new index
    lists only files this run wrote. Outputs of notebooks not re-run stay (later notebooks may read them).

    A directory that is not a reproduction (no `parameters.yaml` / reproduce run record) is refused, never
    cleared. Returns the removed paths.
    """
    import shutil

    if not runs.has_files(out_dir):
        return []
    record = out_dir / runs.RECORD_NAME
    kind = None
    if record.exists():
        try:
            kind = runs.read_record(out_dir).get("kind")
        except (OSError, ValueError):
            kind = None
    if kind != "reproduce" and not (out_dir / "parameters.yaml").exists():
        raise ReproductionError(
            f"{out_dir} is not a reproduction directory (no parameters.yaml or reproduce run record); "
            "refusing to clear it for --force: choose another --name"
        )
    generated = [out_dir / nb.stem for nb in notebooks] + [
        out_dir / "notebooks" / nb.name for nb in notebooks
    ]
    generated += [out_dir / n for n in ("index.html", "index.md", "parameters.yaml", runs.RECORD_NAME)]
    removed = []
    for path in generated:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def _execute(notebook: Path, executed: Path, parameters: dict[str, Any], cwd: Path, log_output: bool) -> None:
    import papermill

    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=parameters,
        kernel_name=KERNEL_NAME,
        progress_bar=False,
        log_output=log_output,
        cwd=str(cwd),
    )


def reproduce(
    profile: str = "smoke",
    *,
    params_file: str | Path | None = None,
    overrides: Sequence[str] | None = None,
    only: Sequence[str] | None = None,
    name: str | None = None,
    force: bool = False,
    notebooks_dir: str | Path | None = None,
    results_root: str | Path = "results",
    cwd: str | Path | None = None,
    log_output: bool = False,
    echo: bool = True,
) -> Reproduction:
    """Run the study's notebooks with the `profile`'s parameters into a new results directory.

    Raises `NotebookFailed` (after writing the index and run record) when a notebook fails.
    """
    started = time.perf_counter()
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    notebooks = list_notebooks(notebooks_dir)
    selected = select_notebooks(notebooks, only)

    layers = [load_param_file(notebooks_dir / "params" / f"{profile}.yaml")]
    if params_file is not None:
        layers.append(load_param_file(params_file))
    common, per_notebook = parse_assignments(overrides)
    layers.append({"parameters": common, "notebooks": per_notebook})
    merged = merge_parameters(*layers)
    declared = {nb.stem: declared_parameters(nb) for nb in notebooks}
    resolved = resolve_parameters(merged, declared)

    out_dir = _output_dir(Path(results_root), profile, name, force).resolve()
    if force:
        removed = clear_previous(out_dir, selected)
        if echo and removed:
            print(
                f"--force: removed {len(removed)} generated file(s)/folder(s) of the previous run", flush=True
            )
    run_cwd = Path(cwd).resolve() if cwd else Path.cwd()
    (out_dir / "notebooks").mkdir(exist_ok=True)
    atomic_write_text(
        out_dir / "parameters.yaml",
        yaml.safe_dump(
            {
                "profile": profile,
                "params_file": str(params_file) if params_file else None,
                "overrides": list(overrides or []),
                "only": list(only or []),
                "parameters": merged["parameters"],
                "notebooks": merged["notebooks"],
            },
            sort_keys=False,
        ),
    )

    caveat = next((layer["caveat"] for layer in reversed(layers) if layer.get("caveat")), "")
    caveat = " ".join(str(caveat).split())
    if merged["parameters"].get("corpus") is None:
        from .notebook_outputs import SAMPLE_CAVEAT

        caveat = f"{caveat} {SAMPLE_CAVEAT}".strip()
    result = Reproduction(out_dir=out_dir, profile=profile, caveat=caveat)
    failure: NotebookFailed | None = None
    for index, notebook in enumerate(selected, 1):
        params = dict(resolved[notebook.stem])
        if "results_dir" in declared[notebook.stem]:
            params["results_dir"] = str(out_dir)
        if "profile" in declared[notebook.stem]:
            params["profile"] = profile  # the notebook shows this profile's caveat
        if force and "overwrite" in declared[notebook.stem]:
            params["overwrite"] = True  # --name NAME --force: the notebook may replace its own outputs
        if failure is not None:
            result.notebooks.append(NotebookResult(notebook.stem, "not run", None, params))
            continue
        executed = out_dir / "notebooks" / notebook.name
        if echo:
            print(f"[{index}/{len(selected)}] {notebook.stem} ...", flush=True)
        t0 = time.perf_counter()
        try:
            _execute(notebook, executed, params, run_cwd, log_output)
        except Exception as error:  # noqa: BLE001 - any failure stops the batch with the cell named
            seconds = time.perf_counter() - t0
            cell_number, cell_source = failing_cell(executed)
            if cell_source is None and hasattr(error, "source"):
                cell_source = error.source
            message = (
                f"{error.ename}: {error.evalue}"
                if hasattr(error, "ename")
                else f"{type(error).__name__}: {error}"
            )
            failure = NotebookFailed(notebook.stem, cell_number, cell_source, message, executed)
            result.notebooks.append(
                NotebookResult(notebook.stem, "failed", seconds, params, executed, message)
            )
            if echo:
                print(f"    FAILED after {seconds:.1f} s: {message}", flush=True)
            continue
        seconds = time.perf_counter() - t0
        result.notebooks.append(NotebookResult(notebook.stem, "ok", seconds, params, executed))
        if echo:
            print(f"    done in {seconds:.1f} s", flush=True)

    result.seconds = time.perf_counter() - started
    runs.write_record(
        out_dir,
        kind="reproduce",
        config={"profile": profile, "parameters": merged["parameters"], "notebooks": merged["notebooks"]},
        seed=merged["parameters"].get("seed"),
        inputs={nb.name: sha256_file(nb) for nb in selected},
        extra={
            "status": "ok" if failure is None else "failed",
            "seconds": round(result.seconds, 2),
            "kernel": KERNEL_NAME,
            "python": sys.executable,
            "notebooks_run": [
                {"name": nb.name, "status": nb.status, "seconds": nb.seconds, "error": nb.error}
                for nb in result.notebooks
            ],
        },
    )
    write_index(result)
    if echo:
        print(f"index: {out_dir / 'index.html'} ({result.seconds:.1f} s in all)", flush=True)
    if failure is not None:
        raise failure
    return result
