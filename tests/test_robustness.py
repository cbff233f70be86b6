"""Nothing silently wrong, part 2 (issue 15, items 4-7): paths kept inside the corpus root, empty culture
labels, filesystem errors as one clear line with no partial file, and messages that do not mislead."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from culturalstyle import cache, runs, weights
from culturalstyle import corpus as cm
from culturalstyle import features as feats
from culturalstyle.cli import main
from culturalstyle.corpus import Corpus, CorpusError
from culturalstyle.embedding import EmbedConfig, embed_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_png(path: Path, seed: int, size: int = 40) -> Path:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def art(tmp_path) -> Path:
    """tmp/art/<culture>/<image>, plus tmp/outside/secret.png that no corpus should reach."""
    for i in range(3):
        write_png(tmp_path / "art" / "ukiyo_e" / f"u{i}.png", i)
        write_png(tmp_path / "art" / "renaissance" / f"r{i}.png", 10 + i)
    write_png(tmp_path / "outside" / "secret.png", 99)
    return tmp_path / "art"


@pytest.fixture
def saved(art) -> Path:
    """The art corpus imported and saved beside its images (art/manifest.csv)."""
    cm.from_folder(art).save(art)
    return art


@pytest.fixture
def tiny_weights(monkeypatch):
    """`culturalstyle embed` with a tiny random VGG instead of the store's (no weights needed)."""
    net = feats.random_vgg(seed=1)
    monkeypatch.setattr(weights, "load", lambda name, device=None: net)
    monkeypatch.setattr(weights, "sha256", lambda name: "t" * 64)


def add_rows(folder: Path, **paths: str) -> Path:
    """Append rows {image_id: path} to folder/manifest.csv (the first row's labels, the file's own sha256)."""
    df = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    extra = [
        df.iloc[0].to_dict() | {"image_id": i, "path": p, "sha256": cache.sha256_file(folder / p)}
        for i, p in paths.items()
    ]
    pd.concat([df, pd.DataFrame(extra)]).to_csv(folder / "manifest.csv", index=False)
    return folder


def embed_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["embed", str(corpus), "--out", str(out), "--size", "32", "--no-progress", *extra]


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# -- 4. paths stay inside the corpus root --------------------------------------------------------------------------
def test_import_skips_a_symlink_out_of_the_root_unless_allowed(art, tmp_path):
    (art / "ukiyo_e" / "link.png").symlink_to(tmp_path / "outside" / "secret.png")
    corpus = cm.from_folder(art)
    assert not corpus.df["path"].str.contains("secret").any() and len(corpus) == 6
    row = corpus.problems.set_index("kind").loc["outside root"]
    assert "through a symlink" in row["reason"] and str((tmp_path / "outside").resolve()) in row["reason"]
    allowed = cm.from_folder(art, allow_outside_root=True)
    assert "../outside/secret.png" in set(allowed.df["path"])  # the manifest says where it really is
    assert "outside root (allowed)" in set(allowed.problems["kind"])


def test_cli_import_reports_the_symlink(art, tmp_path, capsys):
    (art / "ukiyo_e" / "link.png").symlink_to(tmp_path / "outside" / "secret.png")
    out = tmp_path / "c"
    assert main(["corpus", "import", "folder", str(art), "--out", str(out), "--no-progress"]) == 0
    assert "[outside root] ../outside/secret.png" in capsys.readouterr().out
    assert "secret" not in (out / "manifest.csv").read_text()


def test_check_refuses_rows_outside_the_root_without_reading_them(saved, tmp_path, capsys, monkeypatch):
    not_an_image = tmp_path / "outside" / "passwd"
    not_an_image.write_text("root:x:0:0\n")
    add_rows(saved, dotdot="../outside/secret.png", absolute=str(not_an_image))
    corpus = Corpus.load(saved)
    found = corpus.check()
    kinds = found.groupby("path")["kind"].apply(set).to_dict()
    assert kinds["../outside/secret.png"] == {"outside root"}
    assert kinds[str(not_an_image)] == {"outside root"}  # refused, not decoded ("not an image" would be)
    assert main(["corpus", "check", str(saved)]) == 1
    assert "[outside root] ../outside/secret.png: resolves to" in capsys.readouterr().out
    assert main(["corpus", "check", str(saved), "--allow-outside-root"]) == 1  # passwd is still no image
    printed = capsys.readouterr().out
    assert "[outside root (allowed)] ../outside/secret.png" in printed
    assert f"[not an image] {not_an_image}" in printed


def test_embed_refuses_rows_outside_the_root(saved, tmp_path, capsys, tiny_weights):
    add_rows(saved, dotdot="../outside/secret.png")
    with pytest.raises(
        CorpusError, match=r"outside the corpus root.*\.\./outside/secret\.png.*allow-outside-root"
    ):
        embed_corpus(Corpus.load(saved), tmp_path / "e", EmbedConfig(size=32))
    assert not (tmp_path / "e").exists()  # refused before anything was created
    assert main(embed_args(saved, tmp_path / "e")) == 1
    line = one_line(capsys.readouterr().err)
    assert "../outside/secret.png" in line and "--allow-outside-root" in line
    assert not (tmp_path / "e").exists()
    with pytest.warns(UserWarning, match="outside the corpus root .* \\(allowed\\)"):
        assert main(embed_args(saved, tmp_path / "e", "--allow-outside-root")) == 0
    assert (tmp_path / "e" / "run_record.json").exists()


def test_explorer_refuses_thumbnails_from_outside_the_root(saved):
    from culturalstyle import explorer

    add_rows(saved, dotdot="../outside/secret.png")
    corpus = Corpus.load(saved)
    coords = {"pca": np.zeros((len(corpus), 2))}
    with pytest.raises(CorpusError, match="the explorer.*outside the corpus root"):
        explorer.from_corpus(corpus, coords)


def test_a_manifest_saved_elsewhere_keeps_its_images_inside_its_root(art, tmp_path, capsys):
    out = tmp_path / "elsewhere"
    assert main(["corpus", "import", "folder", str(art), "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "corpus.json").read_text()) == {"image_root": "../art"}
    corpus = Corpus.load(out)
    assert len(corpus.outside_root()) == 0
    corpus.require_usable()
    capsys.readouterr()
    assert main(["corpus", "check", str(out)]) == 0
    assert f"[image root] .: images are read from {art.resolve()}" in capsys.readouterr().out
    add_rows(out, sneaky="../outside/secret.png")  # inside the manifest's parent, but not in art/
    assert set(Corpus.load(out).outside_root()["path"]) == {"../outside/secret.png"}
    corpus.save(art)  # saved beside the images again: no image root to declare
    assert not (art / "corpus.json").exists()


# -- 5. empty culture labels ---------------------------------------------------------------------------------------
def test_empty_culture_label_is_an_error_in_check_and_embed(saved, tmp_path, capsys, tiny_weights):
    df = pd.read_csv(saved / "manifest.csv", dtype=str, keep_default_na=False)
    df.loc[df["image_id"] == "ukiyo_e/u1", "culture"] = " "
    df.to_csv(saved / "manifest.csv", index=False)
    found = Corpus.load(saved).check()
    assert found.set_index("path").loc["ukiyo_e/u1.png", "kind"] == "no culture"
    assert main(["corpus", "check", str(saved)]) == 1
    assert (
        "[no culture] ukiyo_e/u1.png: image_id 'ukiyo_e/u1' has an empty culture label"
        in capsys.readouterr().out
    )
    with pytest.raises(CorpusError, match="empty culture label.*ukiyo_e/u1"):
        embed_corpus(Corpus.load(saved), tmp_path / "e", EmbedConfig(size=32))
    assert main(embed_args(saved, tmp_path / "e")) == 1
    assert "empty culture label" in one_line(capsys.readouterr().err)
    assert main(embed_args(saved, tmp_path / "e", "--cultures", "renaissance")) == 0  # not selected: fine


# -- 6. filesystem errors ------------------------------------------------------------------------------------------
def test_atomic_write_on_a_full_disk_names_file_sizes_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "table.csv"
    target.write_text("old")
    real = Path.write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 2048, 2048))
    with pytest.raises(cache.WriteError) as raised:
        cache.atomic_write_bytes(target, b"x" * 5000)
    assert str(raised.value) == (
        f"could not write {target}: no space left on device (2.0 KB free, 5.0 KB needed)"
    )
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]


def test_torch_writer_failure_on_a_full_disk_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 0))
    target = tmp_path / "step_00000010.pt"
    with pytest.raises(
        cache.WriteError, match=r"could not write .*step_00000010.pt: no space left on device"
    ):
        with cache.atomic_path(target) as tmp:
            tmp.write_bytes(b"\0" * 100)
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 0, 10**12))
    with pytest.raises(cache.WriteError, match="the writer failed"):  # plenty of space: not called full
        with cache.atomic_path(target):
            raise RuntimeError("PytorchStreamWriter failed writing file data/0")


def test_other_errors_inside_an_atomic_write_pass_through(tmp_path):
    with pytest.raises(KeyError), cache.atomic_path(tmp_path / "x"):
        raise KeyError("not a filesystem problem")


@pytest.fixture
def read_only(monkeypatch):
    """read_only(folder): every attempt to create or write a file or directory under `folder` fails with
    EROFS, as on a read-only mount (root ignores permission bits, so chmod cannot simulate it)."""

    def install(folder: Path) -> Path:
        folder = Path(folder).resolve()
        folder.mkdir(parents=True, exist_ok=True)

        def refused(path) -> bool:
            return Path(os.path.abspath(os.fspath(path))).resolve().is_relative_to(folder)

        def deny(path):
            raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))

        real_mkdir, real_os_open, real_open = os.mkdir, os.open, builtins.open

        def mkdir(path, *args, **kwargs):
            return deny(path) if refused(path) else real_mkdir(path, *args, **kwargs)

        def os_open(path, flags, *args, **kwargs):
            writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            return deny(path) if writing and refused(path) else real_os_open(path, flags, *args, **kwargs)

        def open_(file, mode="r", *args, **kwargs):
            writing = isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+")
            return deny(file) if writing and refused(file) else real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(io, "open", open_)
        return folder

    return install


def _embedding_dir(saved: Path, out: Path) -> Path:
    return embed_corpus(
        Corpus.load(saved), out, EmbedConfig(size=32), weights_module=feats.random_vgg(seed=1)
    )


@pytest.mark.parametrize("command", ["corpus import", "embed", "compare", "reproduce"])
def test_read_only_output_gives_one_clear_line(command, saved, tmp_path, capsys, read_only, tiny_weights):
    ro = tmp_path / "ro"
    args = {
        "corpus import": ["corpus", "import", "folder", str(saved), "--out", str(ro / "c"), "--no-progress"],
        "embed": embed_args(saved, ro / "e"),
        "compare": ["compare", str(_embedding_dir(saved, tmp_path / "emb")), "--out", str(ro / "cmp")],
        "reproduce": ["reproduce", "--only", "1", "--results", str(ro / "results")],
    }[command]
    read_only(ro)
    assert main(args) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"culturalstyle {command.split()[0]}: error: could not write {ro}")
    assert line.endswith("read-only file system")
    assert list(ro.rglob("*")) == []


def test_full_disk_during_embed_gives_one_line_and_no_partial_file(
    saved, tmp_path, capsys, monkeypatch, tiny_weights
):
    real = Path.write_bytes

    def half_then_full(self, data):
        if "features" in self.parts:
            real(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    out = tmp_path / "runs" / "e"
    assert main(embed_args(saved, out)) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("culturalstyle embed: error: could not write ") and ".npz: no space left" in line
    assert "(100 bytes free, " in line and " needed)" in line
    assert [p for p in cache.cache_dir("features").rglob("*") if p.is_file()] == []  # no partial entry
    assert not out.exists() and not out.parent.exists()  # the failed run's empty directories are gone


def test_cli_turns_bare_filesystem_errors_into_one_line(monkeypatch, capsys, tmp_path):
    import argparse

    def handler_raising(error):
        def handler(args):
            raise error

        return handler

    cases = [
        (OSError(errno.ENOSPC, "No space left on device"), "could not write {out}: no space left on device"),
        (
            OSError(errno.EROFS, "Read-only file system", "/x/y"),
            "could not write /x/y: read-only file system",
        ),
        (
            RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 0"),
            "could not write {out}",
        ),
        (OSError(errno.EIO, "Input/output error", "/x/z"), "could not access /x/z: Input/output error"),
    ]
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 0))
    for error, expected in cases:
        args = argparse.Namespace(command="fake", out=str(tmp_path / "o"), handler=handler_raising(error))
        monkeypatch.setattr(argparse.ArgumentParser, "parse_args", lambda self, argv=None, a=args: a)
        assert main([]) == 1
        line = one_line(capsys.readouterr().err)
        assert line.startswith("culturalstyle fake: error: " + expected.format(out=tmp_path / "o")), line


# -- 7. messages that do not mislead ------------------------------------------------------------------------------
def test_embed_existing_output_message_offers_only_real_options(saved, tmp_path, capsys):
    out = tmp_path / "e"
    out.mkdir()
    (out / "kept.txt").write_text("results")
    assert main(embed_args(saved, out)) == 1
    line = one_line(capsys.readouterr().err)
    assert "already exists" in line and "--force" not in line and "--resume" not in line
    assert (out / "kept.txt").read_text() == "results"


def test_early_failure_leaves_no_empty_output_directory(saved, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "e"
    assert main(embed_args(saved, out)) == 1  # the isolated cache has no VGG weights
    assert "weights" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "new").exists()
    leftover = tmp_path / "leftover"
    (leftover / "features").mkdir(parents=True)  # an older failure's empty tree is reused silently
    assert runs.new_output_dir(leftover) == leftover


def test_discard_never_removes_what_it_did_not_create_or_what_holds_files(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    made = runs.new_output_dir(tmp_path / "made")
    full = runs.new_output_dir(tmp_path / "full")
    (full / "result.csv").write_text("x")
    runs.new_output_dir(existing)
    assert runs.discard_empty_outputs() == [made]
    assert existing.is_dir() and (full / "result.csv").exists() and not made.exists()


def _study(root: Path) -> Path:
    notebooks = root / "notebooks"
    (notebooks / "params").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("results_dir = None\nn = 1")
    params.metadata["tags"] = ["parameters"]
    write = (
        "from pathlib import Path\nout = Path(results_dir) / '1_only' / 'tables'\n"
        "out.mkdir(parents=True, exist_ok=True)\n(out / f'rows{n}.csv').write_text('i\\n1\\n')"
    )
    nb.cells = [params, nbformat.v4.new_code_cell(write)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebooks / "1_only.ipynb")
    (notebooks / "params" / "smoke.yaml").write_text("parameters: {}\n")
    return notebooks


def test_reproduce_force_lists_no_stale_files(tmp_path, capsys):
    common = [
        "reproduce",
        "--notebooks",
        str(_study(tmp_path)),
        "--results",
        str(tmp_path / "r"),
        "--name",
        "x",
    ]
    assert main([*common, "-p", "n=1"]) == 0
    out = tmp_path / "r" / "smoke" / "x"
    assert "rows1.csv" in (out / "index.md").read_text()
    assert main([*common, "--force", "-p", "n=2"]) == 0  # this run writes rows2.csv only
    index = (out / "index.md").read_text()
    assert "rows2.csv" in index and "rows1.csv" not in index
    assert not (out / "1_only" / "tables" / "rows1.csv").exists()
    (tmp_path / "r" / "smoke" / "mine").mkdir()
    (tmp_path / "r" / "smoke" / "mine" / "notes.txt").write_text("not a reproduction")
    capsys.readouterr()
    assert main([*common[:-1], "mine", "--force"]) == 1
    assert "not a reproduction directory" in one_line(capsys.readouterr().err)
    assert (tmp_path / "r" / "smoke" / "mine" / "notes.txt").exists()


def test_weights_error_names_the_expected_hash_once(tmp_path):
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(b"not the weights")
    expected = weights.ARTIFACTS["vgg19-gatys"].sources[0].sha256
    assert all(
        s.sha256 == expected for s in weights.ARTIFACTS["vgg19-gatys"].sources
    )  # two sources, one file
    with pytest.raises(weights.WeightsHashError) as raised:
        weights.import_file("vgg19-gatys", wrong)
    assert str(raised.value).count(expected) == 1
