"""The install files agree with each other, and CI runs exactly the README's test command."""

from __future__ import annotations

import re

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from conftest import REPO

# conda names that differ from the PyPI distribution names
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_packages() -> set[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = data["project"]
    names = {_name(r) for r in project["dependencies"]}
    names |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    return names


def _environment_packages() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    names: set[str] = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep["pip"] if not r.startswith("-")}
        else:
            name = _name(dep)
            if name not in {"python", "pip"}:
                names.add(CONDA_TO_PYPI.get(name, name))
    return names


def test_environment_yml_names_the_same_packages_as_pyproject():
    assert _environment_packages() == _pyproject_packages()


def test_design_dependencies_are_declared():
    required = {
        "torch", "torchvision", "lpips", "torch-fidelity", "pandas", "scikit-learn", "matplotlib", "seaborn",
        "papermill", "jupyterlab", "ipykernel", "tqdm", "pillow", "pyyaml", "bokeh", "pytest", "ruff",
    }  # fmt: skip
    assert required <= _pyproject_packages()


def test_torch_is_never_pinned_to_the_local_cpu_wheel():
    text = (REPO / "pyproject.toml").read_text()
    assert "torch==" not in text and "2.13.0" not in text


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert match, "README must mark its test command with <!-- test-command -->"
    command = match.group(1).strip().splitlines()[-1].strip()
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_console_script_is_declared():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert data["project"]["scripts"]["culturalstyle"] == "culturalstyle.cli:main"
