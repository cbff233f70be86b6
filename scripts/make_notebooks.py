"""Write the study notebooks (notebooks/<n>_<name>.ipynb) from their sources (notebooks/src/<n>_<name>.py).

The sources are jupytext `py:percent` files: real Python that ruff checks and an editor understands, one
`# %%` cell marker per notebook cell. Papermill runs the paired `.ipynb`. Edit a source, run
`python scripts/make_notebooks.py`, commit both; `--check` (run by the test suite) fails when a notebook is
out of date or a source disagrees with the profiles.

Two parts of every source are written here rather than by hand, so they cannot drift from
`notebooks/params/*.yaml`: the profiles table of the first cell, and the default values of the cell tagged
`parameters` (the `smoke` profile's, so "Run All" in JupyterLab takes minutes; `# fmt: off` keeps ruff from
wrapping its one-line `name = value  # what it is` declarations, which papermill reads as documentation). The `PARAMETERS = {...}` line
of the setup cell must name exactly the parameters cell's variables (checked).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = NOTEBOOKS / "src"
DEFAULT_PROFILE = "smoke"
PROFILES = ("smoke", "cpu", "paper")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

PROFILES_START = "# **Profiles.**"
PARAMETERS_MARKER = '# %% tags=["parameters"]'
PARAMETER_LINE = re.compile(r"^(?P<name>[A-Za-z_]\w*) = (?P<value>.+?)(?P<doc>\s+# .*)$")
SETUP_NAMES = re.compile(
    r"PARAMETERS = \{\s*name: globals\(\)\[name\]\s+for name in (?P<names>\[.*?\])\s*\}", re.S
)


class SourceError(ValueError):
    """A notebook source that cannot be turned into its notebook (names the file and the problem)."""


def load_profile(name: str) -> dict:
    with open(NOTEBOOKS / "params" / f"{name}.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def python_literal(value: object) -> str:
    """A YAML value written as the Python literal of a parameters cell (double-quoted strings)."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as a notebook parameter")


def profile_values(notebook: str, profile: str = DEFAULT_PROFILE) -> dict:
    """The parameter values `profile` gives `notebook` (common parameters, then the notebook's own)."""
    config = load_profile(profile)
    values = dict(config.get("parameters") or {})
    values.update((config.get("notebooks") or {}).get(notebook) or {})
    return values


def profiles_lines() -> list[str]:
    """The first cell's documentation of the profiles, as py:percent comment lines."""
    lines = [
        "**Profiles.** The defaults below are the `smoke` profile, so *Run All* finishes in minutes. "
        "The study's profiles (`notebooks/params/<profile>.yaml`; run one with "
        "`culturalstyle reproduce --profile NAME`, or set its values in the parameters cell):",
        "",
        "| profile | what it is for |",
        "|---|---|",
    ]
    for name in PROFILES:
        description = " ".join(str(load_profile(name).get("description", "")).split())
        lines.append(f"| `{name}` | {description} |")
    return [f"# {line}".rstrip() for line in lines]


def _with_profiles(path: Path, lines: list[str]) -> list[str]:
    """`lines` with the profiles table (from its first line to the table's last row) regenerated."""
    starts = [i for i, line in enumerate(lines) if line.startswith(PROFILES_START)]
    if len(starts) != 1:
        raise SourceError(
            f"{path}: needs exactly one line starting with {PROFILES_START!r} (the profiles table)"
        )
    end = starts[0] + 1
    while end < len(lines) and (lines[end] == "#" or lines[end].startswith("# |")):
        end += 1
    return lines[: starts[0]] + profiles_lines() + lines[end:]


def _parameter_block(path: Path, lines: list[str]) -> tuple[int, int]:
    """Line range of the parameters cell's body."""
    if lines.count(PARAMETERS_MARKER) != 1:
        raise SourceError(f"{path}: needs exactly one cell marked {PARAMETERS_MARKER!r}")
    start = lines.index(PARAMETERS_MARKER) + 1
    end = start
    while end < len(lines) and not lines[end].startswith("# %%"):
        end += 1
    return start, end


def _with_defaults(path: Path, lines: list[str]) -> tuple[list[str], list[str]]:
    """`lines` with the parameters cell's values set to the default profile's; also the parameter names."""
    start, end = _parameter_block(path, lines)
    values = profile_values(path.stem)
    names, out = [], list(lines)
    for i in range(start, end):
        match = PARAMETER_LINE.match(lines[i])
        if match is None:
            if lines[i].strip() and not lines[i].startswith("#"):  # comments include `# fmt: off/on`
                raise SourceError(f"{path}:{i + 1}: parameter lines read `name = value  # what it is`")
            continue
        name, doc = match["name"], match["doc"]
        if "=" in doc:  # papermill's parameter parser rejects lines with a second "="
            raise SourceError(f"{path}:{i + 1}: the documentation of {name!r} must not contain '='")
        names.append(name)
        value = python_literal(values[name]) if name in values else match["value"]
        out[i] = f"{name} = {value}  # {doc.strip()[2:]}"
    own = (load_profile(DEFAULT_PROFILE).get("notebooks") or {}).get(path.stem) or {}
    unknown = sorted(set(own) - set(names))
    if unknown:
        raise SourceError(
            f"{path}: the {DEFAULT_PROFILE} profile sets {unknown}, which the notebook does not declare"
        )
    return out, names


def _check_setup_names(path: Path, text: str, names: list[str]) -> None:
    match = SETUP_NAMES.search(text)
    if match is None:
        raise SourceError(
            f"{path}: the setup cell must define PARAMETERS = {{name: globals()[name] for name in [...]}}"
        )
    listed = ast.literal_eval(match["names"])
    if listed != names:
        raise SourceError(f"{path}: PARAMETERS lists {listed}, the parameters cell declares {names}")


def refreshed_source(path: Path) -> str:
    """The source text of `path` with its generated parts (profiles table, parameter defaults) up to date."""
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = _with_profiles(path, lines)
    lines, names = _with_defaults(path, lines)
    text = "\n".join(lines) + "\n"
    _check_setup_names(path, text, names)
    return text


def notebook_text(name: str, source: str) -> str:
    """The .ipynb text of a py:percent source: stable cell ids, no jupytext metadata, so reruns are identical."""
    nb = jupytext.reads(source, fmt="py:percent")
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    number = name.split("_")[0]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{number}-{i:02d}"
        cell.metadata = {"tags": cell.metadata["tags"]} if cell.metadata.get("tags") else {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nbformat.writes(nb) + "\n"


def sources() -> list[Path]:
    return sorted(SOURCES.glob("[0-9]*_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a source or notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    try:
        for path in sources():
            text = refreshed_source(path)
            notebook = NOTEBOOKS / f"{path.stem}.ipynb"
            ipynb = notebook_text(path.stem, text)
            if args.check:
                if path.read_text(encoding="utf-8") != text:
                    stale.append(str(path.relative_to(NOTEBOOKS)))
                if not notebook.exists() or notebook.read_text(encoding="utf-8") != ipynb:
                    stale.append(notebook.name)
                continue
            if path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print("updated", path)
            notebook.write_text(ipynb, encoding="utf-8")
            print("wrote", notebook)
    except SourceError as error:
        print(f"make_notebooks: error: {error}", file=sys.stderr)
        return 2
    if stale:
        print("out of date (run python scripts/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
