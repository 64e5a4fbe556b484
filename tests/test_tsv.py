"""The sixth output, added through the writer registry alone: Anki's plain-text import format.

Checked the way a user would use it: the .apkg is imported into a real Anki collection, then the
.tsv is imported into the same collection with Anki's own text importer, and it updates those
notes (matched by guid) instead of adding new ones.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from pathlib import Path

from anki.collection import Collection, ImportCsvRequest
from anki.import_export_pb2 import CsvMetadata

from generator import build as pipeline
from generator import writers
from generator.cli import cli
from generator.writers import anki as anki_writer
from tests.test_anki_deck import SLUG, import_package


def import_text(col: Collection, path: Path) -> dict[str, int]:
    """Import with Anki's text importer, taking every setting from the file's own header lines."""
    metadata = col.get_csv_metadata(path=str(path), delimiter=None)
    assert metadata.dupe_resolution == CsvMetadata.DupeResolution.UPDATE
    log = col.import_csv(ImportCsvRequest(path=str(path), metadata=metadata)).log
    names = ("new", "updated", "duplicate", "conflicting", "missing_notetype", "missing_deck", "empty_first_field")
    return {name: len(getattr(log, name)) for name in names}


def test_tsv_is_a_registered_output_with_a_command_line_name() -> None:
    assert "tsv" in writers.names()
    build = next(command for name, command in cli.commands.items() if name == "build")
    choices = next(param for param in build.params if param.name == "outputs").type.choices  # type: ignore[attr-defined]
    assert "tsv" in choices
    assert "tsv" in writers.table() and "<slug>.tsv" in writers.table()


def test_header_and_rows_carry_the_apkg_fields_and_guids(tmp_path: Path, content_copy: Path) -> None:
    report = pipeline.build(content_copy, tmp_path, ("apkg", "tsv"))
    tsv = tmp_path / f"{SLUG}.tsv"
    text = tsv.read_text(encoding="utf-8")
    lines = text.split("\n")
    header = list(itertools.takewhile(lambda line: line.startswith("#"), lines))
    assert header == [
        "#separator:tab",
        "#html:true",
        "#notetype column:1",
        "#deck column:2",
        "#guid column:3",
        "#tags column:4",
    ]
    # Fields with line breaks (code blocks) are quoted, CSV style: read as one stream, not line by line.
    rows = list(csv.reader(io.StringIO("\n".join(lines[len(header) :])), delimiter="\t"))
    packed = anki_writer.read_package(tmp_path / f"{SLUG}.apkg")
    assert len(rows) == len(packed) == 15 + sum(len(note.clozes) for note in report.deck.notes)
    for note_type, deck_title, guid, tags, *fields in rows:
        assert deck_title == report.deck.title
        assert guid in packed, f"guid {guid} is not in the .apkg"
        assert fields == packed[guid].fields
        assert sorted(tags.split()) == sorted(packed[guid].tags)
        expected_type = anki_writer.CLOZE_TYPE_NAME if len(fields) == len(anki_writer.CLOZE_FIELDS) else None
        assert note_type == (expected_type or anki_writer.NOTE_TYPE_NAME)


def test_text_import_updates_the_notes_the_apkg_created(col: Collection, tmp_path: Path, content_copy: Path) -> None:
    for path in content_copy.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    output = tmp_path / "build"
    pipeline.build(content_copy, output, ("apkg", "tsv"))
    created = import_package(col, output / f"{SLUG}.apkg")["new"]
    assert created >= 15

    unchanged = import_text(col, output / f"{SLUG}.tsv")
    assert unchanged["new"] == 0 and unchanged["missing_notetype"] == 0 and unchanged["conflicting"] == 0, unchanged
    assert unchanged["duplicate"] + unchanged["updated"] == created, unchanged
    assert col.note_count() == created

    note = next(content_copy.glob("54-*.md"))
    note.write_text(note.read_text(encoding="utf-8").replace("## Full answer", "## Full answer\n\nEdited.", 1))
    pipeline.build(content_copy, output, ("tsv",))
    edited = import_text(col, output / f"{SLUG}.tsv")
    assert edited["new"] == 0 and edited["updated"] == 1, edited
    assert col.note_count() == created
    assert "Edited." in col.get_note(col.find_notes("Number:54")[0])["Full answer"]
