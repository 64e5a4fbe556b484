"""Formulas in the PDFs read back as text: each one's TeX lies, invisible, over its drawing (issue 15).

Copying, searching and screen readers get a formula from its text layer; paper shows the drawing only.
Every check reads the session's build with pdftotext, which poppler-utils provides.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageChops

from generator import build as pipeline
from generator.markup import iter_math

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None, reason="poppler-utils absent"
)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _text(path: Path) -> str:
    """The PDF's text in poppler's reading order, whitespace normalised."""
    return _flat(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout)


def _key_point_formulas(report: pipeline.BuildReport) -> list[tuple[int, list[str]]]:
    """Each note's number and the TeX of its key points' formulas (inline and display), whitespace normalised."""
    return [(note.number, [_flat(math.tex) for math in iter_math(note.key_points_html)]) for note in report.deck.notes]


@pytest.fixture(scope="module")
def sheet_text(outputs: dict[str, Path]) -> str:
    return _text(outputs["pdf"])


def test_every_key_point_formula_is_text_on_the_cheat_sheet(built: pipeline.BuildReport, sheet_text: str) -> None:
    notes = _key_point_formulas(built)
    assert sum(len(formulas) for _, formulas in notes) >= 30, "the deck's key points have lost their formulas"
    assert any(formulas for _, formulas in notes if any("\\" in tex for tex in formulas))
    for number, formulas in notes:
        cursor = 0
        for tex in formulas:
            # In the note's order: each formula after the one before it.
            found = sheet_text.find(tex, cursor)
            assert found >= 0, f"note {number}: formula {tex!r} not in the cheat sheet's text (after {cursor})"
            cursor = found + len(tex)


def test_formulas_read_in_line_with_their_sentence(sheet_text: str) -> None:
    """Inline formulas sit in the sentence, not on lines of their own: the text reads on through them."""
    assert (
        "An LSTM adds a cell state C_t updated additively: C_t = f_t \\odot C_{t-1} + i_t \\odot \\tilde C_t."
    ) in sheet_text
    assert "variance \\sigma_B^2, then apply a learned scale \\gamma and shift \\beta" in sheet_text


def test_key_formulas_are_text_on_the_sheet_and_the_cards(
    built: pipeline.BuildReport, outputs: dict[str, Path]
) -> None:
    """The formulas the author marked key are printed under the key points of both: each is in the text."""
    key = [_flat(formula.tex) for note in built.deck.notes for formula in note.key_formulas]
    assert len(key) >= 15
    for output in ("pdf", "cards.pdf"):
        text = _text(outputs[output])
        missing = [tex for tex in key if tex not in text]
        assert not missing, f"{output}: {missing}"


def test_booklet_formulas_are_text(built: pipeline.BuildReport, outputs: dict[str, Path]) -> None:
    """The booklet prints every note's key points and full answer: each of their formulas is in its text."""
    text = _text(outputs["full.pdf"])
    formulas = {
        _flat(math.tex)
        for note in built.deck.notes
        for fragment in (note.key_points_html, note.answer_html)
        for math in iter_math(fragment)
    }
    missing = sorted(tex for tex in formulas if tex not in text)
    assert len(formulas) > 100
    assert not missing, f"{len(missing)} of {len(formulas)} formulas not in the booklet's text: {missing[:5]}"


def test_card_formulas_are_text(built: pipeline.BuildReport, outputs: dict[str, Path]) -> None:
    """A card's back holds its note's key points (cut short if long), so most key-point formulas are there."""
    text = _text(outputs["cards.pdf"])
    formulas = [tex for _, found in _key_point_formulas(built) for tex in found]
    present = [tex for tex in formulas if tex in text]
    assert len(present) >= len(formulas) * 0.8, sorted(set(formulas) - set(present))


def _without_invisible_text(source: Path, target: Path) -> int:
    """Copy the PDF leaving out the text drawn at zero opacity (ExtGState /ca 0); how many text objects went."""
    dropped = 0
    with pikepdf.open(source) as pdf:
        for page in pdf.pages:
            states = page.Resources.get("/ExtGState", {})
            alpha, stack = 1.0, []
            kept: list[pikepdf.ContentStreamInstruction] = []
            invisible_text = False
            for instruction in pikepdf.parse_content_stream(page):
                operator = str(instruction.operator)
                if operator == "q":
                    stack.append(alpha)
                elif operator == "Q":
                    alpha = stack.pop()
                elif operator == "gs":
                    alpha = float(states[instruction.operands[0]].get("/ca", alpha))
                elif operator == "BT" and alpha == 0:
                    invisible_text = True
                    dropped += 1
                if not invisible_text:
                    kept.append(instruction)
                if operator == "ET":
                    invisible_text = False
            page.Contents = pdf.make_stream(pikepdf.unparse_content_stream(kept))
        pdf.save(target)
    return dropped


def _render(path: Path, page: int, prefix: Path) -> Image.Image:
    subprocess.run(
        ["pdftoppm", "-r", "60", "-f", str(page), "-l", str(page), "-png", "-singlefile", str(path), str(prefix)],
        check=True,
    )
    return Image.open(prefix.with_suffix(".png")).convert("RGB")


def test_the_text_layer_does_not_show(outputs: dict[str, Path], tmp_path: Path) -> None:
    """The formulas' text is exactly the page's zero-opacity text, and taking it away leaves the page as it was."""
    sheet = outputs["pdf"]
    stripped = tmp_path / "no-text-layer.pdf"
    assert _without_invisible_text(sheet, stripped) >= 30
    left = _text(stripped)
    assert "t_x = (G_x - P_x)/P_w" not in left and "\\log" not in left, "formula text drawn visible"
    assert "Learn offsets from proposal to ground truth :" in left, "visible text went with the text layer"
    for page in (1, 2):
        shown = _render(sheet, page, tmp_path / f"shown-{page}")
        without = _render(stripped, page, tmp_path / f"without-{page}")
        assert ImageChops.difference(shown, without).getbbox() is None, f"page {page}: the text layer shows"
