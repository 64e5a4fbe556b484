"""Removed notes and changed ids: warnings (shown under --quiet too) with a search that finds only the old note."""

from __future__ import annotations

import os
import re
from pathlib import Path

import genanki
import pytest
from anki.collection import Collection
from click.testing import CliRunner

from generator import build as pipeline
from generator.cli import cli
from tests.test_anki_deck import SLUG, import_package


@pytest.fixture
def dated(content_copy: Path) -> Path:
    for path in content_copy.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    return content_copy


def search_of(warning_hint: str) -> str:
    found = re.search(r"finds it and nothing else: (.*)$", warning_hint)
    assert found, warning_hint
    return found.group(1)


def test_removed_note_warns_with_a_search_for_that_note_only(col: Collection, dated: Path, tmp_path: Path) -> None:
    output = tmp_path / "build"
    pipeline.build(dated, output, ("apkg",))
    import_package(col, output / f"{SLUG}.apkg")
    next(dated.glob("57-*.md")).unlink()
    report = pipeline.build(dated, output, ("apkg",))
    (warning,) = [w for w in report.warnings if "no longer in the deck" in w.message]
    assert warning.severity == "warning" and warning.message.startswith("note 57 ")
    found = col.find_notes(search_of(warning.hint))
    assert len(found) == 1 and col.get_note(found[0])["Number"] == "57"


def test_changed_id_warns_at_the_id_line_and_the_search_skips_the_new_note(
    col: Collection, dated: Path, tmp_path: Path
) -> None:
    output = tmp_path / "build"
    pipeline.build(dated, output, ("apkg",))
    import_package(col, output / f"{SLUG}.apkg")
    note = next(dated.glob("58-*.md"))
    text = note.read_text(encoding="utf-8")
    note.write_text(re.sub(r"(?m)^id: .*$", "id: brand-new-id-58", text, count=1), encoding="utf-8")
    report = pipeline.build(dated, output, ("apkg",))
    (warning,) = [w for w in report.warnings if "new id" in w.message]
    assert warning.location.path == note
    assert warning.location.line == text.split("\n").index(next(x for x in text.split("\n") if x.startswith("id:"))) + 1
    assert not [w for w in report.warnings if "no longer in the deck" in w.message], "reported twice"
    import_package(col, output / f"{SLUG}.apkg")
    assert len(col.find_notes('"Number:58"')) == 2, "Anki keeps both: that is what the warning is about"
    only_old = col.find_notes(search_of(warning.hint))
    old_id = re.search(r"(?m)^id: (.*)$", text).group(1).strip()  # type: ignore[union-attr]
    assert [col.get_note(nid).guid for nid in only_old] == [str(genanki.guid_for(old_id))]


def test_removal_warning_survives_quiet(dated: Path, tmp_path: Path) -> None:
    output = tmp_path / "build"
    runner = CliRunner()
    first = runner.invoke(cli, ["build", "apkg", "-q", "--content", str(dated), "--output", str(output)])
    assert first.exit_code == 0, first.output
    next(dated.glob("60-*.md")).unlink()
    quiet = runner.invoke(cli, ["build", "apkg", "-q", "--content", str(dated), "--output", str(output)])
    assert quiet.exit_code == 0
    assert "warning: note 60 " in quiet.stderr and "nid:" in quiet.stderr
    assert "wrote" not in quiet.stdout
