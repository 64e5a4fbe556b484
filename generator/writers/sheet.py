"""The printable cheat sheet: every note's number, question and key points, in dense columns.

A long sheet is laid out in parts of about a hundred notes, each kept in a cache by the hash of its
HTML, then joined; a rebuild after editing one note lays out that note's part only, and memory stays
that of one part. A part is found in the cache by its signature (`rendercache.PartSignatures`), with its page
count: a rebuild makes the HTML only of the parts whose notes (or anything else the HTML is made of) changed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import fragments
from generator.context import PAPERS, BuildContext
from generator.model import Deck, Note
from generator.writers import Writer

if TYPE_CHECKING:
    from generator.pdfengine import Placed

# The column is about 31 em of the sheet's type wide: a wider key formula is shrunk to fit it.
KEY_FORMULA_MAX_EM = 30.0
# Notes per part of the sheet: at least _PART_MIN, then a boundary with probability 1/_PART_SPREAD
# after each note, at most _PART_MAX. About a hundred notes: ~20 pages, ~100 MB to lay out.
_PART_MIN, _PART_SPREAD, _PART_MAX = 32, 64, 192
# Parts to render are spread over worker processes (-j) when they hold at least this many notes.
_NOTES_WORTH_WORKERS = 300


def _sheet_html(
    deck: Deck,
    notes: Sequence[Note],
    context: BuildContext,
    *,
    first_part: bool,
    last_part: bool,
    numbered: bool,
    dated: bool,
    last_page: dict[str, int] | None = None,
) -> str:
    entries = [
        {
            "number": note.number,
            "question": fragments.print_question(note),
            "language": note.language,
            "key_points": fragments.svg_math(note.key_points_html),
            "formulas": [fragments.display_formula(formula.tex, KEY_FORMULA_MAX_EM) for formula in note.key_formulas],
        }
        for note in notes
    ]
    return context.render(
        "cheatsheet.html.j2",
        deck=deck,
        notes=entries,
        question_count=len(deck.notes),
        first_part=first_part,
        last_part=last_part,
        numbered=numbered,
        keywords=deck.keywords,
        css=context.print_css("cheatsheet.css"),
        page_size=PAPERS[context.paper],
        created=context.created if dated else None,
        last_page=last_page,
    )


def html_of(deck: Deck, context: BuildContext) -> str:
    """The whole cheat sheet as one HTML document: what WeasyPrint alone would be given."""
    return _sheet_html(deck, deck.notes, context, first_part=True, last_part=True, numbered=True, dated=True)


def part_html(deck: Deck, notes: Sequence[Note], first_part: bool, last_part: bool, context: BuildContext) -> str:
    """One part of the sheet: no page numbers and no dates, so it only changes when its notes do.

    The last part balances the columns of its last page (the sheet's last page); the others fill a column
    before the next, as on a full page, and balancing would only lay them out again and again.
    """
    return _sheet_html(deck, notes, context, first_part=first_part, last_part=last_part, numbered=False, dated=False)


def numbers_html(deck: Deck, pages: int, context: BuildContext, first: int = 0, count: int | None = None) -> str:
    """Blank pages with the sheet's page numbers; with `count`, only pages `first` to `first + count` of `pages`."""
    return context.render(
        "cheatsheet-numbers.html.j2",
        deck=deck,
        pages=pages if count is None else count,
        first=first,
        css=fragments.total_written_in(context.print_css("cheatsheet.css"), pages, count),
        page_size=PAPERS[context.paper],
    )


def parts_of(notes: Sequence[Note]) -> list[list[Note]]:
    """The notes cut into parts of about a hundred, each rendered and cached on its own.

    A part ends after a note whose id hashes to a boundary (content-defined, as rsync and
    backup tools cut files), so adding or removing a note changes its own part only instead
    of shifting every later boundary; the size limits keep parts neither tiny nor huge.
    """
    parts: list[list[Note]] = []
    current: list[Note] = []
    for note in notes:
        current.append(note)
        boundary = int(hashlib.sha256(note.id.encode("utf-8")).hexdigest()[:8], 16) % _PART_SPREAD == 0
        if len(current) >= _PART_MAX or (len(current) >= _PART_MIN and boundary):
            parts.append(current)
            current = []
    if current:
        parts.append(current)
    return parts


def write(deck: Deck, target: Path, context: BuildContext) -> None:
    """Render each part not in the cache (on `jobs` processes), then join the parts and number the pages."""
    # Here, not at the top: WeasyPrint takes a second to load, and a build without this output skips it.
    from generator import pdfengine, pdfjoin, rendercache

    prefix = rendercache.prefix_for(deck.slug, context.paper, WRITER.name)
    with rendercache.opened(context.cache_dir, prefix, pdfengine.PDF_OPTIONS) as cache:
        # What every part's HTML takes from the deck as a whole (the template's `question_count` and `keywords`).
        signatures = rendercache.PartSignatures(
            cache, deck, context, WRITER.name, "cheatsheet.html.j2", (len(deck.notes), deck.keywords)
        )
        pages_of: dict[Path, int | None] = {}
        missing: list[tuple[Path, Callable[[], str]]] = []
        missing_notes = 0
        note_parts = parts_of(deck.notes)
        last_missing: tuple[Path, list[Note], bool] | None = None
        for index, notes in enumerate(note_parts):
            first, last = index == 0, index == len(note_parts) - 1
            # The last part is two pieces joined (`_lay_out_last_part`): its bytes are also the join's.
            balanced = _BALANCED_BY_HEIGHT + pdfjoin.JOIN_FORMAT if last else ""
            loads = rendercache.loads_of(deck, notes, context) + balanced
            html = functools.partial(part_html, deck, notes, first, last, context)
            path = signatures.path_for(notes, (first, last), html, loads)
            # Counted by an earlier build (the file whole), else opened and counted (~20 ms): None when missing.
            pages_of[path] = signatures.pages(path) or pdfjoin.pages_in(path)
            # Not cached, or cached but unreadable (a damaged file): rendered afresh. The HTML is made again
            # when its turn comes rather than kept: all parts' HTML at once is most of a big bank's math.
            if pages_of[path] is None and last:
                last_missing = (path, notes, first)
            elif pages_of[path] is None:
                missing.append((path, html))
                missing_notes += len(notes)
        # A worker process costs a second or two to start (Python, WeasyPrint, fonts): worth it for a long sheet only.
        workers = context.jobs if missing_notes >= _NOTES_WORTH_WORKERS else 1
        rendercache.render_for(deck, target, context, missing, workers)
        if last_missing is not None:
            _lay_out_last_part(deck, *last_missing, context, target)
        parts = list(pages_of)
        for path, count in pages_of.items():
            if (counted := count if count is not None else pdfjoin.pages_in(path)) is not None:
                pages_of[path] = counted
                signatures.counted(path, counted)
        pages = sum(count or 0 for count in pages_of.values())
        overlay = functools.partial(numbers_html, deck, pages, context)
        numbers = rendercache.page_numbers(cache, deck, target, context, overlay, pages)
        rendercache.join_dated(parts, target, deck, context, numbers)
        cache.keep_only([*parts, numbers])
        signatures.save(parts)


# The files the last part is made of before it is kept (beside it in the cache, each named for the process).
_PIECES = ("head.tmp", "tail.tmp", "joined.tmp")
# In the key of the sheet's last part: laid out by `_lay_out_last_part`, not by WeasyPrint's `column-fill: balance`.
_BALANCED_BY_HEIGHT = "|last page balanced by height, set on its own"


def _lay_out_last_part(
    deck: Deck, path: Path, notes: list[Note], first: bool, context: BuildContext, target: Path
) -> None:
    """Lay out the sheet's last part with its last page's two columns balanced, and keep it at `path`.

    WeasyPrint balances a page's columns by laying them out again a pixel higher each time: about 500 layouts of
    the last page's notes for the shipped deck's sheet (5 s, where filling the columns in turn takes 0.9 s). Here
    the part is laid out once filling the columns in turn, the notes of its last page are measured, the column
    height that splits them most evenly is worked out, and those notes alone are set on a page in columns of that
    height; the part is the pages before it, as filled, then that page (joined). When the last page starts inside
    a note (one longer than a column), or that page does not hold its notes in two columns, WeasyPrint balances it.
    """
    from generator import pdfengine, pdfjoin

    roots = context.pdf_roots(deck.content_dir)

    def lay_out(
        some: Sequence[Note], *, first_part: bool, last_part: bool, last_page: dict[str, int] | None = None
    ) -> Any:
        html = _sheet_html(
            deck,
            some,
            context,
            first_part=first_part,
            last_part=last_part,
            numbered=False,
            dated=False,
            last_page=last_page,
        )
        return pdfengine.layout(html, deck.content_dir, roots, target)

    filled = lay_out(notes, first_part=first, last_part=False)
    before = _notes_placed(pdfengine.placed(filled, "id"))
    if len(before) == len(notes):
        last_page = _balanced_last_page(before, len(filled.pages) - 1)
        if last_page is not None:
            split = last_page["split"]
            # The last page's notes on a page of their own, in the second block of the template's balanced last
            # page (with nothing before it: split 0); the sheet's title only if that page is the part's first.
            alone = lay_out(
                notes[split:],
                first_part=first and split == 0,
                last_part=True,
                last_page={"split": 0, "height_px": last_page["height_px"]},
            )
            after = _notes_placed(pdfengine.placed(alone, "id"))
            if (
                len(alone.pages) == 1
                and [p.value for p in after] == [p.value for p in before[split:]]
                and all(p.first_page == p.last_page == 0 for p in after)
                and len({round(p.left) for p in after}) <= 2
            ):
                if split == 0:
                    pdfengine.save_atomically(alone, path)
                    return
                # Beside the cache entry, named for this process: the entry itself is replaced whole, at once.
                head, tail, joined = (path.with_name(f"{path.name}.{os.getpid()}.{piece}") for piece in _PIECES)
                try:
                    pdfengine.save_atomically(filled.copy(filled.pages[:-1]), head)
                    pdfengine.save_atomically(alone, tail)
                    pdfjoin.join([head, tail], joined, None)
                    os.replace(joined, path)
                    return
                except pdfjoin.JoinError:
                    pass  # not in the shape pdfjoin knows (a future WeasyPrint): WeasyPrint balances the part whole
                finally:
                    for piece in (head, tail, joined):
                        piece.unlink(missing_ok=True)
    pdfengine.save_atomically(lay_out(notes, first_part=first, last_part=True), path)


def _notes_placed(placed: list[Placed]) -> list[Placed]:
    """The sheet's notes (`id="q…"`) as laid out."""
    return [entry for entry in placed if entry.value.startswith("q")]


def _balanced_last_page(notes: list[Placed], last: int) -> dict[str, int] | None:
    """Where the last page's notes start (index) and the column height (px) that splits them most evenly.

    A column holding notes i..j needs the height of their border boxes and of the margin below each, the last
    one's too (WeasyPrint counts it when it decides whether a note fits): the split is the one whose higher column
    is lowest. None when the last page begins inside a note.
    """
    on_last = [entry for entry in notes if entry.last_page == last]
    if not on_last or any(entry.first_page != last for entry in on_last):
        return None
    heights = [entry.bottom - entry.top for entry in on_last]
    gaps = [entry.margin_bottom for entry in on_last]

    def column(start: int, end: int) -> float:
        return sum(heights[start:end]) + sum(gaps[start:end])

    count = len(on_last)
    lowest = min(max(column(0, split), column(split, count)) for split in range(1, count + 1))
    # A pixel over: the layout's own rounding must not push the last note of a column over.
    return {"split": len(notes) - count, "height_px": math.ceil(lowest) + 1}


WRITER = Writer("pdf", "pdf", "printable cheat sheet: every question and its key points in dense columns", write)
