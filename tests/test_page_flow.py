"""Less paper (issue 15): how the booklet and the cheat sheet fill their pages, read back from the PDFs.

The booklet: a question follows on from the one before unless less than about a third of the page is left,
its heading keeps its first lines, and a code block is split only when it is longer than a page, never
leaving a page with a few of its lines. The cheat sheet: its last page balances its two columns.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pdfplumber
import pytest

from generator import build as pipeline
from generator.writers import booklet as booklet_writer
from generator.writers import sheet as sheet_writer
from tests import pdfread
from tests.conftest import CONTENT, EPOCH, Background, link_tree

MM = 72 / 25.4
# The booklet's text block on A4 (booklet.css: margins 22 mm top, 20 mm bottom).
TOP, BOTTOM = 22 * MM, (297 - 20) * MM
TEXT_HEIGHT = BOTTOM - TOP
# The room a question needs left on a page to start there (booklet.css, `.note + .note::before`): about a third.
ROOM = 80 * MM
# A question that starts a new page did so because less than that was left: less than ROOM, the 6 mm between
# questions and the margin or padding under the last line of the one before (at most 8 mm).
MOVED_BELOW = ROOM + 14 * MM
QUESTION_PT = 16  # the size of a question heading (booklet.css, `.question`)
CODE_BACKGROUND = (246 / 255, 247 / 255, 249 / 255)  # booklet.css, `.highlight`: #f6f7f9
MIN_CODE_LINES = 4  # orphans and widows of a code block's `pre`


@dataclass(frozen=True)
class Span:
    """Something drawn on a page, from top to bottom (points from the page's top edge)."""

    top: float
    bottom: float


@dataclass(frozen=True)
class CodePiece:
    """A code block's background on one page, and the lines of code inside it."""

    top: float
    bottom: float
    lines: int


@dataclass(frozen=True)
class FlowPage:
    ink: list[Span]  # everything drawn in the text block: text, code, rules, backgrounds, formulas, figures
    text: list[Span]  # the lines of text outside code blocks
    headings: list[Span]  # question headings (one span per heading, however many lines)
    code: list[CodePiece]


def _is_code_background(item: dict[str, Any]) -> bool:
    colour = item.get("non_stroking_color")
    return (
        bool(item.get("fill"))
        and isinstance(colour, (tuple, list))
        and len(colour) == 3
        and all(abs(float(c) - e) < 0.0015 for c, e in zip(colour, CODE_BACKGROUND, strict=True))
    )


def _lines(chars: list[dict[str, Any]]) -> list[Span]:
    """Characters gathered into lines."""
    return _clusters([(c["top"], c["bottom"]) for c in chars], gap=1.0)


def _clusters(spans: list[tuple[float, float]], gap: float) -> list[Span]:
    """(top, bottom) pairs merged where one starts within `gap` of the one before it ending."""
    merged: list[Span] = []
    for top, bottom in sorted(spans):
        if merged and top <= merged[-1].bottom + gap:
            merged[-1] = Span(merged[-1].top, max(merged[-1].bottom, bottom))
        else:
            merged.append(Span(top, bottom))
    return merged


def read_flow(path: Path) -> list[FlowPage]:
    """Each page of a booklet: what is drawn in its text block, its question headings and its code blocks."""
    return [_read_page(page) for page in pdfread.read(path, graphics=True)]


def _in_body(item: dict[str, Any]) -> bool:
    return bool(item["top"] >= TOP - 2 * MM and item["bottom"] <= BOTTOM + 2 * MM)


def _inside(item: dict[str, Any], box: dict[str, Any]) -> bool:
    middle_x, middle_y = (item["x0"] + item["x1"]) / 2, (item["top"] + item["bottom"]) / 2
    return bool(box["x0"] <= middle_x <= box["x1"] and box["top"] <= middle_y <= box["bottom"])


def _read_page(page: pdfread.Page) -> FlowPage:
    graphics = [g for g in page.graphics if _in_body(g)]
    backgrounds = sorted((g for g in graphics if _is_code_background(g)), key=lambda b: b["top"])
    chars = [c for c in page.chars if _in_body(c) and c["text"].strip()]
    other_chars = [c for c in chars if not any(_inside(c, b) for b in backgrounds)]
    code = []
    for background in backgrounds:
        inside = [c for c in chars if _inside(c, background)]
        code.append(CodePiece(background["top"], background["bottom"], len(_lines(inside))))
    heading_chars = [c for c in other_chars if abs(c["size"] - QUESTION_PT) < 0.5]
    return FlowPage(
        ink=_clusters([(item["top"], item["bottom"]) for item in (*chars, *graphics)], gap=0),
        text=_lines(other_chars),
        headings=_clusters([(c["top"], c["bottom"]) for c in heading_chars], gap=8),
        code=code,
    )


def _build(content: Path, output: Path, outputs: tuple[str, ...]) -> list[Path]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        return pipeline.build(content, output, outputs).written


def _deck_of(numbers: list[int], folder: Path) -> Path:
    """A copy of the shipped deck holding only the notes with these numbers."""
    content = folder / "content"
    shutil.copytree(CONTENT, content)
    for note in content.glob("*.md"):
        if int(note.name.split("-", 1)[0]) not in numbers:
            note.unlink()
    return content


# The rules, checked on any booklet.


def assert_questions_flow(pages: list[FlowPage], questions: int) -> None:
    """Each question after the first follows the one before on its page when ROOM is left, else opens the next."""
    headings = [(number, heading) for number, page in enumerate(pages) for heading in page.headings]
    assert len(headings) == questions, [(number + 1, h) for number, h in headings]
    first_page, first = headings[0]
    assert first_page == 2 and first.top < TOP + 3 * MM, "the first question opens the page after the contents"
    for index, (number, heading) in enumerate(headings):
        where = f"question {index + 1} (page {number + 1}, {heading.top / MM:.0f} mm)"
        # Its heading keeps its first lines: at least the tags, the key points' label and a point under it.
        below = [span for span in pages[number].ink if span.top >= heading.bottom]
        assert below and max(span.bottom for span in below) >= heading.bottom + 15 * MM, f"{where}: heading alone"
        if index == 0:
            continue
        above = [span for span in pages[number].ink if span.bottom <= heading.top - 0.5]
        if above:
            end = max(span.bottom for span in above)
            assert BOTTOM - end >= ROOM, f"{where}: follows on with {(BOTTOM - end) / MM:.0f} mm left"
            assert heading.top - end >= 4 * MM, f"{where}: no space between it and the question before"
        else:
            assert heading.top < TOP + 3 * MM, f"{where}: opens a page, but not at its top"
            end = max(span.bottom for span in pages[number - 1].ink)
            assert BOTTOM - end < MOVED_BELOW, (
                f"{where}: opens a new page although {(BOTTOM - end) / MM:.0f} mm were left on the one before"
            )


def _code_blocks(pages: list[FlowPage]) -> list[list[tuple[int, CodePiece]]]:
    """The code blocks, each as its pieces (page index, piece): a piece reaching the foot of the text block
    goes on in the piece at the top of the next page."""
    blocks: list[list[tuple[int, CodePiece]]] = []
    open_block: list[tuple[int, CodePiece]] | None = None
    for number, page in enumerate(pages):
        for piece in page.code:
            if open_block is not None and open_block[-1][0] == number - 1 and piece.top < TOP + 1 * MM:
                open_block.append((number, piece))
            else:
                blocks.append([(number, piece)])
            open_block = blocks[-1] if piece.bottom > BOTTOM - 1 * MM else None
    return blocks


def assert_code_blocks_kept(pages: list[FlowPage]) -> None:
    """A code block shorter than a page is on one page; a longer one leaves at least four lines on each page,
    and no page holds a code block's tail alone."""
    blocks = _code_blocks(pages)
    assert blocks, "no code block found"
    for block in blocks:
        where = f"the code block on page {block[0][0] + 1}"
        if len(block) > 1:
            height = sum(piece.bottom - piece.top for _, piece in block)
            assert height > TEXT_HEIGHT, f"{where} ({height / MM:.0f} mm, shorter than a page) is split"
            assert all(piece.lines >= MIN_CODE_LINES for _, piece in block), (where, [p.lines for _, p in block])
    for number, page in enumerate(pages):
        if page.code and not page.text:
            # Only code: a piece of a block longer than a page, that fills two thirds of the page or more.
            split = {n for block in blocks if len(block) > 1 for n, _ in block}
            filled = sum(piece.bottom - piece.top for piece in page.code)
            assert number in split and filled >= TEXT_HEIGHT * 2 / 3, f"page {number + 1} holds nothing but code"


# The shipped deck (the session's build).


@pytest.fixture(scope="module")
def booklet_flow(outputs: dict[str, Path], background: Background) -> list[FlowPage]:
    pages: list[FlowPage] = background.result("tests.test_page_flow:read_flow", outputs["full.pdf"])
    return pages


def test_booklet_questions_flow_on_unless_a_third_of_the_page_is_not_left(
    built: pipeline.BuildReport, booklet_flow: list[FlowPage]
) -> None:
    assert_questions_flow(booklet_flow, len(built.deck.notes))
    # Some question follows on from the one before: the booklet is not a page (or more) per question.
    assert sum(1 for page in booklet_flow[2:] if page.headings and page.headings[0].top > TOP + 3 * MM) >= 3


def test_booklet_code_blocks_not_split_and_never_alone(booklet_flow: list[FlowPage]) -> None:
    assert_code_blocks_kept(booklet_flow)


def test_booklet_has_no_nearly_blank_page(booklet_flow: list[FlowPage]) -> None:
    """Every answer page but the last has its text block at least a third full."""
    assert_no_nearly_blank_page(booklet_flow)


def assert_no_nearly_blank_page(pages: list[FlowPage]) -> None:
    answers = pages[2:]
    used = [max(span.bottom for span in page.ink) - TOP for page in answers]
    for number, height in enumerate(used[:-1], start=3):
        assert height >= TEXT_HEIGHT / 3, f"page {number} is nearly blank: {height / MM:.0f} mm used"


# Small decks and long code, built here.


def _short_deck(folder: Path, paragraphs: list[int]) -> Path:
    """A deck of short notes (the shipped deck's settings): note i has key points and paragraphs[i] paragraphs."""
    content = folder / "content"
    content.mkdir()
    shutil.copy(CONTENT / "deck.yaml", content)
    sentence = "A short answer takes a few lines of the page and leaves the rest of it for the next question. "
    for index, count in enumerate(paragraphs):
        number = index + 1
        body = "\n\n".join(f"Paragraph {k + 1}. " + sentence * 4 for k in range(count))
        (content / f"{number:02d}-short-{number}.md").write_text(
            f"---\nid: {number:012x}\nnumber: {number}\nquestion: What is short question {number}?\ntags: [short]\n"
            f"---\n\n## Key points\n\n- A first point.\n- A second point.\n\n## Full answer\n\n{body}\n",
            encoding="utf-8",
        )
    return content


def test_three_short_questions_share_a_page(tmp_path: Path) -> None:
    """Three questions of a few lines each: one answer page, where a page each left most of three blank."""
    (booklet,) = _build(_short_deck(tmp_path, [1, 1, 1]), tmp_path / "out", ("full",))
    pages = read_flow(booklet)
    assert_questions_flow(pages, 3)
    assert_no_nearly_blank_page(pages)
    assert len(pages) == 3, "title, contents and one page of answers"


def test_a_question_that_does_not_find_a_third_of_a_page_starts_the_next(tmp_path: Path) -> None:
    """Questions of most of a page each: the second finds less than a third of the page left."""
    (booklet,) = _build(_short_deck(tmp_path, [7, 4, 1]), tmp_path / "out", ("full",))
    pages = read_flow(booklet)
    assert_questions_flow(pages, 3)
    assert_no_nearly_blank_page(pages)
    assert [len(page.headings) for page in pages[2:]] == [1, 2], "the second question opens page 4, the third follows"


LONG_CODE = "\n".join(f"    total = total + step({line})  # line {line} of a long listing" for line in range(1, 151))


def test_code_longer_than_a_page_splits_where_it_stands(tmp_path: Path) -> None:
    """A listing of 150 lines (two pages and more) starts under the heading before it, not on a new page
    that would leave that heading behind, and leaves at least four lines on every page."""
    content = _deck_of([56, 57], tmp_path)
    note = next(content.glob("56-*.md"))
    note.write_text(
        note.read_text(encoding="utf-8")
        + "\n### A long listing\n\nThe loop, written out:\n\n```python\n"
        + "\n".join(line.strip() for line in LONG_CODE.splitlines())
        + "\n```\n\nAfter the listing.\n",
        encoding="utf-8",
    )
    (booklet,) = _build(content, tmp_path / "out", ("full",))
    pages = read_flow(booklet)
    assert_questions_flow(pages, 2)
    assert_code_blocks_kept(pages)
    (block,) = [block for block in _code_blocks(pages) if len(block) > 1]
    assert len(block) >= 3 and sum(piece.lines for _, piece in block) == 150
    first_page, first = block[0]
    assert any(span.bottom <= first.top for span in pages[first_page].text), "the listing was moved to a new page"
    assert first.top > TOP + 30 * MM


def test_code_block_length_is_counted_as_the_booklet_wraps_it() -> None:
    a4_page = int((255 - 4.4) / booklet_writer._CODE_LINE_MM)
    short = '<div class="highlight"><pre><span></span><code>x = 1\n</code></pre></div>'
    assert booklet_writer._long_code(short, "a4") == short
    lines = "\n".join(["y = &quot;2&quot;"] * (a4_page - 1))
    long = f'<div class="highlight"><pre><span></span><code>{lines}\n</code></pre></div>'
    assert 'class="highlight long"' in booklet_writer._long_code(long, "a4")
    # A line of 300 characters wraps onto four; a wide character takes two columns.
    assert booklet_writer._code_lines("a" * 300, 95) == 4
    assert booklet_writer._code_lines("中" * 50, 95) == 2


def test_six_note_sheet_uses_both_columns(tmp_path: Path) -> None:
    (sheet,) = _build(_deck_of([51, 52, 53, 54, 55, 56], tmp_path), tmp_path / "out", ("pdf",))
    with pdfplumber.open(sheet) as pdf:
        page = pdf.pages[-1]
        body = page.crop((0, 14 * MM, page.width, page.height - 15 * MM))
        words = body.extract_words()
    middle = page.width / 2
    left = [w for w in words if w["x1"] < middle]
    right = [w for w in words if w["x0"] > middle]
    assert left and right, "the last page leaves a column empty"
    # Balanced: the two columns end within a note's height of each other, and the right one starts at the top.
    assert abs(min(w["top"] for w in left) - min(w["top"] for w in right)) < 30 * MM
    assert abs(max(w["bottom"] for w in left) - max(w["bottom"] for w in right)) < page.height / 4


def test_only_the_last_part_of_the_sheet_balances() -> None:
    """Balancing lays a page out again and again: only the sheet's last page does it, in the last part."""
    deck = pipeline.check(CONTENT).deck
    context = pipeline.context_for(deck, pipeline.BuildOptions(CONTENT))
    middle = sheet_writer.part_html(deck, deck.notes[:4], False, False, context)
    last = sheet_writer.part_html(deck, deck.notes[4:], False, True, context)
    assert '<main class="columns">' in middle
    assert '<main class="columns balanced">' in last
    assert '<main class="columns balanced">' in sheet_writer.html_of(deck, context)


def _six_note_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[tuple[str, Any]]]:
    """Six notes of the shipped deck (a sheet of two pages) with a cache of their own that has the session's formulas
    (the sheet is laid out here, not taken from another test's), and every document laid out from now on, with
    its layout."""
    from generator import pdfengine

    content = _deck_of([51, 52, 53, 54, 55, 56], tmp_path)
    link_tree(Path(os.environ["STUDYKIT_CACHE_DIR"]) / "math", tmp_path / "cache" / "math")
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path / "cache"))
    laid_out: list[tuple[str, Any]] = []
    real_layout = pdfengine.layout

    def layout(document: str, *arguments: Any) -> Any:
        result = real_layout(document, *arguments)
        laid_out.append((document, result))
        return result

    monkeypatch.setattr(pdfengine, "layout", layout)
    return content, laid_out


def test_the_last_page_is_balanced_as_weasyprint_balances_it_without_its_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sheet's last page is set in columns of a worked-out height (the part filled in turn, then the last page's
    notes alone), not by `column-fill: balance` (hundreds of layouts of the page): each note lands on the page and
    in the column WeasyPrint's own balancing puts it in."""
    from generator import pdfengine

    content, laid_out = _six_note_sheet(tmp_path, monkeypatch)
    _build(content, tmp_path / "out", ("pdf",))
    sheets = [(document, result) for document, result in laid_out if 'class="columns' in document]
    assert not any("columns balanced" in document for document, _ in sheets), "fell back to WeasyPrint's balance"
    assert "height:" in sheets[-1][0] and len(sheets) == 2, "filled in turn, then the last page's notes at its height"
    filled, alone = sheets[0][1], sheets[1][1]
    assert len(alone.pages) == 1
    assert not [path.name for path in (tmp_path / "cache").rglob("*.tmp*")], "the pieces joined are removed"

    deck = pipeline.check(content).deck
    context = pipeline.context_for(deck, pipeline.BuildOptions(content))
    theirs = pdfengine.layout(  # recorded too, after the build's
        sheet_writer.part_html(deck, deck.notes, True, True, context),
        content,
        context.pdf_roots(content),
        tmp_path / "x.pdf",
    )

    def columns(document: Any) -> list[tuple[str, int, int]]:
        return [(p.value, p.first_page, round(p.left)) for p in pdfengine.placed(document, "id")]

    last = len(filled.pages) - 1
    # The part as kept: the filled layout's pages before its last, then the page of the last page's notes.
    ours = [placed for placed in columns(filled) if placed[1] < last]
    ours += [(value, page + last, left) for value, page, left in columns(alone)]
    assert len(theirs.pages) == last + 1
    assert ours == columns(theirs)
    assert len({left for _, page, left in ours if page == last}) == 2, "both columns of the last page used"


def test_a_last_page_that_cannot_be_joined_is_balanced_by_weasyprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages before the last and the last page are joined into the cached part; should pdfjoin refuse them, the
    part is laid out whole with WeasyPrint's balance instead, and the pieces are gone either way."""
    from generator import pdfjoin

    content, laid_out = _six_note_sheet(tmp_path, monkeypatch)
    real_join = pdfjoin.join
    refused: list[list[Path]] = []

    def join(parts: list[Path], target: Path, metadata: Any, page_numbers: Path | None = None) -> None:
        if metadata is None:  # the last part's pieces (the sheet itself is joined with its metadata)
            refused.append(parts)
            raise pdfjoin.JoinError("refused by the test")
        real_join(parts, target, metadata, page_numbers)

    monkeypatch.setattr(pdfjoin, "join", join)
    (sheet,) = _build(content, tmp_path / "out", ("pdf",))
    assert refused, "the pieces were never joined: the test does not reach the join"
    assert "columns balanced" in laid_out[-1][0], "the part was laid out again with WeasyPrint's balance"
    assert not [path.name for path in (tmp_path / "cache").rglob("*.tmp*")], "the pieces are removed"
    text = "".join(page.text for page in pdfread.read(sheet))
    assert all(f"{number}" in text for number in (51, 56))


def _placed(value: str, page: int, top: float, bottom: float, first_page: int | None = None) -> Any:
    from generator.pdfengine import Placed

    return Placed(value, page if first_page is None else first_page, page, bottom, 1000.0, top, 40.0, 10.0)


def test_the_last_pages_column_height_splits_its_notes_most_evenly() -> None:
    earlier = [_placed("q1", 0, 0, 900)]
    # Four notes of 100, 300, 100 and 100 px, 10 px below each: 1+2 | 3+4 needs 420, 1 | 2+3+4 needs 530.
    last = [
        _placed("q2", 1, 0, 100),
        _placed("q3", 1, 110, 410),
        _placed("q4", 1, 420, 520),
        _placed("q5", 1, 530, 630),
    ]
    assert sheet_writer._balanced_last_page(earlier + last, 1) == {"split": 1, "height_px": 421}
    assert sheet_writer._balanced_last_page([_placed("q2", 1, 0, 100)], 1) == {"split": 0, "height_px": 111}
    continued = [_placed("q1", 1, 0, 300, first_page=0), _placed("q2", 1, 310, 400)]
    assert sheet_writer._balanced_last_page(continued, 1) is None, "a note begun on the page before: WeasyPrint's"
