"""Key formulas: `<!-- key -->` marks a display formula; flashcard backs and the cheat sheet show exactly those.

The reader is tested on small notes in-process; the writers on the shipped deck (whose notes the authors
marked as an interviewer would) through their HTML, and the printed cards through the session's PDF.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

from generator import build as pipeline
from generator import reader
from generator.context import BuildContext
from generator.errors import BuildFailed
from generator.model import Deck
from generator.writers import cards, sheet
from tests.conftest import CONTENT, note_file

_ALT = re.compile(r'<span class="math-tex"[^>]*>([^<]*)</span>')
_BACK = re.compile(r'<section class="card back".*?</section>', re.DOTALL)
_SHEET_NOTE = re.compile(r'<article class="note" id="q(\d+)".*?</article>', re.DOTALL)
_FORMULAS = re.compile(r'<div class="(?:formulas|key-formulas)">(.*?)</div>\s*(?:</div>|$)', re.DOTALL)


def _note_with(content: Path, answer: str) -> Path:
    """The content folder with note 51 alone, its full answer replaced by `answer`."""
    for path in content.glob("*.md"):
        if not path.name.startswith("51-"):
            path.unlink()
    shutil.rmtree(content / "figures")
    path = note_file(content, 51)
    text = path.read_text(encoding="utf-8")
    start = text.index("## Full answer")
    end = text.index("## Cloze") if "## Cloze" in text else len(text)
    path.write_text(text[:start] + "## Full answer\n\n" + answer + "\n\n" + text[end:], encoding="utf-8")
    return path


def test_marked_display_formulas_are_the_notes_key_formulas_in_order(content_copy: Path) -> None:
    _note_with(
        content_copy,
        "Intro $a$.\n\n<!-- key -->\n$$\nE = mc^2\n$$\n\nNot key:\n\n$$\nx + y\n$$\n\n"
        "- In a list:\n\n    <!-- KEY -->\n    $$\n    \\frac{p}{q}\n    $$\n\n<!--key-->\n\\[\na < b\n\\]\n",
    )
    (note,) = reader.read_deck(content_copy).deck.notes
    assert [formula.tex for formula in note.key_formulas] == ["E = mc^2", "\\frac{p}{q}", "a < b"]
    assert all(formula.display for formula in note.key_formulas)
    assert "<!--" not in note.answer_html, "the marks are not carried into the outputs"
    assert "x + y" in note.answer_html


def test_a_mark_before_anything_but_a_display_formula_is_an_error_at_its_line(content_copy: Path) -> None:
    path = _note_with(content_copy, "Text.\n\n<!-- key -->\nA paragraph with $x$ inline.\n\n$$\ny\n$$\n")
    with pytest.raises(BuildFailed) as raised:
        reader.read_deck(content_copy)
    lines = path.read_text(encoding="utf-8").split("\n")
    mark_line = lines.index("<!-- key -->") + 1
    message = str(raised.value.message)
    assert f"{path}:{mark_line}:" in message
    assert "marks the display formula right after it" in message


def test_a_mark_inside_code_is_code(content_copy: Path) -> None:
    _note_with(content_copy, "```html\n<!-- key -->\n```\n\n$$\ny\n$$\n")
    (note,) = reader.read_deck(content_copy).deck.notes
    assert note.key_formulas == ()
    assert "&lt;!-- key --&gt;" in note.answer_html


@pytest.fixture(scope="module")
def shipped() -> tuple[Deck, BuildContext]:
    deck = reader.read_deck(CONTENT).deck
    return deck, pipeline.context_for(deck, pipeline.BuildOptions(content_dir=CONTENT))


def _labels(fragment: str) -> list[str]:
    return [" ".join(html.unescape(alt).split()) for alt in _ALT.findall(fragment)]


def _key_texts(deck: Deck, number: int) -> list[str]:
    (note,) = [note for note in deck.notes if note.number == number]
    return [" ".join(formula.tex.split()) for formula in note.key_formulas]


def test_the_shipped_notes_mark_the_formulas_an_interviewer_asks_for(shipped: tuple[Deck, BuildContext]) -> None:
    deck, _ = shipped
    lstm = " ".join(_key_texts(deck, 65))
    for gate in ("f_t", "i_t", "o_t", "C_t", "h_t"):
        assert gate + " &= \\sigma" in lstm or gate + " &=" in lstm or gate + " =" in lstm, gate
    assert "\\gamma" in " ".join(_key_texts(deck, 59)) and "\\sqrt" in " ".join(_key_texts(deck, 59))
    assert "\\log" in " ".join(_key_texts(deck, 52)) and "\\exp" in " ".join(_key_texts(deck, 52))
    assert "p_i - y_i" in " ".join(_key_texts(deck, 63))


def test_each_card_back_shows_exactly_the_marked_formulas(shipped: tuple[Deck, BuildContext]) -> None:
    deck, context = shipped
    backs = _BACK.findall(cards.html_of(deck, context))
    assert len(backs) == len(deck.notes)
    for note, back in zip(sorted(deck.notes, key=lambda n: n.number), _sorted_backs(backs), strict=True):
        shown = _FORMULAS.search(back)
        assert _labels(shown.group(1) if shown else "") == _key_texts(deck, note.number), note.number
    assert "see the deck" not in " ".join(backs), "no placeholder for a figure left out"


def _sorted_backs(backs: list[str]) -> list[str]:
    return sorted(backs, key=lambda back: int(re.search(r'data-fit="back-(\d+)"', back).group(1)))  # type: ignore[union-attr]


def test_the_cheat_sheet_shows_exactly_the_marked_formulas(shipped: tuple[Deck, BuildContext]) -> None:
    deck, context = shipped
    entries = {int(number): entry for number, entry in _entries(sheet.html_of(deck, context))}
    assert sorted(entries) == sorted(note.number for note in deck.notes)
    for note in deck.notes:
        shown = re.search(r'<div class="key-formulas">(.*?)</div>\s*</article>', entries[note.number], re.DOTALL)
        assert _labels(shown.group(1) if shown else "") == _key_texts(deck, note.number), note.number


def _entries(document: str) -> list[tuple[str, str]]:
    return [(found.group(1), found.group(0)) for found in _SHEET_NOTE.finditer(document)]
