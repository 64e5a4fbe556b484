"""Shared fixtures: the real content built once per test session into a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator import build as pipeline

ROOT = Path(__file__).resolve().parent.parent
CONTENT_ROOT = ROOT / "content"
CONTENT = CONTENT_ROOT / "dl-interview-51-65"  # the English deck, the one the tests know note by note
TEMPLATES = ROOT / "templates"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> pipeline.BuildReport:
    """Every output of the shipped deck, built once."""
    output = tmp_path_factory.mktemp("build")
    return pipeline.build(CONTENT, output)


@pytest.fixture(scope="session")
def outputs(built: pipeline.BuildReport) -> dict[str, Path]:
    """Each output by what follows the slug in its name: apkg, pdf, html, full.pdf, cards.pdf."""
    return {path.name.split(".", 1)[1]: path for path in built.written}


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A private copy of the content folder that a test may break."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target
