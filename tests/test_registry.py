"""The writer registry is the one list of outputs: build, command line, --help and README follow it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import build as pipeline
from generator import writers
from generator.cli import cli
from generator.context import BuildContext
from generator.errors import UsageError
from generator.model import Deck
from tests.conftest import ROOT


def test_readme_table_is_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- outputs -->\n(.*?)\n<!-- /outputs -->", readme, re.DOTALL)
    assert found, "README.md has no generated output table"
    assert found.group(1) == writers.table(), "README's table is stale: run `make readme`"


def test_every_writer_in_help_and_choices() -> None:
    shown = CliRunner().invoke(cli, ["build", "--help"])
    assert shown.exit_code == 0
    for writer in writers.WRITERS.values():
        assert writer.name in shown.output and writer.description[:30] in " ".join(shown.output.split())
    assert set(writers.names()) == {"apkg", "pdf", "html", "full", "cards", "tsv"}


def test_names_and_suffixes_are_unique() -> None:
    suffixes = [writer.suffix for writer in writers.WRITERS.values()]
    assert len(set(suffixes)) == len(suffixes)


def test_a_writer_added_to_the_registry_is_built(
    monkeypatch: pytest.MonkeyPatch, content_copy: Path, tmp_path: Path
) -> None:
    """Everything a new output needs is its registry entry: build() finds, stages and reports it."""
    seen: list[tuple[str, str]] = []

    def write(deck: Deck, target: Path, context: BuildContext) -> writers.WriteResult:
        target.write_text(f"{deck.slug} {len(deck.notes)} {context.paper}", encoding="utf-8")
        seen.append((deck.slug, context.created))
        return writers.WriteResult(notices=["extra: done"])

    extra = writers.Writer("extra", "extra.txt", "a test output", write)
    monkeypatch.setitem(writers.WRITERS, "extra", extra)
    report = pipeline.build(content_copy, tmp_path, ("extra",), paper="Letter")
    assert [path.name for path in report.written] == ["dl-interview-51-65.extra.txt"]
    assert (tmp_path / "dl-interview-51-65.extra.txt").read_text(encoding="utf-8") == "dl-interview-51-65 15 letter"
    assert report.notices == ["extra: done"] and len(seen) == 1


def test_unknown_output_is_a_usage_error(content_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown output nope"):
        pipeline.build(content_copy, tmp_path, ("nope",))


def test_writers_are_frozen_declarations() -> None:
    writer = writers.WRITERS["tsv"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        writer.name = "other"  # type: ignore[misc]
