"""The wheel works anywhere: built from a copy of the sources, installed into a new virtual environment, and run
from an empty folder far from the repository (`studykit init`, then `studykit build apkg html pdf`).

Installing every dependency from PyPI would take minutes, so the new environment gets only the wheel
(`--no-deps`) and finds the dependencies through a .pth file naming the test interpreter's site-packages. A
plain path in a .pth file does not run that folder's own .pth files, so a development install of studykit
there (an editable finder) stays inactive and the wheel's copy is the one that runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import ROOT

# About 15 s on an idle machine; every step together may take at most this long (a busy machine is slower).
BUDGET_SECONDS = 90

pytestmark = pytest.mark.install


def run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=max(timeout, 1)
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_and_builds_a_new_deck_from_anywhere(tmp_path: Path) -> None:
    started = time.monotonic()

    def left() -> float:
        return BUDGET_SECONDS - (time.monotonic() - started)

    # Build from a copy: `pip wheel` writes build/ and *.egg-info beside the sources it builds.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("generator", "templates"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env["STUDYKIT_CACHE_DIR"] = str(tmp_path / "cache")
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip"]
    run(
        *pip,
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        dist,
        source,
        cwd=tmp_path,
        env=env,
        timeout=left(),
    )
    [wheel] = dist.glob("studykit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    for template in ROOT.joinpath("templates").rglob("*"):
        if template.is_file():
            assert f"generator/templates/{template.relative_to(ROOT / 'templates').as_posix()}" in names, template
    for module in ROOT.joinpath("generator").rglob("*.py"):  # pyproject lists the packages: a new one must be added
        assert module.relative_to(ROOT).as_posix() in names, f"{module} is not in the wheel: add its package"
    assert "License-Expression: MIT" in metadata
    for shipped in ("generator/engines/mathjax_bundle.js", "generator/engines/MATHJAX-LICENSE.txt"):
        assert shipped in names, f"{shipped} is not in the wheel"

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path, env=env, timeout=left())
    python = venv / "bin" / "python"
    run(
        *pip,
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=tmp_path,
        env=env,
        timeout=left(),
    )
    site = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path, env=env, timeout=left()
    )
    Path(site.stdout.strip(), "studykit-test-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )

    anywhere = tmp_path / "elsewhere"
    anywhere.mkdir()
    studykit = venv / "bin" / "studykit"
    where = run(
        python,
        "-c",
        "import generator.templating as t; print(t.__file__); print(t.TEMPLATES_DIR)",
        cwd=anywhere,
        env=env,
        timeout=left(),
    )
    module, templates = where.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(templates).is_relative_to(venv), where.stdout

    # What a user's machine has: the virtual environment, no Node.js (the math engine's V8 comes from a wheel).
    bare = {**env, "PATH": str(venv / "bin")}
    assert shutil.which("node", path=bare["PATH"]) is None
    run(studykit, "init", "mydeck", cwd=anywhere, env=bare, timeout=left())
    deck = anywhere / "mydeck"
    # Its math drawn by the wheel's MathJax into the page and the cheat sheet, with the wheel's fonts and templates.
    built = run(studykit, "build", "apkg", "html", "pdf", "-j", "1", cwd=deck, env=bare, timeout=left())
    for suffix in ("apkg", "html", "pdf"):
        output = deck / "build" / f"mydeck.{suffix}"
        assert output.is_file() and output.stat().st_size > 1000, built.stdout
    page = (deck / "build" / "mydeck.html").read_text(encoding="utf-8")
    assert "softmax" in page
    assert page.count('<svg class="math"') >= 3 and 'href="#mjx-' in page, "math not drawn by MathJax"
    sheet = " ".join(page.extract_text() for page in PdfReader(deck / "build" / "mydeck.pdf").pages)
    assert "softmax" in sheet.lower() and "\\max" in sheet, "the sheet's text, its formulas' TeX included"
