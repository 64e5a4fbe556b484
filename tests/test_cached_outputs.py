"""The booklet and the flashcards come from the PDF cache when what they show has not changed.

A rebuild with nothing changed lays nothing out and writes the same bytes; an edit lays out again only the
edited note's part of the booklet and its sheet of cards.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from generator import build as pipeline
from generator import pdfengine
from generator.writers import cards
from tests.conftest import EPOCH, content_with, note_file

# Three short notes, two cards a sheet: two sheets (two cards, then one), and a short booklet (each question
# opens a page; its parts are 56, then 57 and 58).
NOTES = (56, 57, 58)


def _content(folder: Path) -> Path:
    content = content_with(folder, NOTES)
    shutil.rmtree(content / "figures")
    return content


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_nothing_changed_nothing_laid_out_and_an_edit_lays_out_its_own_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    content = _content(tmp_path)
    # Per layout: the first card's note number, "booklet <first question>" for a part of the booklet, or
    # "booklet" for its contents or page numbers.
    laid_out: list[str] = []
    real_layout, real_write = pdfengine.layout, pdfengine.write_measured

    def layout(document: str, *arguments: Any) -> Any:
        if 'data-question="' in document:
            laid_out.append("booklet " + document.split('data-question="', 1)[1].split('"', 1)[0])
        elif 'class="toc"' in document:
            laid_out.append("booklet")  # its title page and contents
        else:
            laid_out.append(
                document.split('data-fit="front-', 1)[1].split('"', 1)[0] if "data-fit" in document else "?"
            )
        return real_layout(document, *arguments)

    def write_measured(document: str, *arguments: Any) -> tuple[str | None, Any]:
        laid_out.append("booklet")
        return real_write(document, *arguments)

    monkeypatch.setattr(pdfengine, "layout", layout)
    monkeypatch.setattr(pdfengine, "write_measured", write_measured)
    monkeypatch.setattr(cards, "CARDS_PER_SHEET", 2)

    first = pipeline.build(content, tmp_path / "one", ("full", "cards"))
    assert {"booklet", "booklet 56", "56", "58"} <= set(laid_out), laid_out
    assert len(cards.sheets_of(first.deck.notes)) == 2

    laid_out.clear()
    again = pipeline.build(content, tmp_path / "two", ("full", "cards"))
    assert laid_out == [], "a rebuild with nothing changed lays nothing out"
    for before, after in zip(first.written, again.written, strict=True):
        assert _digest(before) == _digest(after), f"{after.name} differs from the build before"

    path = note_file(content, 58)  # alone on the second sheet
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## Key points\n", "## Key points\n\n- One more point.\n", 1), encoding="utf-8")
    laid_out.clear()
    edited = pipeline.build(content, tmp_path / "three", ("full", "cards"))
    assert set(laid_out) - {"booklet"} == {"58", "booklet 57"}, (
        f"only the edited note's part of the booklet and sheet of cards are laid out again: {laid_out}"
    )
    assert _digest(edited.written[0]) != _digest(first.written[0])
    assert _digest(edited.written[1]) != _digest(first.written[1])
    cached = sorted(p.name.split("+")[1].split("-")[0] for p in (tmp_path / "cache" / "pdf").glob("*+*.pdf"))
    # The cache keeps only what the last build used: two sheets of cards; two parts of the booklet, its
    # contents and its page numbers.
    assert cached == ["cards", "cards", "full", "full", "full", "full"], cached
