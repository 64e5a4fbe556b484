"""The deck imported into a real Anki collection (the `anki` package from PyPI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from anki.collection import Collection

from generator import build as pipeline
from generator.writers import anki as anki_writer
from tests.test_anki_deck import import_package

TEX_OUTSIDE_DELIMITERS = re.compile(r"\\(frac|sum|log|sqrt|mathbf|odot|tanh|hat|tilde)\b")


@pytest.fixture
def collection(col: Collection) -> Collection:
    return col


@pytest.fixture
def imported(collection: Collection, outputs: dict[str, Path]) -> Collection:
    import_package(collection, outputs["apkg"])
    return collection


def notes_in_order(col: Collection) -> list[dict[str, str]]:
    notes = [col.get_note(note_id) for note_id in col.find_notes(f'"note:{anki_writer.NOTE_TYPE_NAME}"')]
    rows = [{name: note[name] for name in anki_writer.FIELDS} | {"tags": " ".join(note.tags)} for note in notes]
    return sorted(rows, key=lambda row: int(row["Number"]))


def test_fifteen_notes_numbered_51_to_65(imported: Collection) -> None:
    numbers = [int(row["Number"]) for row in notes_in_order(imported)]
    assert numbers == list(range(51, 66))


def test_every_field_is_filled(imported: Collection) -> None:
    for row in notes_in_order(imported):
        for name in anki_writer.FIELDS:
            assert row[name].strip(), f"note {row['Number']}: field {name} is empty"
        assert len(row["Full answer"]) > len(row["Key points"]), f"note {row['Number']}: answer shorter than key points"


def test_tags_and_deck_name(imported: Collection, built: pipeline.BuildReport) -> None:
    rows = notes_in_order(imported)
    expected = {note.number: set(note.tags) for note in built.deck.notes}
    for row in rows:
        assert set(row["tags"].split()) == expected[int(row["Number"])]
    deck_names = {deck.name for deck in imported.decks.all_names_and_ids()}
    assert built.deck.title in deck_names
    card_ids = imported.find_cards(f'"deck:{built.deck.title}" "note:{anki_writer.NOTE_TYPE_NAME}"')
    assert len(card_ids) == 15
    assert len(imported.find_cards(f'"deck:{built.deck.title}"')) == len(imported.find_cards(""))


def test_math_is_in_mathjax_delimiters(imported: Collection) -> None:
    for row in notes_in_order(imported):
        for name in ("Key points", "Full answer"):
            field = row[name]
            assert "arithmatex" not in field or "\\(" in field or "\\[" in field
            assert not re.search(r"(?<!\\)\$[^$\s]+\$", field), f"note {row['Number']}: $…$ math left in {name}"
            prose = re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]", "", field, flags=re.DOTALL)
            prose = re.sub(r"<pre\b.*?</pre>|<code\b.*?</code>", "", prose, flags=re.DOTALL)
            leak = TEX_OUTSIDE_DELIMITERS.search(prose)
            assert leak is None, f"note {row['Number']}: TeX {leak.group(0)!r} outside \\(…\\) in {name}"
    softmax = next(row for row in notes_in_order(imported) if row["Number"] == "63")
    assert "\\(" in softmax["Key points"] + softmax["Full answer"]


def test_rendered_cards_show_question_and_answer(imported: Collection) -> None:
    card = imported.get_card(imported.find_cards("Number:51")[0])
    question, answer = card.question(), card.answer()
    assert "fine-tuning" in question.lower()
    assert "Key points" in answer and "Full answer" in answer
    assert "julyedu" in answer, "the source credit is on the back"


def test_less_than_in_math_survives_import(imported: Collection) -> None:
    fields = " ".join(row["Key points"] + row["Full answer"] for row in notes_in_order(imported))
    formulas = re.findall(r"\\\((.*?)\\\)", fields, flags=re.DOTALL)
    assert formulas
    assert not any("<" in formula for formula in formulas), "a raw < inside math is mangled by Anki's editor"
