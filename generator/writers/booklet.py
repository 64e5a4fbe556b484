"""The full-answer booklet: a title page, a contents page with page numbers, then every note's full answer.

One column on A4 (or Letter); a question follows on from the one before unless less than about a third of
the page is left, and its heading is never parted from its first lines. A code block is kept on one page
unless it is longer than a page. Math is vector SVG, code keeps its Pygments colours, images load from the
content folder.

The booklet is laid out in parts, each cached by the hash of its HTML, then joined (as the cheat sheet is):
after editing one note only that note's part is laid out again, and memory stays that of one part (and only
its HTML is made again: the others are found by their signatures, `rendercache.PartSignatures`). A part
begins with a question that starts at the top of a page: a question opens a page only when the one before
leaves too little room, and whatever follows a page break is laid out the same whether or not what came
before is in the same document. So the parts are cut where questions open pages, and laid out alone they
give the pages the whole booklet would. A run of questions that follow on is never cut (the shipped deck's
longest holds seven of its fifteen; a bank of very short notes would make long ones), and short runs share
a part (`part_starts`). Page numbers and the contents' numbers depend on where the parts land: the parts
carry neither; the title page and contents are laid out last, with their numbers written in, and the page
numbers are laid over the joined file. A long contents is laid out in pieces the same way, each cut where an
entry opens a page (`_Front`), so that its memory too stays that of a piece.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import itertools
import json
import os
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import fragments
from generator.context import PAPERS, BuildContext
from generator.errors import OutputError
from generator.model import Deck, Note
from generator.writers import Writer

if TYPE_CHECKING:
    from generator.rendercache import DocumentCache

# The text block is 170 mm wide on A4 (175.9 mm on Letter): 48 em of the 10 pt body; display formulas
# get a little less, so that they also fit inside a list item.
MAX_FORMULA_EM = 44.0
# A paragraph holding nothing but an image is a figure; an all-emphasis paragraph right after it is its
# caption. (The image's alt text is its description for screen readers, not a caption.)
_FIGURE = re.compile(
    r"<p>\s*(?P<image><img\b[^>]*>)\s*</p>(?:\s*<p>\s*<em>(?P<caption>(?:(?!</?p\b).)*?)</em>\s*</p>)?", re.DOTALL
)
# A code block's line is 7.8 pt on 1.38 leading (3.8 mm) and holds characters of DejaVu Sans Mono 0.602 em
# wide (1.66 mm); the text block is 170 x 255 mm on A4, 175.9 x 237.4 mm on Letter, and the block's padding
# and border take 6.4 mm of its width and 4.4 mm of its height.
_CODE_LINE_MM = 7.8 * 1.38 * 25.4 / 72
_CODE_CHAR_MM = 0.602 * 7.8 * 25.4 / 72
_TEXT_BLOCK_MM = {"a4": (170.0, 255.0), "letter": (175.9, 237.4)}
_CODE_BLOCK = re.compile(r'<div class="highlight"><pre>(?P<code>.*?)</pre></div>', re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
# Pygments' dark colours are scoped to a class the booklet never uses: print is always light.
_NO_DARK_SCOPE = ".studykit-dark-never"


def _figures(fragment: str) -> str:
    def wrap(found: re.Match[str]) -> str:
        caption = found.group("caption")
        figcaption = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f'<figure class="figure">{found.group("image")}{figcaption}</figure>'

    return _FIGURE.sub(wrap, fragment)


def _code_lines(code: str, columns: int) -> int:
    """The lines a code block's text takes once its long lines wrap (a wide character takes two columns)."""
    lines = 0
    for line in code.rstrip("\n").split("\n"):
        width = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)
        lines += max(1, -(-width // columns))
    return lines


def _long_code(fragment: str, paper: str) -> str:
    """Mark the code blocks longer than a page `long`: the booklet splits those where they stand.

    The others are kept on one page (break-inside: avoid). One longer than a page kept whole would be moved
    to the top of the next page and split there anyway, taking the heading before it along and leaving that
    alone on a page of its own. Lines wrap at spaces, so a block may take a line or two more than counted:
    a block within two lines of a page is counted long.
    """

    width, height = _TEXT_BLOCK_MM[paper]
    columns = int((width - 6.4) / _CODE_CHAR_MM) - 3  # 3 fewer: a block inside a list item is 1.3 em narrower
    page = int((height - 4.4) / _CODE_LINE_MM)

    def mark(found: re.Match[str]) -> str:
        code = html.unescape(_TAG.sub("", found.group("code")))
        if _code_lines(code, columns) < page - 2:
            return found.group(0)
        return found.group(0).replace('<div class="highlight">', '<div class="highlight long">', 1)

    return _CODE_BLOCK.sub(mark, fragment)


def _for_print(fragment: str, paper: str, stylesheet: str) -> str:
    printed = fragments.svg_math(_figures(fragment), max_display_em=MAX_FORMULA_EM)
    return fragments.print_code(_long_code(printed, paper), stylesheet)


def _print_notes(notes: Sequence[Note], paper: str, first: Note | None, stylesheet: str) -> list[dict[str, Any]]:
    return [
        {
            "later": first is not None and note.id != first.id,
            "number": note.number,
            "question": fragments.print_question(note),
            "language": note.language,
            "tags": note.tags,
            "key_points": _for_print(note.key_points_html, paper, stylesheet),
            "answer": _for_print(note.answer_html, paper, stylesheet),
        }
        for note in notes
    ]


def _booklet_html(
    deck: Deck,
    context: BuildContext,
    *,
    front: bool,
    contents: list[dict[str, Any]],
    notes: Sequence[Note],
    numbered: bool,
    dated: bool,
    first_entry: int = 0,
) -> str:
    # Pygments' rules first, so that the booklet's own `pre` rules win.
    light, booklet_css = fragments.light_code_css(), context.print_css("booklet.css")
    css = fragments.code_css([_NO_DARK_SCOPE]) + "\n" + booklet_css
    # The rules that apply: the dark ones are scoped to a class the booklet never uses.
    applied = light + "\n" + booklet_css
    return context.render(
        "booklet.html.j2",
        deck=deck,
        front=front,
        contents=contents,
        questions=len(deck.notes),
        continued=first_entry > 0,
        first_entry=first_entry,
        notes=_print_notes(notes, context.paper, deck.notes[0] if deck.notes else None, applied),
        numbered=numbered,
        css=css,
        page_size=PAPERS[context.paper],
        created=context.created if dated else None,
    )


def html_of(deck: Deck, context: BuildContext, dated: bool = True) -> str:
    """The whole booklet as one HTML document: what WeasyPrint alone would be given (the parts join to its pages).

    Without `dated`, no dates.
    """
    contents = [{"number": note.number, "question": fragments.print_question(note)} for note in deck.notes]
    return _booklet_html(deck, context, front=True, contents=contents, notes=deck.notes, numbered=True, dated=dated)


def part_html(deck: Deck, notes: Sequence[Note], context: BuildContext) -> str:
    """A run of questions that starts at the top of a page: no page numbers, no dates, nothing of other notes."""
    return _booklet_html(deck, context, front=False, contents=[], notes=notes, numbered=False, dated=False)


def front_html(deck: Deck, pages: dict[int, int], context: BuildContext, first: int = 0, end: int | None = None) -> str:
    """The title page and the contents, each question's page number (by question number) written in.

    With `first` and `end`, a piece of it: the contents' entries `first` to `end` (not included), the title page and
    the contents' heading only in the piece from the first entry.
    """
    contents = [
        {"number": note.number, "question": fragments.print_question(note), "page": pages[note.number]}
        for note in deck.notes[first:end]
    ]
    return _booklet_html(
        deck, context, front=True, contents=contents, notes=(), numbered=False, dated=False, first_entry=first
    )


def numbers_html(deck: Deck, pages: int, context: BuildContext, first: int = 0, count: int | None = None) -> str:
    """Blank pages with the booklet's page numbers, laid over the joined parts (none on the title page).

    With `count`, only pages `first` to `first + count` of the `pages` (`rendercache.page_numbers`' pieces).
    """
    return context.render(
        "booklet-numbers.html.j2",
        deck=deck,
        pages=pages if count is None else count,
        first=first,
        css=fragments.total_written_in(context.print_css("booklet.css"), pages, count),
        page_size=PAPERS[context.paper],
    )


@dataclass(frozen=True)
class PartLayout:
    """What the cache remembers of a laid-out run of questions, besides its PDF (pages counted from 0)."""

    pages: int
    starts: tuple[int, ...]  # the page each question starts on
    ends: tuple[int, ...]  # the page each question ends on
    rooms_mm: tuple[float, ...]  # the room left under each question on the page it ends on

    @property
    def opens_page(self) -> tuple[int, ...]:
        """The questions (by index, never the first) that start a page of their own: none of the one before is
        on it. Laid out alone from there, they give the same pages."""
        return tuple(index for index in range(1, len(self.starts)) if self.starts[index] > self.ends[index - 1])

    @property
    def room_mm(self) -> float:
        return self.rooms_mm[-1]

    def slice(self, first: int, end: int) -> PartLayout:
        """Questions `first` to `end` (not included) alone, when `first` (unless the first) and `end` (unless past
        the last) open pages."""
        top = self.starts[first]
        bottom = self.starts[end] if end < len(self.starts) else self.pages
        return PartLayout(
            bottom - top,
            tuple(page - top for page in self.starts[first:end]),
            tuple(page - top for page in self.ends[first:end]),
            self.rooms_mm[first:end],
        )


_PX_MM = 25.4 / 96


def measure_part(laid_out: Any) -> PartLayout:
    """Read a run's layout: the pages each question is on, and the room under it (in the worker that laid it out)."""
    from generator import pdfengine

    questions = pdfengine.placed(laid_out, "data-question")
    if not questions:
        return PartLayout(len(laid_out.pages), (), (), ())
    return PartLayout(
        pages=len(laid_out.pages),
        starts=tuple(question.first_page for question in questions),
        ends=tuple(question.last_page for question in questions),
        rooms_mm=tuple(round((question.page_bottom - question.bottom) * _PX_MM, 3) for question in questions),
    )


# The room a question needs under the one before to follow on: the spacer that opens it and the margin above
# it (booklet.css, `.note.later::before` and `.note + .note`). A run that leaves less cannot be followed on;
# one that leaves this much is laid out with the next question to see whether its opening lines fit too.
_SPACER = re.compile(r"\.note\.later::before\s*\{[^}]*?[\s;{]height:\s*(?P<mm>\d+(?:\.\d+)?)mm")
_GAP = re.compile(r"\.note\s*\+\s*\.note\s*\{[^}]*?margin-top:\s*(?P<mm>\d+(?:\.\d+)?)mm")
# Notes laid out at once, at most, when no earlier build says where the parts begin: one layout cuts them into
# parts; the last is laid out again with what follows when its part goes on.
_FIRST_GUESS = 24
# Which questions that open a page begin a part. Every part is a file of its own, with its own copy of the
# fonts, and the join holds them all open: a thousand one-page parts took 1.3 GB to join. So a run of short
# questions (fewer than _ALONE_PAGES pages up to the next question that opens a page) shares its part with the
# runs after it, up to a question whose id hashes to a boundary (one in _PART_SPREAD: content-defined, as
# the cheat sheet's parts are, so an edit moves no boundary but its own); a longer run ends its part.
_ALONE_PAGES = 4
_PART_SPREAD = 12
# Laying the contents out again because its own page count changed the page numbers it shows: this many times
# at most (a digit more in a number moving an entry to another page, back and forth).
_FRONT_ATTEMPTS = 4
# A contents of more entries than this is laid out in pieces (`_Front`), this many entries at a time. A 5,000-note
# bank's contents (153 pages, bench/front.py) took 808-871 MB more than the build held before it laid out whole, and
# in pieces of 1,000 entries +166 MB, 600 +91 MB, 300 +35 MB, 150 +25 MB; CPU 42-49 s each way from 300 up (the
# machine's noise), 55-59 s in pieces of 150 (38 pieces: each its own fonts and stylesheet, and its last page laid
# out again with the next).
_FRONT_ENTRIES = 300
# How close (CSS px) two entries that open pages start below their pages' tops to be taken as starting alike: the
# same arithmetic on the same floats puts them there exactly; this only absorbs rounding.
_TOP_PX = 0.01


def flow_on_room_mm(css: str) -> float:
    """The room (mm) under a question below which the next cannot follow on; 0 when the stylesheet does not say
    (a deck's own booklet.css): then every run is laid out with the next question to see."""
    spacer, gap = _SPACER.search(css), _GAP.search(css)
    if spacer is None:
        return 0.0
    return float(spacer.group("mm")) + (float(gap.group("mm")) if gap else 0.0) - 0.5  # 0.5 mm: rounding


class _Memory:
    """What the last build of this booklet found: which questions began its parts, each part's layout, and
    which question opened a page although the part before left room; and the pieces of its title page and contents:
    the entries each held and was cut from, and its page count.

    A JSON file beside the cached parts: with it an unchanged deck lays nothing out, and a one-note edit lays
    out that note's part (and its neighbour's, if the edit moves the boundary between them).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notes: set[str] = set()  # every question's id
        self.starts: set[str] = set()
        self.layouts: dict[str, PartLayout] = {}
        self.opened: set[str] = set()
        self.front_pages = 0  # none remembered: a first build guesses (`_front_pages_guess`)
        # Each piece of the title page and contents, by the id of its first entry's question: how many entries it
        # holds and how many its layout had (`_Front`); and each piece's page count, by cached file name.
        self.front_cuts: dict[str, tuple[int, int]] = {}
        self.front_pages_of: dict[str, int] = {}
        self.front_below_top: float | None = None  # how far below a page's top an entry that opens it starts (px)
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            saved = json.loads(path.read_text(encoding="utf-8"))
            self.notes = {str(identifier) for identifier in saved["notes"]}
            self.starts = {str(identifier) for identifier in saved["starts"]}
            self.opened = {str(boundary) for boundary in saved["opened"]}
            self.layouts = {
                name: PartLayout(
                    int(layout["pages"]),
                    tuple(int(page) for page in layout["starts"]),
                    tuple(int(page) for page in layout["ends"]),
                    tuple(float(room) for room in layout["rooms_mm"]),
                )
                for name, layout in saved["layouts"].items()
            }
            self.front_pages = int(saved["front_pages"])
            below_top = saved["front_below_top"]  # first: remembered pieces go with where their pages start
            self.front_below_top = None if below_top is None else float(below_top)
            self.front_cuts = {
                str(first): (int(entries), int(window)) for first, entries, window, _, _ in saved["front"]
            }
            self.front_pages_of = {str(name): int(pages) for _, _, _, name, pages in saved["front"]}

    def save(
        self,
        parts: list[tuple[Note, ...]],
        layouts: dict[str, PartLayout],
        opened: set[str],
        front: _Front,
    ) -> None:
        saved = {
            "notes": [note.id for part in parts for note in part],
            "starts": [part[0].id for part in parts],
            "layouts": {name: asdict(layout) for name, layout in layouts.items()},
            "opened": sorted(opened),
            "front_pages": sum(piece.pages for piece in front.found),
            "front_below_top": front.below_top,
            "front": [
                [
                    front.deck.notes[piece.first].id,
                    piece.end - piece.first,
                    piece.window - piece.first,
                    piece.path.name,
                    piece.pages,
                ]
                for piece in front.found
            ],
        }
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(saved, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:
            pass  # a cache that cannot be written: the next build finds the parts again
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink()


@dataclass(frozen=True)
class _LaidOut:
    """A piece of a run laid out in this process: its pages (of `document`, or of an earlier layout too) and layout."""

    document: Any  # the weasyprint.Document laid out last, whose copy writes the pages
    pages: list[Any]
    layout: PartLayout

    def save(self, path: Path) -> None:
        _save_pages(self.document, self.pages, path)


def _save_pages(document: Any, pages: list[Any], path: Path) -> None:
    """Save the laid-out pages (of `document`, or of an earlier layout too) at `path`: a file of those pages alone."""
    from generator import pdfengine

    whole = pages == document.pages
    pdfengine.save_atomically(document if whole else document.copy(pages), path)


class _Parts:
    """The questions cut into runs that each start at the top of a page, every run laid out (or cached)."""

    def __init__(self, deck: Deck, target: Path, context: BuildContext, cache: DocumentCache, memory: _Memory) -> None:
        from generator import rendercache

        self.deck = deck
        self.target = target
        self.context = context
        self.cache = cache
        self.memory = memory
        # What every run's HTML takes from the deck as a whole: which question is the deck's first (the others are
        # `later`), and `deck.keywords`, which the template reads (for the whole booklet's head).
        first = deck.notes[0].id if deck.notes else None
        self.signatures = rendercache.PartSignatures(
            cache, deck, context, WRITER.name, "booklet.html.j2", (first, deck.keywords)
        )
        self.flow_on_mm = flow_on_room_mm(context.print_css("booklet.css"))
        self.layouts: dict[str, PartLayout] = {}  # by cached file name, the runs this build laid out or found
        # Where a question opened a page although the part before it left room: found now, or remembered and met.
        self.opened: set[str] = set()
        self._paths: dict[tuple[str, ...], Path] = {}
        # The last piece of a run just laid out, not yet saved: if its part goes on, it is laid out again with what
        # follows (from its last question that opens a page, its pages before that kept) and this layout is
        # dropped unsaved (by cached file; see `kept`).
        self._unsaved: dict[Path, _LaidOut] = {}

    def path(self, notes: Sequence[Note]) -> Path:
        """Where the run of `notes` is kept: by its signature, its HTML made only when no build remembers it."""
        key = tuple(note.id for note in notes)
        if key not in self._paths:
            html = functools.partial(part_html, self.deck, notes, self.context)
            self._paths[key] = self.signatures.path_for(notes, (), html, _loads(self.deck, notes, self.context))
        return self._paths[key]

    def known(self, notes: Sequence[Note]) -> PartLayout | None:
        """The run's layout, if its PDF is in the cache (and whole) and a build measured it."""
        from generator import pdfjoin

        path = self.path(notes)
        layout = self.layouts.get(path.name) or self.memory.layouts.get(path.name)
        # The file is named by the hash of its HTML, and a build recorded its page count: whole, it has those pages.
        if layout is None or (path not in self._unsaved and not pdfjoin.ends_whole(path)):
            return None
        self.layouts[path.name] = layout
        return layout

    def render(self, runs: list[tuple[Note, ...]]) -> None:
        """Lay the runs out into the cache: on worker processes when there are several (and -j > 1)."""
        from generator import pdfengine, rendercache

        if self.context.jobs == 1 or len(runs) < 2:
            for run in runs:
                self.lay_out(run)
            return
        documents = [(self.path(run), _maker(self.deck, run, self.context)) for run in runs]
        measured = rendercache.render_measured(
            documents,
            str(self.deck.content_dir.resolve()) + "/",
            self.context.pdf_roots(self.deck.content_dir),
            pdfengine.PDF_OPTIONS,
            self.context.jobs,
            measure_part,
        )
        for run, (path, _), (error, layout) in zip(runs, documents, measured, strict=True):
            if error:
                raise OutputError(f"{self.target.name}: {error}")
            self.layouts[path.name] = self.checked(layout, run)

    def lay_out(
        self, notes: tuple[Note, ...], head: _LaidOut | None = None, kept: int = 0
    ) -> list[tuple[tuple[Note, ...], PartLayout]]:
        """Lay the run out here, and cut it where parts begin (`part_starts`): the pieces, in order.

        Each piece is saved in the cache with its layout: the pages from a question that opens a page to the
        next such question are, byte for byte, those of the questions between laid out alone. So with `head` (the
        run's first `kept` questions laid out already, question `kept` opening a page there) only the questions
        from `kept` on are laid out, and the head's pages up to that question come first: a Document of pages
        from both layouts writes the bytes of one layout of the whole run.
        """
        from generator import pdfengine

        roots = self.context.pdf_roots(self.deck.content_dir)
        kept = kept if head is not None else 0
        laid_out = pdfengine.layout(
            part_html(self.deck, notes[kept:], self.context), self.deck.content_dir, roots, self.target
        )
        layout = self.checked(measure_part(laid_out), notes[kept:])
        pages = list(laid_out.pages)
        if head is not None and kept:
            top = head.layout.starts[kept]
            layout = PartLayout(
                top + layout.pages,
                head.layout.starts[:kept] + tuple(page + top for page in layout.starts),
                head.layout.ends[:kept] + tuple(page + top for page in layout.ends),
                head.layout.rooms_mm[:kept] + layout.rooms_mm,
            )
            pages = head.pages[:top] + pages
        cuts = [0, *self.part_starts(notes, layout), len(notes)]
        pieces = []
        for first, end in itertools.pairwise(cuts):
            piece, piece_layout = notes[first:end], layout.slice(first, end)
            top = layout.starts[first]
            laid = _LaidOut(laid_out, pages[top : top + piece_layout.pages], piece_layout)
            if end < len(notes):
                laid.save(self.path(piece))
            else:
                self._unsaved[self.path(piece)] = laid
            self.layouts[self.path(piece).name] = piece_layout
            if end < len(notes) and piece_layout.room_mm >= self.flow_on_mm:
                self.opened.add(self.boundary(piece, notes[end]))  # room enough, but its opening lines did not fit

            pieces.append((piece, piece_layout))
        return pieces

    def kept(self, part: tuple[Note, ...]) -> tuple[Note, ...]:
        """The part, once its PDF is in the cache (saved now if it was laid out last and left unsaved)."""
        if (laid := self._unsaved.pop(self.path(part), None)) is not None:
            laid.save(self.path(part))
        return part

    def checked(self, layout: PartLayout, notes: tuple[Note, ...]) -> PartLayout:
        """The layout, once it is seen to hold every question of the run (a deck's own template may not mark them)."""
        if len(layout.starts) != len(notes):
            raise OutputError(
                f"{self.target.name}: {len(layout.starts)} of {len(notes)} questions found laid out: the booklet's "
                'template must mark each question with data-question="<number>" (see the packaged booklet.html.j2)'
            )
        return layout

    def settled(self, notes: tuple[Note, ...]) -> list[tuple[tuple[Note, ...], PartLayout]]:
        """The run cut where parts begin, and the layout of each piece (from the cache)."""
        layout = self.known(notes)
        if layout is None:
            return self.lay_out(notes)
        cuts = [0, *self.part_starts(notes, layout), len(notes)]
        pieces = [(notes[first:end], self.known(notes[first:end])) for first, end in itertools.pairwise(cuts)]
        if len(pieces) == 1:
            return [(notes, layout)]
        if any(piece_layout is None for _, piece_layout in pieces):
            return self.lay_out(notes)  # a guess laid out by a worker, which does not cut
        return [(piece, piece_layout) for piece, piece_layout in pieces if piece_layout is not None]

    def part_starts(self, notes: tuple[Note, ...], layout: PartLayout) -> list[int]:
        """The questions of a laid-out run (by index, never the first) that begin a part: each opens a page, and
        either the run before it (from the question before that opened a page) is long or its id says so."""
        starts = []
        run_start = 0
        for index in layout.opens_page:
            if layout.starts[index] - layout.starts[run_start] >= _ALONE_PAGES or _begins_part(notes[index]):
                starts.append(index)
            run_start = index
        return starts

    def begins_part_after(self, part: tuple[Note, ...], layout: PartLayout, following: Note) -> bool:
        """Whether `following` begins a part after `part`; when it may not, `part` is laid out with what follows."""
        if layout.room_mm >= self.flow_on_mm and not self.opens_page(part, following):
            return False  # it may follow on
        last_run = max(layout.opens_page, default=0)
        return layout.pages - layout.starts[last_run] >= _ALONE_PAGES or _begins_part(following)

    def boundary(self, part: tuple[Note, ...], following: Note) -> str:
        """A part (by its cached file) and the note after it (by what it prints): whether that note's opening
        lines fit under the part depends on nothing else."""
        note = following
        media = [path.as_posix() for path in note.media]
        printed = "\0".join(
            [note.id, str(note.number), note.question, *note.tags, note.language or "", note.key_points_html, *media]
        )
        printed += "\0" + note.answer_html
        return f"{self.path(part).name}>{hashlib.sha256(printed.encode('utf-8')).hexdigest()[:32]}"

    def opens_page(self, part: tuple[Note, ...], following: Note) -> bool:
        """Whether `following` is known to open a page after `part` although `part` leaves room for it."""
        boundary = self.boundary(part, following)
        if boundary in self.memory.opened:
            self.opened.add(boundary)
        return boundary in self.opened

    def cut(self) -> list[tuple[Note, ...]]:
        """The parts, each starting with a question that opens a page (see `part_starts`).

        The last build's parts are the first guess (chunks of notes without them); the guesses not cached are
        laid out first, together. Then, in order: a run is cut where parts begin; a run that leaves room for the
        next question, or whose part goes on, is laid out with what follows (as many questions as it holds, then
        twice that: a long run of short questions is not laid out once per question). The result does not
        depend on the guess: a rebuild gives the parts, and the bytes, of a build from an empty cache.
        """
        runs = self._guess()
        if self.memory.starts:  # a first build's guesses are chunks of notes, cut where they are laid out
            self.render([run for run in runs if self.known(run) is None])
        parts: list[tuple[Note, ...]] = []
        queue = deque(runs)
        while queue:
            pieces = self.settled(queue.popleft())
            parts.extend(self.kept(piece) for piece, _ in pieces[:-1])
            part, layout = pieces[-1]
            wanted = len(part)
            while queue and not self.begins_part_after(part, layout, queue[0][0]):
                following: tuple[Note, ...] = ()
                while queue and len(following) < wanted:
                    following += queue.popleft()
                # Laid out again with what follows, from its last question that opens a page (before it, nothing
                # depends on what follows): its pages up to there are kept, the rest of this layout goes.
                head = self._unsaved.pop(self.path(part), None)
                (part, layout), *rest = self.lay_out(part + following, head, max(layout.opens_page, default=0))
                queue.extendleft(reversed([piece for piece, _ in rest]))
                if rest:  # a part begins: this one ends before it
                    break
                wanted *= 2
            parts.append(self.kept(part))
        self.signatures.save([self.path(part) for part in parts])
        return parts

    def _guess(self) -> list[tuple[Note, ...]]:
        """The last build's parts; without them, chunks of `_FIRST_GUESS` notes.

        A new note joins the part before it, up to a chunk's worth of new notes: many notes added at once are not
        laid out as one part (the guess only saves layouts; a wrong one costs one, never a wrong page).
        """
        notes = self.deck.notes
        runs: list[list[Note]] = []
        if not self.memory.starts:
            # Plain chunks, each laid out once and cut where its parts begin. (Cutting at the notes whose ids may
            # begin a part laid most pages out twice: such a note begins a part only if it also opens a page,
            # and where it did not, the run before was laid out again with the run after.)
            for note in notes:
                if not runs or len(runs[-1]) >= _FIRST_GUESS:
                    runs.append([])
                runs[-1].append(note)
            return [tuple(run) for run in runs]
        new = 0
        for note in notes:
            new = new + 1 if note.id not in self.memory.notes else 0
            if not runs or note.id in self.memory.starts or new > _FIRST_GUESS:
                runs.append([note])
                new = min(new, 1)
            else:
                runs[-1].append(note)
        return [tuple(run) for run in runs]


def _begins_part(note: Note) -> bool:
    return int(hashlib.sha256(note.id.encode("utf-8")).hexdigest()[:8], 16) % _PART_SPREAD == 0


def _loads(deck: Deck, notes: Sequence[Note], context: BuildContext) -> str:
    from generator import rendercache

    return rendercache.loads_of(deck, notes, context)


def _maker(deck: Deck, notes: tuple[Note, ...], context: BuildContext) -> Callable[[], str]:
    return lambda: part_html(deck, notes, context)


@dataclass(frozen=True)
class _FrontPiece:
    """A piece of the title page and contents: entries `first` to `end` (not included), cut from a layout of the
    entries `first` to `window` (`end` = `window` for the last piece), cached at `path`."""

    first: int
    end: int
    window: int
    path: Path
    pages: int


def _below_top(entry: Any) -> float:
    """How far below its page's top a contents entry (`pdfengine.Placed`) starts (CSS px)."""
    return float(entry.top - entry.page_top)


class _Front:
    """The title page and the contents, the page numbers written in, laid out in pieces (or found in the cache).

    Laid out at once, a 5,000-note contents (153 pages) took ~870 MB more than the build held before it. So its
    entries are laid out here `_FRONT_ENTRIES` at a time, one piece after another, each cut where an entry opens a
    page (none of the entry before is on it), as the questions' parts are: a page of the list breaks where the
    entries before it fill it, so from an entry that opens a page on, the pages are those of that entry and what
    follows laid out alone (a later piece has no title page or heading, and starts its first entry where an entry
    that opens a page starts: `starts_as_whole`). A piece laid out from entry a keeps its pages before the last page
    an entry opens (the last page may hold only part of what follows, and one that begins with the end of an
    entry split across pages is no place to cut), and the next piece begins with that entry; when none after the
    first opens a page, twice as many entries are laid out. A contents of `_FRONT_ENTRIES` entries or fewer is one
    piece: the front whole.

    Where a piece ends depends on the entries laid out with it, so its file is named by its HTML and by the entries
    after it in that layout (`path`), and what each piece was laid out with is remembered (`_Memory.front_cuts`):
    a rebuild finds the pieces whose entries, and those after them, did not change, and lays out the others as a
    build from an empty cache would, giving its pieces and bytes. After an edit that moves page numbers, the pieces
    holding an entry whose number moved are laid out again (and the one before, when its layout reached one).

    The front's page count decides the page numbers it shows (`write` lays it out again when a guess was wrong):
    every piece but the last is saved as it is laid out (one layout in memory at a time); the last once `finish`
    is told the count was right, so that a wrong guess's front, when it is one piece, is never saved. A template
    that does not mark its entries (data-entry, see the packaged booklet.html.j2), or whose later pieces do not
    start as the whole contents does, gets its front laid out whole.
    """

    def __init__(
        self,
        deck: Deck,
        target: Path,
        context: BuildContext,
        cache: DocumentCache,
        memory: _Memory,
        pages: dict[int, int],
    ) -> None:
        self.deck = deck
        self.target = target
        self.context = context
        self.cache = cache
        self.memory = memory
        self.pages = pages
        self._loads = _loads(deck, (), context)
        # The last piece laid out, not yet saved (its layout and where it goes): see `finish`.
        self._unsaved: tuple[Any, Path] | None = None
        # How far below its page's top an entry that opens a page starts (`starts_as_whole`): the last build's until a
        # layout of this build shows one.
        self.below_top: float | None = memory.front_below_top
        self._below_top_now: float | None = None  # as a layout of this build shows it
        self.found: list[_FrontPiece] = []  # the pieces, once `pieces` found them

    def html(self, first: int, end: int) -> str:
        return front_html(self.deck, self.pages, self.context, first, end)

    def path(self, first: int, end: int, window: int, document: str | None = None) -> Path:
        """Where the piece of entries `first` to `end` cut from a layout up to `window` is cached (`document`: its
        HTML, when made already). The entries after it decide where it ends, and the piece size how many there are."""
        after = [f"\0{_FRONT_ENTRIES}"]
        for note in self.deck.notes[end:window]:
            after.append(f"\0{note.number}\0{fragments.print_question(note)}\0{self.pages[note.number]}")
        document = self.html(first, end) if document is None else document
        return self.cache.path_for(document, self._loads + "".join(after))

    def known(self, first: int, end: int, window: int) -> _FrontPiece | None:
        """The piece, if its PDF is in the cache (and whole)."""
        from generator import pdfjoin

        path = self.path(first, end, window)
        pages = self.memory.front_pages_of.get(path.name)
        if pages is None or not pdfjoin.ends_whole(path):
            pages = pdfjoin.pages_in(path)
        return None if pages is None else _FrontPiece(first, end, window, path, pages)

    def remembered(self, first: int) -> _FrontPiece | None:
        """The piece from entry `first` the last build made, if it is cached for these entries and numbers."""
        count = len(self.deck.notes)
        cut = self.memory.front_cuts.get(self.deck.notes[first].id) if first < count else None
        if cut is None:
            return None
        end, window = first + cut[0], first + cut[1]
        # As a layout cuts: the last piece takes every entry left, any other ends before its layout's last entry.
        if not (end == window == count or end < window <= count):
            return None
        return self.known(first, end, window)

    def pieces(self) -> list[_FrontPiece]:
        """The pieces in order: the last build's where they are cached, the others laid out here."""
        count = len(self.deck.notes)
        pieces: list[_FrontPiece] = []
        first = 0
        while first < count:
            piece = self.remembered(first) or self.lay_out(first)
            if piece is None:
                self.found = [self.whole()]
                return self.found
            pieces.append(piece)
            first = piece.end
        self.found = pieces
        return pieces

    def lay_out(self, first: int) -> _FrontPiece | None:
        """Lay the entries from `first` out, `_FRONT_ENTRIES` of them (twice as many, and so on, while no entry after
        the first opens a page), and keep the pages before the last page an entry opens; None if the template does
        not mark the entries, or the piece does not start as the whole contents does (`starts_as_whole`)."""
        from generator import pdfengine

        count = len(self.deck.notes)
        size = _FRONT_ENTRIES
        while True:
            window = min(first + size, count)
            document = self.html(first, window)
            if document.count(" data-entry=") < window - first:
                return None  # a deck's own template: not laid out to find that out
            laid_out = pdfengine.layout(
                document, self.deck.content_dir, self.context.pdf_roots(self.deck.content_dir), self.target
            )
            entries = pdfengine.placed(laid_out, "data-entry")
            # The entries (by index, never the first) that open a page: none of the entry before is on it.
            opening = [
                index for index in range(1, len(entries)) if entries[index].first_page > entries[index - 1].last_page
            ]
            if len(entries) != window - first or not self.starts_as_whole(first, entries, opening):
                return None
            if window == count:
                path = self.path(first, window, window, document)
                self._unsaved = (laid_out, path)
                return _FrontPiece(first, window, window, path, len(laid_out.pages))
            if opening:
                index, page = opening[-1], entries[opening[-1]].first_page
                path = self.path(first, first + index, window)
                _save_pages(laid_out, laid_out.pages[:page], path)
                return _FrontPiece(first, first + index, window, path, page)
            del laid_out, entries
            size *= 2

    def starts_as_whole(self, first: int, entries: list[Any], opening: list[int]) -> bool:
        """Whether a piece laid out from entry `first` starts where the whole contents has that entry: on its first
        page, as far below the top as an entry that opens a page after a page break.

        Where that is depends on the stylesheet and on WeasyPrint: it keeps a margin at the top of a document, and
        WeasyPrint 70 keeps an entry's top margin after a page break inside the list too (it drops only those of the
        root's children and of boxes with margins adjoining theirs). So it is read, not assumed: every entry that
        opens a page in a layout of this build (or, before one, the last build's) starts that far down.
        """
        below = [_below_top(entries[index]) for index in opening]
        if below:
            seen = below[0] if self._below_top_now is None else self._below_top_now
            if any(abs(offset - seen) > _TOP_PX for offset in below):
                return False  # entries that open pages do not all start alike: laid out whole
            self.below_top = self._below_top_now = seen
        if first == 0:
            return True
        return (
            entries[0].first_page == 0
            and self.below_top is not None
            and abs(_below_top(entries[0]) - self.below_top) <= _TOP_PX
        )

    def whole(self) -> _FrontPiece:
        """The title page and contents as one piece, laid out whole unless cached."""
        from generator import pdfengine

        count = len(self.deck.notes)
        if (known := self.known(0, count, count)) is not None:
            return known
        document = self.html(0, count)
        laid_out = pdfengine.layout(
            document, self.deck.content_dir, self.context.pdf_roots(self.deck.content_dir), self.target
        )
        self._unsaved = (laid_out, self.path(0, count, count, document))
        return _FrontPiece(0, count, count, self._unsaved[1], len(laid_out.pages))

    def finish(self, right: bool) -> None:
        """Save the last piece laid out if the front's page count was `right` (its numbers are those it shows); drop
        its layout either way."""
        from generator import pdfengine

        if self._unsaved is not None and right:
            pdfengine.save_atomically(*self._unsaved)
        self._unsaved = None


def write(deck: Deck, target: Path, context: BuildContext) -> None:
    """Lay out the parts not in the cache, then the title page and contents; join them and number the pages."""
    # Here, not at the top: WeasyPrint takes a second to load, and a build without this output skips it.
    from generator import pdfengine, rendercache

    prefix = rendercache.prefix_for(deck.slug, context.paper, WRITER.name)
    with rendercache.opened(context.cache_dir, prefix, pdfengine.PDF_OPTIONS) as cache:
        memory = _Memory(cache.folder / f"{prefix}parts.json")
        runs = _Parts(deck, target, context, cache, memory)
        parts = runs.cut()
        paths = [runs.path(part) for part in parts]
        layouts = [runs.layouts[path.name] for path in paths]

        # Each question's page among the questions' pages, from 0.
        offsets: dict[int, int] = {}
        before = 0
        for part, layout in zip(parts, layouts, strict=True):
            for note, start in zip(part, layout.starts, strict=True):
                offsets[note.number] = before + start
            before += layout.pages

        front_pages = memory.front_pages or _front_pages_guess(deck, context.paper)
        for _ in range(_FRONT_ATTEMPTS):
            front = _Front(
                deck,
                target,
                context,
                cache,
                memory,
                {number: front_pages + offset + 1 for number, offset in offsets.items()},
            )
            pieces = front.pieces()
            laid_out = sum(piece.pages for piece in pieces)
            front.finish(right=laid_out == front_pages)
            if laid_out == front_pages:
                break
            front_pages = laid_out
        else:
            raise OutputError(f"{target.name}: the contents' page numbers do not settle")

        pages = front_pages + before
        overlay = functools.partial(numbers_html, deck, pages, context)
        numbers = rendercache.page_numbers(cache, deck, target, context, overlay, pages)
        front_paths = [piece.path for piece in pieces]
        rendercache.join_dated([*front_paths, *paths], target, deck, context, numbers)
        cache.keep_only([*front_paths, *paths, numbers])
        memory.save(
            parts,
            {path.name: layout for path, layout in zip(paths, layouts, strict=True)},
            runs.opened,
            front,
        )


# What the packaged booklet.css gives a contents entry (10 pt on 1.45 leading, 2.6 mm apart) and its text block
# (A4: 255 mm tall, less the contents' heading on its first page; a line of ~80 characters after the number and
# before the leader and page number). Only a first guess: a wrong one costs a layout more, never a wrong number.
_TOC_LINE_MM = 10 * 1.45 * 25.4 / 72
_TOC_GAP_MM = 2.6
_TOC_HEADING_MM = 18 * 1.45 * 25.4 / 72 + 6
_TOC_COLUMNS = 80


def _front_pages_guess(deck: Deck, paper: str) -> int:
    """The pages of the title page and contents, guessed from the questions' lengths (when no build remembers)."""
    height = _TEXT_BLOCK_MM[paper][1]
    used, pages = _TOC_HEADING_MM, 1
    for note in deck.notes:
        width = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in note.question)
        entry = max(1, -(-width // _TOC_COLUMNS)) * _TOC_LINE_MM + _TOC_GAP_MM
        if used + entry > height:
            used, pages = 0.0, pages + 1
        used += entry
    return 1 + pages


WRITER = Writer("full", "full.pdf", "full-answer booklet: title page, contents with page numbers, every answer", write)
