"""Headless Chromium for the tests that render the study's HTML (the explorer, the index).

`chromium()` finds the browser or skips (fails under CULTURALSTYLE_REQUIRE_CHROMIUM=1); `probe(page, script)`
loads a copy of a page with `script` appended and returns the JSON the script reported; `screenshot(page)`
returns the rendered pixels at a window size.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Reports `info` (any JSON value) into the page, where --dump-dom finds it.
REPORT_JS = """
function report(info) {
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(info);
  document.body.appendChild(pre);
}
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CULTURALSTYLE_REQUIRE_CHROMIUM") == "1":
        pytest.fail("headless Chromium is required here but not installed (apt-get install chromium)")
    pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")


def run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )


def probe(
    binary: str, page: Path, script: str, workdir: Path, *, window: tuple[int, int] = (1400, 900)
) -> dict:
    """Load `page` (a copy beside it, with `script` appended before </body>) and return what it reported.

    `script` calls `report(info)` once when it has its answer.
    """
    head, tag, tail = page.read_text(encoding="utf-8").rpartition("</body>")
    probed = page.with_name(f"probe-{window[0]}x{window[1]}-{page.name}")
    probed.write_text(head + f"<script>{REPORT_JS}\n{script}</script>" + tag + tail, encoding="utf-8")
    try:
        dom = run(
            binary,
            workdir / f"profile-dom-{window[0]}",
            "--virtual-time-budget=15000",
            f"--window-size={window[0]},{window[1]}",
            "--dump-dom",
            probed.as_uri(),
        )
    finally:
        probed.unlink(missing_ok=True)
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"the probe did not report; chromium stderr: {dom.stderr[-2000:]}"
    text = match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&"))


def screenshot(binary: str, page: Path, workdir: Path, *, window: tuple[int, int]) -> np.ndarray:
    """The page rendered at `window` (width, height) as an H x W x 3 float array."""
    from PIL import Image

    shot = workdir / f"shot-{window[0]}x{window[1]}.png"
    result = run(
        binary,
        workdir / f"profile-shot-{window[0]}",
        "--virtual-time-budget=15000",
        f"--window-size={window[0]},{window[1]}",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert shot.exists(), f"no screenshot; chromium stderr: {result.stderr[-2000:]}"
    return np.asarray(Image.open(shot).convert("RGB"), dtype=float)
