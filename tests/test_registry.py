"""The writer registry is the one list of outputs: build, command line, --help and README follow it."""

from __future__ import annotations

import dataclasses
import re
import shutil
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


def test_a_failure_in_the_second_deck_keeps_the_first_decks_previous_outputs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from generator.context import BuildOptions
    from generator.errors import OutputError
    from tests.conftest import CONTENT_ROOT, break_writer

    content = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT, content, ignore=shutil.ignore_patterns("figures"))  # tsv needs no figures
    for deck in content.iterdir():
        (deck / "figures").mkdir()
        for svg in (CONTENT_ROOT / deck.name / "figures").glob("*.svg"):
            shutil.copy(svg, deck / "figures" / svg.name)
    output = tmp_path / "out"
    pipeline.run_all(BuildOptions(content, output, ("tsv",)))
    before = {path.name: path.read_bytes() for path in output.iterdir()}
    tsv = writers.WRITERS["tsv"]

    def fails_for_the_chinese_deck(deck: Deck, target: Path, context: BuildContext) -> writers.WriteResult | None:
        if deck.slug.endswith("-zh"):
            raise OSError(28, "No space left on device", str(target))
        return tsv.write(deck, target, context)

    break_writer(monkeypatch, "tsv", fails_for_the_chinese_deck)
    english = next(content.glob("dl-interview-51-65/51-*.md"))
    english.write_text(english.read_text(encoding="utf-8").replace("## Full answer", "## Full answer\n\nNew.", 1))
    with pytest.raises(OutputError):
        pipeline.run_all(BuildOptions(content, output, ("tsv",)))
    assert {path.name: path.read_bytes() for path in output.iterdir()} == before
