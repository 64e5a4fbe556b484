"""The cheat sheet read back as a reader sees it: pages, outline, fonts, layout, metadata, header and footer."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pdfplumber.utils import extract_text, extract_words
from pypdf import PdfReader

from generator import build as pipeline
from generator.markup import MATH_SPAN
from generator.model import Note
from generator.writers import sheet as pdf_writer
from tests import pdfread
from tests.conftest import CONTENT, EPOCH, Background

MM = 72 / 25.4
A4 = (210 * MM, 297 * MM)
LETTER = (612.0, 792.0)
# Header and footer sit in the page margins (14 mm top, 15 mm bottom); text within 12 mm of an edge is theirs.
BAND = 12 * MM


def build_joined_parts(folder: Path) -> Path:
    """The cheat sheet on letter paper, in parts of eight and seven notes, joined (run on the background process)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        patch.setattr(pdf_writer, "_PART_MIN", 8)
        patch.setattr(pdf_writer, "_PART_SPREAD", 1)
        patch.setattr(pdf_writer, "_PART_MAX", 8)
        assert [len(part) for part in pdf_writer.parts_of(pipeline.check(CONTENT).deck.notes)] == [8, 7]
        (path,) = pipeline.build(CONTENT, folder, ("pdf",), paper="letter").written
    return path


# Each shape of the sheet by its paper size, in points.
PAPER = {"one part": A4, "joined parts on letter": LETTER}


@pytest.fixture(scope="module", params=list(PAPER))
def sheet(
    request: pytest.FixtureRequest, built: pipeline.BuildReport, outputs: dict[str, Path], background: Background
) -> tuple[pipeline.BuildReport, Path]:
    """The cheat sheet, built with SOURCE_DATE_EPOCH set; every test below runs on both shapes.

    "one part" is the session's build (A4). A bank of hundreds of notes is rendered in parts and joined;
    "joined parts on letter" cuts the fifteen notes into parts of eight and seven so that the joined file meets
    every check the whole one does, on the other paper size (built on the background process, which the
    session's build started).
    """
    if request.param == "one part":
        assert len(pdf_writer.parts_of(built.deck.notes)) == 1
        return built, outputs["pdf"]
    path: Path = background.result("tests.test_cheatsheet:build_joined_parts", outputs["pdf"].parent.parent / "joined")
    assert path.name == outputs["pdf"].name
    return built, path


@dataclass(frozen=True)
class SheetPage:
    header: str  # the text within BAND of the top edge
    footer: str  # the text within BAND of the bottom edge
    corner: str  # the bottom-right corner, word by word left to right
    images: int  # raster images drawn


@dataclass(frozen=True)
class SheetRead:
    words: list[dict[str, Any]]  # every word of the body (header and footer left out), tagged with page and column
    text: str  # the text in reading order: each page's left column, then its right column (header and footer too)
    pages: list[SheetPage]


@pytest.fixture(scope="module")
def sheet_read(sheet: tuple[pipeline.BuildReport, Path], background: Background) -> SheetRead:
    """The sheet read on the background process (the session's build started it)."""
    read: SheetRead = background.result("tests.test_cheatsheet:read_sheet", sheet[1])
    return read


def words_of(chars: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The characters grouped into words as pdfplumber groups them; a formula's TeX (the text layer, in the
    monospaced font) is a word apart from the text around it."""
    words: list[dict[str, Any]] = extract_words(chars, extra_attrs=["fontname"])
    return words


def read_sheet(path: Path) -> SheetRead:
    """The sheet read once (with PDFium, tests/pdfread.py; words and lines as pdfplumber groups them): its
    words, its text, each page's header and footer."""
    found: list[dict[str, Any]] = []
    parts: list[str] = []
    pages: list[SheetPage] = []
    for page in pdfread.read(path, graphics=True):
        within = page.chars_within
        middle = page.width / 2
        for column, (x0, x1) in enumerate(((0, middle), (middle, page.width))):
            for word in words_of(within(x0, BAND, x1, page.height - BAND)):
                found.append({"page": page.page_number, "column": column, **word})
            parts.append(extract_text(within(x0, 0, x1, page.height)))
        header = extract_text(within(0, 0, page.width, BAND))
        footer = extract_text(within(0, page.height - BAND, page.width, page.height))
        # The credit beside the page number wraps onto two lines: the corner is read word by word.
        corner = words_of(within(page.width * 0.8, page.height - BAND, page.width, page.height))
        pages.append(
            SheetPage(
                header=" ".join(header.split()),
                footer=" ".join(footer.split()),
                corner=" ".join(w["text"] for w in sorted(corner, key=lambda w: w["x0"])),
                images=sum(1 for drawn in page.graphics if drawn["kind"] == "image"),
            )
        )
    return SheetRead(found, "\n".join(parts), pages)


@pytest.fixture(scope="module")
def words(sheet_read: SheetRead) -> list[dict[str, Any]]:
    return sheet_read.words


def _flat(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _plain(fragment: str) -> str:
    """A note's HTML as the words a reader sees, formulas (drawn as paths, not text) left out."""
    return html.unescape(re.sub(r"<[^>]+>", " ", MATH_SPAN.sub(" ", fragment)))


def _question_start(words: list[dict[str, Any]], note: Note, after: int) -> int:
    """Index of the note's number badge: the word `51` followed by the question's first words."""
    wanted = _flat(note.question)[:24]
    for index in range(after, len(words)):
        if words[index]["text"] == str(note.number):
            following = _flat("".join(w["text"] for w in words[index + 1 : index + 8]))
            if following.startswith(wanted) or wanted.startswith(following):
                return index
    raise AssertionError(f"question {note.number} not found in the PDF after word {after}")


def test_at_most_four_pages_of_its_paper(
    sheet: tuple[pipeline.BuildReport, Path], request: pytest.FixtureRequest
) -> None:
    paper = PAPER[request.node.callspec.params["sheet"]]
    reader = PdfReader(sheet[1])
    assert 1 <= len(reader.pages) <= 4
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert width == pytest.approx(paper[0], abs=0.5) and height == pytest.approx(paper[1], abs=0.5)


def test_outline_has_every_question_in_order(sheet: tuple[pipeline.BuildReport, Path]) -> None:
    report, path = sheet
    reader = PdfReader(path)
    entries = [entry for entry in reader.outline if not isinstance(entry, list)]
    assert len(entries) == len(report.deck.notes) == 15
    for entry, note in zip(entries, report.deck.notes, strict=True):
        assert " ".join(entry.title.split()) == f"{note.number} {note.question}"
    pages = [reader.get_destination_page_number(entry) for entry in entries]
    assert pages == sorted(pages)


def test_outline_entries_point_at_their_question(
    sheet: tuple[pipeline.BuildReport, Path], words: list[dict[str, Any]]
) -> None:
    report, path = sheet
    reader = PdfReader(path)
    entries = [entry for entry in reader.outline if not isinstance(entry, list)]
    cursor = 0
    for entry, note in zip(entries, report.deck.notes, strict=True):
        cursor = _question_start(words, note, cursor)
        assert reader.get_destination_page_number(entry) + 1 == words[cursor]["page"], note.number


def test_every_font_embedded(sheet: tuple[pipeline.BuildReport, Path]) -> None:
    assert_fonts_embedded(sheet[1])


def assert_fonts_embedded(path: Path) -> None:
    """Every font of every page (and of the form XObjects they draw) carries its font file."""
    reader = PdfReader(path)
    fonts: dict[str, bool] = {}

    def visit(resources: Any) -> None:
        if not resources:
            return
        resources = resources.get_object()
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            descriptor = descendant.get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor else {}
            fonts[str(font.get("/BaseFont"))] = any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
        for xobject in (resources.get("/XObject") or {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Form":
                visit(xobject.get("/Resources"))

    for page in reader.pages:
        visit(page.get("/Resources"))
    assert fonts, "no fonts found"
    assert all(fonts.values()), f"fonts not embedded: {[name for name, ok in fonts.items() if not ok]}"


def test_no_note_split_across_a_column_or_page(
    sheet: tuple[pipeline.BuildReport, Path], words: list[dict[str, Any]]
) -> None:
    notes = sheet[0].deck.notes
    starts = []
    cursor = 0
    for note in notes:
        cursor = _question_start(words, note, cursor)
        starts.append(cursor)
    for index, note in enumerate(notes):
        start = starts[index]
        end = starts[index + 1] if index + 1 < len(notes) else len(words)
        last_word = _flat(_plain(note.key_points_html).split()[-1])
        ends = [i for i in range(start, end) if _flat(words[i]["text"]).endswith(last_word)]
        assert ends, f"note {note.number}: last key-point word {last_word!r} not found after its question"
        first, last = words[start], words[ends[-1]]
        assert (first["page"], first["column"]) == (last["page"], last["column"]), (
            f"note {note.number} starts on page {first['page']} column {first['column']} "
            f"but ends on page {last['page']} column {last['column']}"
        )
        assert {(w["page"], w["column"]) for w in words[start : ends[-1] + 1]} == {(first["page"], first["column"])}


def test_no_tex_source_leaks(sheet_read: SheetRead) -> None:
    """No formula is left unrendered in its delimiters (its TeX itself is in the text: the invisible text layer)."""
    for marker in ("\\(", "\\[", "$$", "arithmatex"):
        assert marker not in sheet_read.text, f"TeX source {marker!r} leaked into the PDF text"
    assert not re.search(r"\$[A-Za-z\\]", sheet_read.text), "a $…$ formula leaked into the PDF text"


def test_math_is_vector(sheet_read: SheetRead) -> None:
    """Formulas are drawn as paths: the PDF has no raster image for them."""
    assert sum(page.images for page in sheet_read.pages) == 0


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils absent")
def test_pdffonts_reports_all_embedded(sheet: tuple[pipeline.BuildReport, Path]) -> None:
    report = subprocess.run(["pdffonts", str(sheet[1])], capture_output=True, text=True, check=True).stdout
    rows = report.splitlines()[2:]
    assert rows
    for row in rows:
        assert " yes " in row.split("Identity-H")[-1] or row.split()[-5] == "yes", row


def test_metadata(sheet: tuple[pipeline.BuildReport, Path]) -> None:
    report, path = sheet
    reader = PdfReader(path)
    meta = reader.metadata
    assert meta is not None
    assert meta.title and report.deck.title in meta.title
    assert meta.author == report.deck.author and "julyedu" in meta.author
    assert reader.trailer["/Root"]["/Lang"] == report.deck.language
    assert meta.creation_date == datetime.fromtimestamp(EPOCH, UTC)


def test_header_and_footer_on_every_page(sheet: tuple[pipeline.BuildReport, Path], sheet_read: SheetRead) -> None:
    report = sheet[0]
    total = len(sheet_read.pages)
    assert total == len(PdfReader(sheet[1]).pages)
    for number, page in enumerate(sheet_read.pages, start=1):
        assert report.deck.title in page.header, (number, page.header)
        assert page.corner == f"page {number} of {total}"
        assert "julyedu" in page.footer and "CC BY-SA 4.0" in page.footer and "ld246.com" in page.footer, (
            number,
            page.footer,
        )


def test_tagged_pdf(sheet: tuple[pipeline.BuildReport, Path]) -> None:
    root = PdfReader(sheet[1]).trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in root


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="poppler-utils absent")
def test_pdfinfo_says_tagged(sheet: tuple[pipeline.BuildReport, Path]) -> None:
    info = subprocess.run(["pdfinfo", str(sheet[1])], capture_output=True, text=True, check=True).stdout
    assert re.search(r"(?m)^Tagged:\s+yes$", info), info


# The full-answer booklet (build/<slug>.full.pdf), the cheat sheet's long companion.


@pytest.fixture(scope="module")
def booklet(built: pipeline.BuildReport, outputs: dict[str, Path]) -> tuple[pipeline.BuildReport, Path]:
    """The session's build of the booklet."""
    return built, outputs["full.pdf"]


@dataclass(frozen=True)
class BookletPage:
    text: str
    header: str
    footer: str
    code_colours: frozenset[tuple[float, ...]]


def read_booklet(path: Path) -> list[BookletPage]:
    """Each page read once (with PDFium: pdfplumber takes 15 s on the booklet): text, header, footer, code colours."""
    band = 16 * MM
    pages = []
    for page in pdfread.read(path):
        pages.append(
            BookletPage(
                text=page.text,
                header=" ".join(page.text_within(0, 0, page.width, band).split()),
                footer=" ".join(page.text_within(0, page.height - band, page.width, page.height).split()),
                code_colours=frozenset(
                    tuple(round(float(v), 2) for v in char["non_stroking_color"])
                    for char in page.chars
                    if "Mono" in char["fontname"] and char["non_stroking_color"]
                ),
            )
        )
    return pages


@pytest.fixture(scope="module")
def booklet_read(booklet: tuple[pipeline.BuildReport, Path], background: Background) -> list[BookletPage]:
    """The booklet read on the background process (the session's build started it)."""
    pages: list[BookletPage] = background.result("tests.test_cheatsheet:read_booklet", booklet[1])
    return pages


@pytest.fixture(scope="module")
def booklet_pages(booklet_read: list[BookletPage]) -> list[str]:
    return [page.text for page in booklet_read]


def _question_pattern(note: Note) -> str:
    return r"\s+".join(re.escape(word) for word in note.question.split())


def test_booklet_pages(booklet: tuple[pipeline.BuildReport, Path]) -> None:
    _, path = booklet
    assert path.name == "dl-interview-51-65.full.pdf"
    reader = PdfReader(path)
    # Title, contents, the answers: several questions may share a page (tests/test_page_flow.py).
    assert len(reader.pages) >= 3
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A4, abs=0.5)


def test_booklet_title_page_has_the_credit(
    booklet: tuple[pipeline.BuildReport, Path], booklet_pages: list[str]
) -> None:
    deck = booklet[0].deck
    title_page = "".join(booklet_pages[0].split())
    assert "".join(deck.title.split()) in title_page
    assert "".join(deck.credit.split()) in title_page


def test_booklet_outline_one_entry_per_question_pointing_at_its_heading(
    booklet: tuple[pipeline.BuildReport, Path], booklet_pages: list[str]
) -> None:
    report, path = booklet
    reader = PdfReader(path)
    entries = [entry for entry in reader.outline if not isinstance(entry, list)]
    assert [" ".join(entry.title.split()) for entry in entries] == [
        f"{note.number} {note.question}" for note in report.deck.notes
    ]
    pages = [reader.get_destination_page_number(entry) for entry in entries]
    assert pages == sorted(pages) and pages[0] == 2, "in order, the first on the page after the contents"
    # A question follows on from the one before on its page, or opens the next (tests/test_page_flow.py): its
    # entry points at the page its heading is on, the headings of one page in the outline's order.
    on_page: dict[int, int] = {}
    for page, note in zip(pages, report.deck.notes, strict=True):
        found = re.search(rf"{note.number}\s+{_question_pattern(note)}", booklet_pages[page][on_page.get(page, 0) :])
        assert found, (note.number, page + 1)
        on_page[page] = on_page.get(page, 0) + found.end()


def test_booklet_contents_page_numbers_are_right(
    booklet: tuple[pipeline.BuildReport, Path], booklet_pages: list[str]
) -> None:
    report, path = booklet
    reader = PdfReader(path)
    entries = [entry for entry in reader.outline if not isinstance(entry, list)]
    contents = booklet_pages[1]
    assert contents.splitlines()[1].strip() == "Contents"
    for entry, note in zip(entries, report.deck.notes, strict=True):
        found = re.search(rf"{_question_pattern(note)}[\s.]*\s(\d+)$", contents, re.MULTILINE)
        assert found, f"question {note.number} missing from the contents"
        assert int(found.group(1)) == reader.get_destination_page_number(entry) + 1, note.number


def test_booklet_header_and_footer(booklet: tuple[pipeline.BuildReport, Path], booklet_read: list[BookletPage]) -> None:
    title = booklet[0].deck.title
    total = len(booklet_read)
    for number, page in enumerate(booklet_read[1:], start=2):  # the title page has neither
        assert title in page.header, (number, page.header)
        assert f"page {number} of {total}" in page.footer and "CC BY-SA 4.0" in page.footer, (number, page.footer)


def test_booklet_code_keeps_its_colours(booklet_read: list[BookletPage]) -> None:
    colours = set().union(*(page.code_colours for page in booklet_read))
    coloured = {c for c in colours if len(c) == 3 and max(c) - min(c) > 0.1}
    assert len(coloured) >= 3, f"code is not highlighted: {colours}"


def test_booklet_fonts_metadata_and_tags(booklet: tuple[pipeline.BuildReport, Path]) -> None:
    report, path = booklet
    assert_fonts_embedded(path)
    reader = PdfReader(path)
    meta = reader.metadata
    assert meta is not None and meta.title and report.deck.title in meta.title
    assert meta.author == report.deck.author
    root = reader.trailer["/Root"]
    assert root["/Lang"] == report.deck.language
    assert bool(root["/MarkInfo"]["/Marked"]) and "/StructTreeRoot" in root
