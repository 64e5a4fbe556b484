"""The printable flashcards read back: sheets of fronts and mirrored backs, cut marks, nothing overflowing.

Card boxes are found from the cut marks in the PDF (hairline rectangles pointing away from each card
corner), not taken from the writer, so the tests check what a printer gets.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pdfplumber.utils import extract_words
from pypdf import PdfReader

from generator import build as pipeline
from generator.errors import BuildFailed
from generator.markup import MATH_SPAN
from generator.model import Note
from generator.writers import cards
from tests import pdfread
from tests.conftest import CONTENT, Background, link_tree
from tests.test_cheatsheet import assert_fonts_embedded

MM = 72 / 25.4
TOLERANCE = 0.5  # points


@dataclass(frozen=True)
class Box:
    x0: float
    top: float
    x1: float
    bottom: float

    def holds(self, thing: dict[str, Any], inset: float = 0.0) -> bool:
        return (
            thing["x0"] >= self.x0 + inset - TOLERANCE
            and thing["x1"] <= self.x1 - inset + TOLERANCE
            and thing["top"] >= self.top + inset - TOLERANCE
            and thing["bottom"] <= self.bottom - inset + TOLERANCE
        )


@dataclass(frozen=True)
class Sheet:
    """One page as read back: its size, its cut marks, the card boxes they outline, its words and chars."""

    number: int
    width: float
    height: float
    marks: list[dict[str, Any]]
    boxes: list[Box]
    words: list[dict[str, Any]]
    chars: list[dict[str, Any]]

    def box_of(self, word: dict[str, Any]) -> Box:
        (box,) = [box for box in self.boxes if box.holds(word)]
        return box

    def label(self, number: int) -> dict[str, Any]:
        (word,) = [word for word in self.words if word["text"] == f"Q{number}"]
        return word


def _edges(values: list[float]) -> list[float]:
    unique: list[float] = []
    for value in sorted(values):
        if not unique or value - unique[-1] > TOLERANCE:
            unique.append(value)
    return unique


def read_sheets(path: Path) -> list[Sheet]:
    """Every sheet read back (with PDFium, tests/pdfread.py; words grouped as pdfplumber groups them)."""
    sheets = []
    for page in pdfread.read(path, graphics=True):
        thin, long = cards.MARK_WIDTH_MM * MM, cards.MARK_LENGTH_MM * MM
        drawn = [
            dict(shape, width=shape["x1"] - shape["x0"], height=shape["bottom"] - shape["top"])
            for shape in page.graphics
            if shape["kind"] == "path"
        ]
        hairlines = [
            shape
            for shape in drawn
            if sorted((shape["width"], shape["height"])) == pytest.approx([thin, long], abs=0.2)
        ]
        # A cut mark has a partner across the corner it marks; a hairline drawn on a card (a fraction bar
        # of a key formula can have a mark's size) has none.
        marks = [rect for rect in hairlines if any(_partners(rect, other) for other in hairlines)]
        # A vertical mark lies on a card's left or right edge, a horizontal one on its top or bottom edge.
        xs = _edges([(m["x0"] + m["x1"]) / 2 for m in marks if m["height"] > m["width"]])
        ys = _edges([(m["top"] + m["bottom"]) / 2 for m in marks if m["width"] > m["height"]])
        assert len(xs) % 2 == 0 and len(ys) % 2 == 0, (page.page_number, xs, ys)
        candidates = [
            Box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(0, len(ys), 2) for i in range(0, len(xs), 2)
        ]
        # A card is a box with a mark at each of its four corners.
        boxes = [box for box in candidates if _marked(box, marks)]
        sheets.append(
            Sheet(
                number=page.page_number,
                width=float(page.width),
                height=float(page.height),
                marks=marks,
                boxes=boxes,
                words=extract_words(page.chars, extra_attrs=["size"]),
                chars=[c for c in page.chars if c["text"].strip()],
            )
        )
    return sheets


def _partners(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two hairlines are the two marks of one corner: one across, one along, a mark's reach apart."""
    across = (one["width"] > one["height"]) != (other["width"] > other["height"])
    reach = (cards.MARK_OFFSET_MM + cards.MARK_LENGTH_MM) * MM + TOLERANCE
    return (
        across
        and abs((one["x0"] + one["x1"]) / 2 - (other["x0"] + other["x1"]) / 2) <= reach
        and abs((one["top"] + one["bottom"]) / 2 - (other["top"] + other["bottom"]) / 2) <= reach
    )


def _marked(box: Box, marks: list[dict[str, Any]]) -> bool:
    def near(mark: dict[str, Any], x: float, y: float) -> bool:
        gap = (cards.MARK_OFFSET_MM + cards.MARK_LENGTH_MM) * MM + TOLERANCE
        return (
            min(abs(mark["x0"] - x), abs(mark["x1"] - x)) <= gap
            and min(abs(mark["top"] - y), abs(mark["bottom"] - y)) <= gap
        )

    return all(any(near(m, x, y) for m in marks) for x in (box.x0, box.x1) for y in (box.top, box.bottom))


@pytest.fixture(scope="module")
def built_cards(built: pipeline.BuildReport, outputs: dict[str, Path]) -> tuple[pipeline.BuildReport, Path]:
    """The session's build of the cards."""
    return built, outputs["cards.pdf"]


@pytest.fixture(scope="module")
def sheets(built_cards: tuple[pipeline.BuildReport, Path], background: Background) -> list[Sheet]:
    """The cards read on the background process (the session's build started it)."""
    read: list[Sheet] = background.result("tests.test_cards_pdf:read_sheets", built_cards[1])
    return read


def _pairs(notes: tuple[Note, ...], sheets: list[Sheet]) -> list[tuple[Note, Sheet, Sheet]]:
    """Each note with the page of its front and the page of its back."""
    per_sheet = cards.CARDS_PER_SHEET
    return [(note, sheets[2 * (i // per_sheet)], sheets[2 * (i // per_sheet) + 1]) for i, note in enumerate(notes)]


def test_file_name_and_page_count(built_cards: tuple[pipeline.BuildReport, Path], sheets: list[Sheet]) -> None:
    report, path = built_cards
    assert path.name == "dl-interview-51-65.cards.pdf"
    notes = len(report.deck.notes)
    assert len(sheets) % 2 == 0
    assert len(sheets) == 2 * -(-notes // cards.CARDS_PER_SHEET)
    for sheet in sheets:
        assert (sheet.width, sheet.height) == pytest.approx((210 * MM, 297 * MM), abs=TOLERANCE)


def test_fixed_card_size_and_eight_a_sheet(built_cards: tuple[pipeline.BuildReport, Path], sheets: list[Sheet]) -> None:
    notes = len(built_cards[0].deck.notes)
    paper = cards.PAPERS["a4"]
    for index, sheet in enumerate(sheets):
        on_sheet = min(cards.CARDS_PER_SHEET, notes - (index // 2) * cards.CARDS_PER_SHEET)
        assert len(sheet.boxes) == on_sheet, sheet.number
        for box in sheet.boxes:
            assert box.x1 - box.x0 == pytest.approx(paper.card_width * MM, abs=TOLERANCE)
            assert box.bottom - box.top == pytest.approx(paper.card_height * MM, abs=TOLERANCE)
            assert box.x0 > 5 * MM and box.x1 < sheet.width - 5 * MM  # printable, with room for the marks
            assert box.top > 5 * MM and box.bottom < sheet.height - 5 * MM
        for one in sheet.boxes:
            for other in sheet.boxes:
                if one is not other:
                    assert (
                        one.x1 <= other.x0 or other.x1 <= one.x0 or one.bottom <= other.top or other.bottom <= one.top
                    )


def test_fronts_on_odd_pages_backs_on_even(built_cards: tuple[pipeline.BuildReport, Path], sheets: list[Sheet]) -> None:
    for note, front, back in _pairs(built_cards[0].deck.notes, sheets):
        assert front.number % 2 == 1 and back.number == front.number + 1
        number = front.label(note.number)
        assert number["size"] >= 12, "the front's number is large"
        question = " ".join(w["text"] for w in front.words if front.box_of(number).holds(w) and w is not number)
        assert "".join(question.split()).startswith("".join(note.question.split())), note.number
        assert back.label(note.number)["size"] < 8, "the back's number label is small"


def test_fronts_fill_the_sheet_in_reading_order(
    built_cards: tuple[pipeline.BuildReport, Path], sheets: list[Sheet]
) -> None:
    pairs = _pairs(built_cards[0].deck.notes, sheets)
    for page in {front.number for _, front, _ in pairs}:
        boxes = [front.box_of(front.label(note.number)) for note, front, _ in pairs if front.number == page]
        assert boxes == sorted(boxes, key=lambda box: (round(box.top), box.x0))


def test_backs_are_mirrored_behind_their_fronts(
    built_cards: tuple[pipeline.BuildReport, Path], sheets: list[Sheet]
) -> None:
    """Flipped on the long edge, a back page's columns swap: x_back = page width - x_front - card width."""
    for note, front, back in _pairs(built_cards[0].deck.notes, sheets):
        front_box = front.box_of(front.label(note.number))
        back_box = back.box_of(back.label(note.number))
        width = front_box.x1 - front_box.x0
        assert back_box.x0 == pytest.approx(front.width - front_box.x0 - width, abs=TOLERANCE), note.number
        assert back_box.top == pytest.approx(front_box.top, abs=TOLERANCE), note.number
        assert back_box.x1 - back_box.x0 == pytest.approx(width, abs=TOLERANCE)
    # And the sheets really have two columns, so the mirroring moves cards.
    assert len({round(box.x0) for box in sheets[0].boxes}) == cards.COLUMNS


def test_cut_marks_lie_outside_every_card(sheets: list[Sheet]) -> None:
    for sheet in sheets:
        assert len(sheet.marks) >= 8 * len(sheet.boxes) - 4 * len(sheet.boxes)  # shared marks may coincide
        for mark in sheet.marks:
            for box in sheet.boxes:
                inside = (
                    mark["x0"] < box.x1 - TOLERANCE
                    and mark["x1"] > box.x0 + TOLERANCE
                    and mark["top"] < box.bottom - TOLERANCE
                    and mark["bottom"] > box.top + TOLERANCE
                )
                assert not inside, (sheet.number, mark, box)


def test_all_text_inside_the_cards(built_cards: tuple[pipeline.BuildReport, Path], sheets: list[Sheet]) -> None:
    """Every character sits in a card's padded area (overflow would leave characters past it), or in the footer."""
    deck = built_cards[0].deck
    inset = cards.PADDING_MM * MM
    for sheet in sheets:
        grid_bottom = max(box.bottom for box in sheet.boxes)
        stray = [c for c in sheet.chars if not any(box.holds(c, inset) for box in sheet.boxes)]
        outside = [c for c in stray if c["top"] < grid_bottom + (cards.MARK_OFFSET_MM + cards.MARK_LENGTH_MM) * MM]
        assert not outside, f"page {sheet.number}: text outside the cards: {''.join(c['text'] for c in outside)!r}"
        footer = "".join(c["text"] for c in stray)
        expected = "".join(f"{deck.title} · flashcards, sheet {(sheet.number + 1) // 2} of {len(sheets) // 2},".split())
        assert footer.startswith(expected) and deck.license.replace(" ", "") in footer, footer


def test_each_back_carries_its_own_key_points(
    built_cards: tuple[pipeline.BuildReport, Path], sheets: list[Sheet]
) -> None:
    for note, _, back in _pairs(built_cards[0].deck.notes, sheets):
        box = back.box_of(back.label(note.number))
        text = "".join(w["text"] for w in back.words if box.holds(w))
        first_point = re.sub(r"<[^>]+>", " ", MATH_SPAN.sub(" ", note.key_points_html.split("</li>")[0]))
        first_words = "".join(html.unescape(first_point).split()[:4])
        assert first_words in text, (note.number, first_words)


def test_fonts_embedded_and_tagged(built_cards: tuple[pipeline.BuildReport, Path]) -> None:
    path = built_cards[1]
    assert_fonts_embedded(path)
    reader = PdfReader(path)
    assert "/StructTreeRoot" in reader.trailer["/Root"]
    assert reader.trailer["/Root"]["/Lang"] == built_cards[0].deck.language
    assert reader.metadata is not None and reader.metadata.title and "flashcards" in reader.metadata.title


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="poppler-utils absent")
def test_pdfinfo_says_tagged(built_cards: tuple[pipeline.BuildReport, Path]) -> None:
    info = subprocess.run(["pdfinfo", str(built_cards[1])], capture_output=True, text=True, check=True).stdout
    assert re.search(r"(?m)^Tagged:\s+yes$", info), info


def _small_deck(content_copy: Path, keep: tuple[int, ...]) -> None:
    for path in content_copy.glob("*.md"):
        if int(path.name.split("-")[0]) not in keep:
            path.unlink()


def letter_paper_cards(folder: Path) -> tuple[tuple[Note, ...], list[Sheet]]:
    """Three notes' cards on letter paper, built and read (on the background process)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=folder))  # a folder of its own, should this run twice
    content = folder / "content"
    shutil.copytree(CONTENT, content)
    _small_deck(content, (51, 52, 53))  # one sheet, partly filled
    report = pipeline.build(content, folder / "out", ("cards",), paper="letter")
    return report.deck.notes, read_sheets(report.written[0])


def test_letter_paper_cards(background: Background, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.getbasetemp() / "letter-cards"
    notes, letter = background.result("tests.test_cards_pdf:letter_paper_cards", folder)
    for sheet in letter:
        assert (sheet.width, sheet.height) == pytest.approx((612, 792), abs=TOLERANCE)
    for note, front, back in _pairs(notes, letter):
        front_box, back_box = front.box_of(front.label(note.number)), back.box_of(back.label(note.number))
        assert back_box.x0 == pytest.approx(front.width - front_box.x1, abs=TOLERANCE)
        assert back_box.top == pytest.approx(front_box.top, abs=TOLERANCE)


def long_key_points_cards(folder: Path) -> list[Sheet]:
    """Cards of two notes, one with far too many key points, built and read (on the background process)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=folder))  # a folder of its own, should this run twice
    content = folder / "content"
    shutil.copytree(CONTENT, content)
    _small_deck(content, (51, 52))
    path = next(content.glob("51-*.md"))
    text = path.read_text(encoding="utf-8")
    bullets = "".join(
        f"- Extra point {i}: a deliberately long sentence about fine-tuning that pads the card's back well past "
        "what fits on it, so that the writer has to cut.\n"
        for i in range(1, 16)
    )
    path.write_text(text.replace("## Full answer", bullets + "\n## Full answer", 1), encoding="utf-8")
    report = pipeline.build(content, folder / "out", ("cards",))
    return read_sheets(report.written[0])


def test_long_key_points_are_cut_with_a_notice(
    background: Background, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A back too long for the smallest type keeps its first key points and says the rest is in the deck."""
    folder = tmp_path_factory.getbasetemp() / "long-key-points"
    (_front, back) = background.result("tests.test_cards_pdf:long_key_points_cards", folder)
    box = back.box_of(back.label(51))
    text_on_card = " ".join(w["text"] for w in back.words if box.holds(w))
    assert "continued in the deck" in text_on_card
    assert "Small datasets overfit" in text_on_card, "the first key points stay"
    assert "Extra point 15" not in text_on_card
    inset = cards.PADDING_MM * MM
    grid_bottom = max(b.bottom for b in back.boxes)
    assert all(any(b.holds(c, inset) for b in back.boxes) for c in back.chars if c["top"] < grid_bottom + 4 * MM), (
        "text overflowed a card"
    )
    box52 = back.box_of(back.label(52))
    assert "continued in the deck" not in " ".join(w["text"] for w in back.words if box52.holds(w))


def test_a_key_point_too_long_for_any_card_is_an_error(content_copy: Path, tmp_path: Path) -> None:
    _small_deck(content_copy, (51,))
    path = next(content_copy.glob("51-*.md"))
    text = path.read_text(encoding="utf-8")
    huge = "- " + " ".join(["An endless first key point that no card can hold."] * 60) + "\n"
    path.write_text(text.replace("## Key points\n\n", "## Key points\n\n" + huge, 1), encoding="utf-8")
    with pytest.raises(BuildFailed) as raised:
        pipeline.build(content_copy, tmp_path, ("cards",))
    assert "does not fit on a flashcard" in str(raised.value.message)
    assert str(path) in str(raised.value.message)
    assert not list(tmp_path.glob("*.pdf")), "a failed build wrote nothing"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils absent (pdftoppm)")
def test_a_figure_that_fits_is_drawn_beside_the_key_points(
    built_cards: tuple[pipeline.BuildReport, Path], sheets: list[Sheet], tmp_path: Path
) -> None:
    """The NMS figure (note 54) fits its card: its coloured boxes are drawn in the card's top right, beside the text.

    The figure's labels are drawn as paths, so it is found by its colours: the card's text and math are black.
    """
    from PIL import Image

    (back,) = [back for note, _front, back in _pairs(built_cards[0].deck.notes, sheets) if note.number == 54]
    box = back.box_of(back.label(54))
    resolution = 60
    page_number = str(back.number)
    render = ["pdftoppm", "-png", "-r", str(resolution), "-f", page_number, "-l", page_number, "-singlefile"]
    subprocess.run([*render, str(built_cards[1]), str(tmp_path / "back")], check=True)
    scale = resolution / 72
    page = Image.open(tmp_path / "back.png").convert("RGB")

    def coloured(x0: float, top: float, x1: float, bottom: float) -> int:
        area = page.crop((round(x0 * scale), round(top * scale), round(x1 * scale), round(bottom * scale)))
        return sum(1 for r, g, b in area.get_flattened_data() if max(r, g, b) - min(r, g, b) > 60)

    middle = (box.x0 + box.x1) / 2
    top = back.label(54)["bottom"] + 2 * MM  # below the card's blue label
    upper = box.top + (box.bottom - box.top) / 2
    right, left = coloured(middle, top, box.x1, upper), coloured(box.x0, top, middle, upper)
    assert right > 40, "the figure is drawn in the card's top right"
    assert left < right / 4, "beside the key points, not over them"


def _long_card_beside_a_short_one(content_copy: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Cards 51 (padded with eight long key points, so that it steps down) and 56 on one sheet; the cards of each
    layout from now on (by their backs' numbers)."""
    from generator import pdfengine

    _small_deck(content_copy, (51, 56))
    path = next(content_copy.glob("51-*.md"))
    extra = "".join(f"- Extra point {i}: a long sentence that pads the back of the card.\n" for i in range(1, 9))
    path.write_text(path.read_text(encoding="utf-8").replace("## Full answer", extra + "\n## Full answer", 1))
    cards_per_layout: list[list[str]] = []
    real_layout = pdfengine.layout

    def layout(document: str, *arguments: Any) -> Any:
        cards_per_layout.append(re.findall(r'data-fit="back-(\d+)"', document))
        return real_layout(document, *arguments)

    monkeypatch.setattr(pdfengine, "layout", layout)
    return cards_per_layout


def test_only_overflowing_cards_are_laid_out_again(
    content_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A card's fit is its own: between a sheet's first and last layouts, only overflowing cards are laid out."""
    cards_per_layout = _long_card_beside_a_short_one(content_copy, monkeypatch)
    pipeline.build(content_copy, tmp_path, ("cards",))
    assert len(cards_per_layout) >= 3, cards_per_layout
    assert cards_per_layout[0] == cards_per_layout[-1] == ["51", "56"]
    middle = cards_per_layout[1:-1]
    assert all(set(cards) <= {"51", "56"} and cards for cards in middle), cards_per_layout
    assert sum(len(cards) for cards in middle) < 2 * len(middle), "the sheet is not laid out whole at every step"
    assert middle[-1] == ["51"], "the long card steps on alone once the other fits"


def test_after_an_edit_the_other_cards_start_at_their_fit_and_the_bytes_are_a_cold_builds(
    content_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each card's fit is remembered by the card: after an edit of the other card on its sheet, the long card starts
    at the fit it took instead of stepping down again (a layout a step), the edited card is fitted alone before the
    sheet is laid out whole once, and the file is the one an empty cache gives. (The edited card starts afresh: its
    fit is keyed by its new content.)"""
    session_math = Path(os.environ["STUDYKIT_CACHE_DIR"]) / "math"
    for cache in ("cache", "empty"):
        link_tree(session_math, tmp_path / cache / "math")
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    cards_per_layout = _long_card_beside_a_short_one(content_copy, monkeypatch)
    pipeline.build(content_copy, tmp_path / "one", ("cards",))
    assert len(cards_per_layout) >= 3, f"the long card did not step down: {cards_per_layout}"

    short_card = next(content_copy.glob("56-*.md"))
    text = short_card.read_text(encoding="utf-8")
    short_card.write_text(text.replace("\nquestion: ", "\nquestion: Edited, ", 1), encoding="utf-8")
    cards_per_layout.clear()
    (edited,) = pipeline.build(content_copy, tmp_path / "two", ("cards",)).written
    # The edited card is fitted on its own first (its new front overflows: it steps), then the sheet is laid out
    # whole once, with every fit: not once at the first step and once more at the end.
    assert cards_per_layout[-1] == ["51", "56"], cards_per_layout
    assert len(cards_per_layout) >= 3, f"the edited card did not step down: {cards_per_layout}"
    assert all(cards == ["56"] for cards in cards_per_layout[:-1]), "only the edited card steps; 51 starts at its fit"

    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path / "empty"))
    (cold,) = pipeline.build(content_copy, tmp_path / "cold", ("cards",)).written
    assert edited.read_bytes() == cold.read_bytes()
