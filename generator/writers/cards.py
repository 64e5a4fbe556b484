"""Printable flashcards: eight cards a sheet, fronts on odd pages, backs mirrored on even pages.

Printed double-sided and flipped on the long edge, each back lands exactly behind its front: a back
page is the front page seen from behind, so its columns are swapped and its rows stay. Every card has
a fixed size in millimetres and sits at a position computed here; cut marks sit outside the cards.

A card's text must never overflow silently. After each layout the writer measures every card (in
WeasyPrint's box tree) and gives a card that overflows a smaller type size, then no figure,
then fewer key points with a "continued in the deck" line; a card that still does not fit is an error.

Each sheet of eight is laid out on its own and kept in the PDF cache by the hash of its HTML, found there by its
signature (`rendercache.PartSignatures`): a rebuild after an edit makes and lays out the edited note's sheet only.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import re
from dataclasses import astuple, dataclass, replace
from pathlib import Path
from typing import Any

from generator import fragments
from generator.context import BuildContext
from generator.errors import BuildFailed, OutputError, Problem
from generator.model import Deck, Note
from generator.writers import Writer

COLUMNS = 2
ROWS = 4
CARDS_PER_SHEET = COLUMNS * ROWS
PADDING_MM = 4.0
# Cut marks: hairlines from MARK_OFFSET_MM to MARK_OFFSET_MM + MARK_LENGTH_MM outside each card corner.
MARK_OFFSET_MM = 1.0
MARK_LENGTH_MM = 3.0
MARK_WIDTH_MM = 0.1

# The settings a card's back tries in turn while it overflows: (key-points size class, whether the figure shows).
# The key formulas the author marked always show; the figure is worth a step down in size, then it goes. After
# the last step, trailing key points go one at a time ("continued in the deck").
BACK_STEPS = ((1, True), (2, True), (3, True), (1, False), (2, False), (3, False), (4, False))
FRONT_STEPS = (1, 2, 3, 4)
# A display formula (in the key points or marked key) is shrunk to the card's measure.
CARD_FORMULA_MAX_EM = 27.0

_FIGURE = re.compile(r"<img\b", re.IGNORECASE)
_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
# A paragraph that is all emphasis, right after a figure, is its caption.
_CAPTION = re.compile(r"<p>\s*<em>.*?</em>\s*</p>", re.DOTALL)
_UNIT_TAG = re.compile(r"<(/?)(ul|ol|li|p|div|table|blockquote|pre|h[1-6])\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Paper:
    """A sheet of paper and the card grid on it, in millimetres."""

    name: str
    width: float
    height: float
    card_width: float
    card_height: float
    gap_x: float
    gap_y: float

    @property
    def margin_x(self) -> float:
        return (self.width - COLUMNS * self.card_width - (COLUMNS - 1) * self.gap_x) / 2

    @property
    def margin_y(self) -> float:
        return (self.height - ROWS * self.card_height - (ROWS - 1) * self.gap_y) / 2

    def front_slot(self, index: int) -> tuple[float, float]:
        """Top-left corner of the `index`-th card (0-7, row by row) on a front page."""
        column, row = index % COLUMNS, index // COLUMNS
        x = self.margin_x + column * (self.card_width + self.gap_x)
        y = self.margin_y + row * (self.card_height + self.gap_y)
        return x, y

    def back_slot(self, index: int) -> tuple[float, float]:
        """The same card's back: mirrored left to right (long-edge flip), same height."""
        x, y = self.front_slot(index)
        return self.width - x - self.card_width, y


# A4 holds 90 x 64 mm cards (about a playing card); Letter is shorter, so its cards are 60 mm tall.
PAPERS = {
    "a4": Paper("A4", 210.0, 297.0, 90.0, 64.0, 8.0, 5.0),
    "letter": Paper("letter", 215.9, 279.4, 90.0, 60.0, 8.0, 4.0),
}


@dataclass(frozen=True)
class Fit:
    """How one card is set: its type step, and how many key-point units it keeps (None: all)."""

    front_step: int = 0
    back_step: int = 0
    kept: int | None = None


def marks(paper: Paper, x: float, y: float) -> list[dict[str, float]]:
    """The eight hairlines around one card's corners, each pointing away from the card."""
    w, h, t = paper.card_width, paper.card_height, MARK_WIDTH_MM
    near, far = MARK_OFFSET_MM, MARK_OFFSET_MM + MARK_LENGTH_MM
    lines = []
    for corner_x, outward_x in ((x, -1), (x + w, 1)):
        for corner_y, outward_y in ((y, -1), (y + h, 1)):
            # Horizontal: along the card's top or bottom edge, beside the card.
            start_x = corner_x + near if outward_x > 0 else corner_x - far
            lines.append({"left": start_x, "top": corner_y - t / 2, "width": MARK_LENGTH_MM, "height": t})
            # Vertical: along the card's left or right edge, above or below the card.
            start_y = corner_y + near if outward_y > 0 else corner_y - far
            lines.append({"left": corner_x - t / 2, "top": start_y, "width": t, "height": MARK_LENGTH_MM})
    return lines


def marks_image(paper: Paper, lines: list[dict[str, float]]) -> str:
    """A sheet side's cut marks as one SVG the size of the sheet (millimetres as its units), as a data URI.

    Drawn as one background, not as a positioned box per hairline: a side's 64 boxes, each with its own style to
    parse, stacking context and background, were a third of a sheet's layout. The same marks recur on every full
    sheet, and an SVG of plain rectangles is drawn once per process and replayed (`pdfengine._memoize_formulas`).
    """
    rects = "".join(
        f'<rect x="{line["left"]:.3f}" y="{line["top"]:.3f}" '
        f'width="{line["width"]:.3f}" height="{line["height"]:.3f}"/>'
        for line in lines
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{paper.width:.3f}mm" height="{paper.height:.3f}mm" '
        f'viewBox="0 0 {paper.width:.3f} {paper.height:.3f}"><g fill="#000">{rects}</g></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("ascii")).decode("ascii")


def key_point_units(fragment: str) -> list[tuple[int, str]]:
    """Where each unit a card can drop ends, with the closing tags the kept part then needs.

    A unit is a top-level list item or any other top-level block (paragraph, table, …).
    """
    units: list[tuple[int, str]] = []
    stack: list[str] = []
    for tag in _UNIT_TAG.finditer(fragment):
        closing, name = tag.group(1) == "/", tag.group(2).lower()
        if not closing:
            stack.append(name)
            continue
        while stack and stack[-1] != name:
            stack.pop()  # an element Markdown left unclosed
        if stack:
            stack.pop()
        top_level_item = name == "li" and len(stack) == 1 and stack[0] in ("ul", "ol")
        if top_level_item:
            units.append((tag.end(), f"</{stack[0]}>"))
        elif not stack and name not in ("ul", "ol"):
            units.append((tag.end(), ""))
    return units


def top_level_blocks(fragment: str) -> list[tuple[int, int]]:
    """Start and end of each top-level block element of a fragment."""
    blocks: list[tuple[int, int]] = []
    depth, start = 0, 0
    for tag in _UNIT_TAG.finditer(fragment):
        if tag.group(1) != "/":
            if depth == 0:
                start = tag.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                blocks.append((start, tag.end()))
    return blocks


def without_figures(fragment: str) -> tuple[str, bool]:
    """The fragment less its figures (too small to read on a card) and their captions; whether any went."""
    blocks = top_level_blocks(fragment)
    dropped: list[tuple[int, int]] = []
    for index, (start, end) in enumerate(blocks):
        if _FIGURE.search(fragment, start, end):
            dropped.append((start, end))
            if index + 1 < len(blocks) and _CAPTION.fullmatch(fragment, *blocks[index + 1]):
                dropped.append(blocks[index + 1])
    for start, end in reversed(dropped):
        fragment = fragment[:start] + fragment[end:]
    return fragment, bool(dropped)


def figure_beside(fragment: str) -> str:
    """The key points with their first figure floated to the top right, beside the text; captions left out.

    A card is too short for a figure under its key points and formulas; beside them it fits at a third of the
    card's width. The rest of the figures and every caption go.
    """
    blocks = top_level_blocks(fragment)
    for start, end in blocks:
        if image := _IMAGE.search(fragment, start, end):
            rest, _ = without_figures(fragment)
            return f'<div class="card-figure">{image.group(0)}</div>{rest}'
    return fragment


def truncated(fragment: str, kept: int | None) -> str:
    units = key_point_units(fragment)
    if kept is None or kept >= len(units):
        return fragment
    end, closing = units[kept - 1]
    return fragment[:end] + closing


def key_formulas(note: Note) -> list[str]:
    """The formulas the author marked `<!-- key -->` in the full answer, in order, drawn to the card's measure."""
    return [fragments.display_formula(formula.tex, CARD_FORMULA_MAX_EM) for formula in note.key_formulas]


def has_figure(note: Note) -> bool:
    return without_figures(note.key_points_html)[1]


def sheets_of(notes: tuple[Note, ...]) -> list[tuple[Note, ...]]:
    """The notes eight at a time: the cards of one sheet of paper, front and back."""
    return [notes[i : i + CARDS_PER_SHEET] for i in range(0, len(notes), CARDS_PER_SHEET)]


def html_of(
    deck: Deck,
    context: BuildContext,
    fits: dict[int, Fit] | None = None,
    *,
    first_sheet: int = 1,
    sheets: int | None = None,
    dated: bool = True,
) -> str:
    """The cards of `deck` as one HTML document, its first sheet numbered `first_sheet` of `sheets`.

    Without `dated`, no dates: a part of the flashcards is kept by the hash of its HTML, and dated on joining.
    """
    sheet = PAPERS[context.paper]
    fits = fits or {}
    pages = []
    groups = sheets_of(deck.notes)
    for number, group in enumerate(groups, start=first_sheet):
        fronts: list[dict[str, Any]] = []
        backs: list[dict[str, Any]] = []
        front_marks: list[dict[str, float]] = []
        back_marks: list[dict[str, float]] = []
        for index, note in enumerate(group):
            fit = fits.get(note.number, Fit())
            front_x, front_y = sheet.front_slot(index)
            back_x, back_y = sheet.back_slot(index)
            size, with_figure = BACK_STEPS[fit.back_step]
            complete = figure_beside(note.key_points_html) if with_figure else without_figures(note.key_points_html)[0]
            key_points = truncated(complete, fit.kept)
            fronts.append(
                {
                    "number": note.number,
                    "question": fragments.print_question(note),
                    "tags": note.tags,
                    "left": front_x,
                    "top": front_y,
                    "size": FRONT_STEPS[fit.front_step],
                }
            )
            backs.append(
                {
                    "number": note.number,
                    "key_points": fragments.svg_math(key_points, max_display_em=CARD_FORMULA_MAX_EM),
                    "formulas": key_formulas(note),
                    "continued": key_points != complete,
                    "left": back_x,
                    "top": back_y,
                    "size": size,
                }
            )
            front_marks += marks(sheet, front_x, front_y)
            back_marks += marks(sheet, back_x, back_y)
        pages.append({"number": number, "side": "fronts", "cards": fronts, "marks": marks_image(sheet, front_marks)})
        pages.append({"number": number, "side": "backs", "cards": backs, "marks": marks_image(sheet, back_marks)})
    return context.render(
        "cards.html.j2",
        deck=deck,
        pages=pages,
        sheets=sheets or len(groups),
        paper=sheet,
        padding=PADDING_MM,
        css=context.print_css("cards.css"),
        created=context.created if dated else None,
    )


def _next_back_step(note: Note, step: int) -> int | None:
    """The next step that sets the back differently from every step tried (without a figure, showing it is moot)."""
    figure = has_figure(note)

    def setting(index: int) -> tuple[int, bool]:
        size, with_figure = BACK_STEPS[index]
        return size, with_figure and figure

    tried = {setting(index) for index in range(step + 1)}
    return next((index for index in range(step + 1, len(BACK_STEPS)) if setting(index) not in tried), None)


def _refit(fits: dict[int, Fit], deck: Deck, over: set[str]) -> list[Problem]:
    """Step every overflowing card down once; the cards that cannot shrink further are problems."""
    problems = []
    for note in deck.notes:
        fit = fits.get(note.number, Fit())
        if f"front-{note.number}" in over:
            if fit.front_step + 1 < len(FRONT_STEPS):
                fit = replace(fit, front_step=fit.front_step + 1)
            else:
                problems.append(
                    Problem(note.location, "the question does not fit on a flashcard", "shorten the question")
                )
        if f"back-{note.number}" in over:
            units = len(key_point_units(without_figures(note.key_points_html)[0]))
            if (step := _next_back_step(note, fit.back_step)) is not None:
                fit = replace(fit, back_step=step)
            elif (fit.kept if fit.kept is not None else units) > 1:
                fit = replace(fit, kept=(fit.kept if fit.kept is not None else units) - 1)
            else:
                if note.key_formulas:
                    problem = Problem(
                        note.key_formulas[0].location,
                        "the key formulas and the first key point do not fit on a flashcard's back",
                        "mark fewer or shorter formulas with <!-- key -->, or split the first key point",
                    )
                else:
                    problem = Problem(
                        note.key_points_location,
                        "the first key point alone does not fit on a flashcard's back",
                        "split it into shorter bullets",
                    )
                problems.append(problem)
        if fit != Fit():
            fits[note.number] = fit
    return problems


def render_fitted(
    deck: Deck,
    target: Path,
    context: BuildContext,
    *,
    first_sheet: int = 1,
    sheets: int | None = None,
    dated: bool = True,
    known: dict[int, Fit] | None = None,
) -> tuple[Any, dict[int, Fit]]:
    """Lay the cards out until none overflows; return the laid-out document and each card's fit.

    A card's fit depends on its own content only (every card has the same size), so after the first layout only
    the cards that overflowed are laid out again, step after step, on their own; the whole sheet is laid out
    once more at the end with every card's fit. `known`: fits an earlier build found for some of the cards, the
    first layout's starting point (a card's steps only ever shrink it, so its fit found cold is where they end).
    """
    # Here, not at the top: WeasyPrint takes a second to load, and a build without this output skips it.
    from generator import pdfengine

    fits: dict[int, Fit] = dict(known or {})
    roots = context.pdf_roots(deck.content_dir)
    numbering: dict[str, Any] = {"first_sheet": first_sheet, "sheets": sheets, "dated": dated}

    def laid_out_overflowing(cards: Deck) -> tuple[Any, set[str]]:
        laid_out = pdfengine.layout(html_of(cards, context, fits, **numbering), deck.content_dir, roots, target)
        return laid_out, pdfengine.overflowing(laid_out)

    def stepped_until_fitting(cards: Deck, over: set[str]) -> None:
        """Step the overflowing cards down, laying out only those again, until none of them overflows."""
        while over:
            before = dict(fits)
            if problems := _refit(fits, cards, over):
                raise BuildFailed(problems)
            if fits == before:  # an area no step can shrink: never loop, never let it overflow
                raise OutputError(f"{target.name}: card areas overflow and cannot shrink: {', '.join(sorted(over))}")
            stepped = {int(name.split("-", 1)[1]) for name in over}
            _, over = laid_out_overflowing(replace(cards, notes=tuple(n for n in cards.notes if n.number in stepped)))

    # After an edit, the sheet's other cards start at the fit they took: the new or edited cards are fitted first,
    # on their own (a card or two, not eight), so that the whole sheet is laid out once, not once more per step.
    unknown = tuple(note for note in deck.notes if note.number not in fits)
    if known and unknown:
        alone = replace(deck, notes=unknown)
        stepped_until_fitting(alone, laid_out_overflowing(alone)[1])
    laid_out, over = laid_out_overflowing(deck)
    while over:
        stepped_until_fitting(deck, over)
        laid_out, over = laid_out_overflowing(deck)  # the whole sheet with every fit; it should fit as a whole
    return laid_out, fits


def write(deck: Deck, target: Path, context: BuildContext) -> None:
    """Each sheet of eight cards laid out on its own (or taken from the cache), then joined and dated.

    A card's fit depends on its own note only, so a sheet is kept by the hash of its undated HTML as first laid
    out: after editing one note, only that note's sheet is laid out again. A sheet is found by its signature
    (`rendercache.PartSignatures`): only the edited note's sheet's HTML is made again.
    """
    from generator import pdfengine, pdfjoin, rendercache

    groups = sheets_of(deck.notes)
    prefix = rendercache.prefix_for(deck.slug, context.paper, WRITER.name)
    with rendercache.opened(context.cache_dir, prefix, pdfengine.PDF_OPTIONS) as cache:
        remembered = RememberedFits(cache.folder / f"{prefix}fits.json")
        # A sheet's template is given the sheet's own notes only (`part`): nothing of the deck's notes as a whole.
        signatures = rendercache.PartSignatures(cache, deck, context, WRITER.name, "cards.html.j2")
        parts = []
        for number, group in enumerate(groups, start=1):
            part = replace(deck, notes=group)
            numbering: dict[str, Any] = {"first_sheet": number, "sheets": len(groups), "dated": False}
            html = functools.partial(html_of, part, context, **numbering)
            path = signatures.path_for(group, (number, len(groups)), html, rendercache.loads_of(deck, group, context))
            if not pdfjoin.ends_whole(path):  # named by its HTML's hash: a whole file is that sheet
                # Keyed only for a sheet laid out: a kept sheet's cards need no key (and no images read again).
                keys = {note.number: cache.path_for(_card_alone(deck, note, context), "").stem for note in group}
                known = {n: fit for n, key in keys.items() if (fit := remembered.get(key)) is not None}
                laid_out, fits = render_fitted(part, target, context, **numbering, known=known)
                pdfengine.save_atomically(laid_out, path)
                remembered.found(path.name, {key: fits.get(n, Fit()) for n, key in keys.items()})
            parts.append(path)
        rendercache.join_dated(parts, target, deck, context)
        cache.keep_only(parts)
        remembered.save([path.name for path in parts])
        signatures.save(parts)


def _card_alone(deck: Deck, note: Note, context: BuildContext) -> str:
    """The note's card on a sheet of its own, at the first step: what its fit depends on (with its images)."""
    from generator import rendercache

    alone = replace(deck, notes=(note,))
    return html_of(alone, context, first_sheet=1, sheets=1, dated=False) + rendercache.loads_of(deck, [note], context)


class RememberedFits:
    """Each card's fit as an earlier build found it, filed under the sheet it was laid out on and keyed by the hash
    of the card laid out alone (`_card_alone`).

    After an edit, the sheet holding the edited card is laid out again: its other cards start at the fit they
    took, instead of overflowing and stepping down again (each step a layout). A card never seen starts at the
    first step, as in a cold build; a wrong or missing file only costs those steps. The fits of a sheet the cache
    no longer keeps are forgotten with it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sheets: dict[str, dict[str, Fit]] = {}
        self._changed = False
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            stored = json.loads(path.read_text(encoding="utf-8"))
            self._sheets = {sheet: {key: Fit(*value) for key, value in fits.items()} for sheet, fits in stored.items()}
        self._by_card = {key: fit for fits in self._sheets.values() for key, fit in fits.items()}

    def get(self, key: str) -> Fit | None:
        return self._by_card.get(key)

    def found(self, sheet: str, fits: dict[str, Fit]) -> None:
        self._sheets[sheet] = fits
        self._changed = True

    def save(self, sheets: list[str]) -> None:
        """Keep the fits of the sheets this build uses only."""
        if not self._changed and set(sheets) == set(self._sheets):
            return
        kept = {
            sheet: {key: astuple(fit) for key, fit in self._sheets[sheet].items()}
            for sheet in sheets
            if sheet in self._sheets
        }
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(kept), encoding="utf-8")
            os.replace(temporary, self.path)


WRITER = Writer("cards", "cards.pdf", "double-sided printable flashcards, eight to a sheet, with cut marks", write)
