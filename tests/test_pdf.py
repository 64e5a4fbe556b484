"""The cheat sheet read back: text, order, fonts, metadata."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pdfplumber
import pytest
from pypdf import PdfReader

from generator import build as pipeline


@pytest.fixture(scope="module")
def pdf_text(outputs: dict[str, Path]) -> str:
    """The text in reading order: each page's left column, then its right column."""
    parts = []
    with pdfplumber.open(outputs["pdf"]) as pdf:
        for page in pdf.pages:
            middle = page.width / 2
            for box in ((0, 0, middle, page.height), (middle, 0, page.width, page.height)):
                parts.append(page.crop(box).extract_text() or "")
    return "\n".join(parts)


def test_every_question_in_order(pdf_text: str, built: pipeline.BuildReport) -> None:
    # Whitespace is dropped on both sides: line breaks in the columns fall anywhere.
    flat = "".join(pdf_text.split())
    positions = []
    for note in built.deck.notes:
        start = "".join(note.question.split())[:40]
        position = flat.find(start)
        assert position >= 0, f"question {note.number} missing from the PDF: {start!r}"
        positions.append(position)
    assert positions == sorted(positions), "questions are out of order"


def test_no_tex_source_leaks(pdf_text: str) -> None:
    for marker in ("\\frac", "\\(", "\\[", "$$", "\\mathbf", "\\sum", "arithmatex"):
        assert marker not in pdf_text, f"TeX source {marker!r} leaked into the PDF text"
    assert not re.search(r"\$[A-Za-z\\]", pdf_text), "a $…$ formula leaked into the PDF text"


def test_every_font_embedded(outputs: dict[str, Path]) -> None:
    reader = PdfReader(outputs["pdf"])
    fonts: dict[str, bool] = {}
    for page in reader.pages:
        resources = page.get("/Resources")
        for font in (resources.get("/Font") or {}).values() if resources else []:
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            descriptor = descendant.get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor else {}
            embedded = any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
            fonts[str(font.get("/BaseFont"))] = embedded
    assert fonts, "no fonts found"
    assert all(fonts.values()), f"fonts not embedded: {[name for name, ok in fonts.items() if not ok]}"


@pytest.mark.skipif(
    subprocess.run(["which", "pdffonts"], capture_output=True).returncode != 0, reason="poppler-utils absent"
)
def test_pdffonts_reports_all_embedded(outputs: dict[str, Path]) -> None:
    report = subprocess.run(["pdffonts", str(outputs["pdf"])], capture_output=True, text=True, check=True).stdout
    rows = report.splitlines()[2:]
    assert rows
    for row in rows:
        assert " yes " in row.split("Identity-H")[-1] or row.split()[-5] == "yes", row


def test_metadata_and_credit(outputs: dict[str, Path], pdf_text: str, built: pipeline.BuildReport) -> None:
    meta = PdfReader(outputs["pdf"]).metadata
    assert meta is not None
    assert meta.title and built.deck.title in meta.title
    assert meta.author and "julyedu" in meta.author
    assert "julyedu" in pdf_text and "CC BY-SA 4.0" in pdf_text


def test_math_is_vector(outputs: dict[str, Path]) -> None:
    """Formulas are drawn as paths: the PDF has no raster image for them."""
    reader = PdfReader(outputs["pdf"])
    images = sum(len(page.images) for page in reader.pages)
    assert images == 0
