"""The printable cheat sheet: every note's number, question and key points, in dense columns.

Also the WeasyPrint plumbing the other PDFs (`booklet`, `cards`) share: tagged PDF/UA output, the
content-only fetcher, and display formulas shrunk to fit a measure.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import weasyprint

from generator import fragments, pdfjoin, rendercache, templating
from generator.errors import OutputError
from generator.fetcher import ContentOnlyFetcher, ResourceRefused
from generator.model import Deck, Note

PAGE_SIZES = {"a4": "A4", "letter": "letter"}
# Tagged PDF/UA-1: structure tree, /Lang, document title shown, fonts embedded.
PDF_OPTIONS: dict[str, Any] = {"pdf_variant": "pdf/ua-1", "uncompressed_pdf": False}
# Notes per part of the sheet: at least _PART_MIN, then a boundary with probability 1/_PART_SPREAD
# after each note, at most _PART_MAX. About a hundred notes: ~20 pages, ~100 MB to lay out.
_PART_MIN, _PART_SPREAD, _PART_MAX = 32, 64, 192
# Parts to render are spread over worker processes (-j) when they hold at least this many notes.
_NOTES_WORTH_WORKERS = 300
# The page-number overlay of a longer sheet is laid out in a worker process (with -j > 1).
_PAGES_IN_PROCESS = 100
_DISPLAY_MATH = re.compile(r'<div class="math-display">(?P<image><img [^>]*?style="width:(?P<width>[\d.]+)em;)')


def _sheet_html(
    deck: Deck,
    notes: Sequence[Note],
    templates_dir: Path,
    paper: str,
    *,
    first_part: bool,
    numbered: bool,
    timestamp: float | None,
) -> str:
    env = templating.environment(templates_dir)
    entries = [
        {
            "number": note.number,
            "question": note.question,
            "key_points": fragments.svg_math(note.key_points_html),
        }
        for note in notes
    ]
    return templating.render(
        env,
        "cheatsheet.html.j2",
        deck=deck,
        notes=entries,
        question_count=len(deck.notes),
        first_part=first_part,
        numbered=numbered,
        keywords=keywords_of(deck),
        css=templating.read(templates_dir, "cheatsheet.css"),
        page_size=PAGE_SIZES[paper],
        created=None if timestamp is None else _iso(timestamp),
    )


def html_of(deck: Deck, templates_dir: Path, timestamp: float, paper: str = "a4") -> str:
    """The whole cheat sheet as one HTML document: what WeasyPrint alone would be given."""
    return _sheet_html(deck, deck.notes, templates_dir, paper, first_part=True, numbered=True, timestamp=timestamp)


def part_html(deck: Deck, notes: Sequence[Note], first_part: bool, templates_dir: Path, paper: str = "a4") -> str:
    """One part of the sheet: no page numbers and no dates, so it only changes when its notes do."""
    return _sheet_html(deck, notes, templates_dir, paper, first_part=first_part, numbered=False, timestamp=None)


def numbers_html(deck: Deck, pages: int, templates_dir: Path, paper: str = "a4") -> str:
    return templating.render(
        templating.environment(templates_dir),
        "cheatsheet-numbers.html.j2",
        deck=deck,
        pages=pages,
        css=templating.read(templates_dir, "cheatsheet.css"),
        page_size=PAGE_SIZES[paper],
    )


def keywords_of(deck: Deck) -> str:
    return ", ".join(dict.fromkeys(tag for note in deck.notes for tag in note.tags))


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def write(deck: Deck, target: Path, templates_dir: Path, timestamp: float, paper: str = "a4", jobs: int = 1) -> None:
    """Render each part not in the cache (on `jobs` processes), then join the parts and number the pages.

    A rebuild after editing one note re-renders that note's part only; memory stays that of one part.
    """
    with rendercache.opened(f"{deck.slug}-{paper}-", PDF_OPTIONS) as cache:
        pages_of: dict[Path, int | None] = {}
        missing: list[tuple[Path, Callable[[], str]]] = []
        missing_notes = 0
        for index, notes in enumerate(parts_of(deck.notes)):
            path = cache.path_for(part_html(deck, notes, index == 0, templates_dir, paper), _media_digest(deck, notes))
            pages_of[path] = pdfjoin.pages_in(path)
            # Not cached, or cached but unreadable (a damaged file): rendered afresh. The HTML is made again
            # when its turn comes rather than kept: all parts' HTML at once is most of a big bank's math.
            if pages_of[path] is None:
                missing.append((path, functools.partial(part_html, deck, notes, index == 0, templates_dir, paper)))
                missing_notes += len(notes)
        # A worker process costs a second or two to start (Python, WeasyPrint, fonts): worth it for a long sheet only.
        workers = jobs if missing_notes >= _NOTES_WORTH_WORKERS else 1
        _render(missing, deck, target, templates_dir, workers, PDF_OPTIONS)
        parts = list(pages_of)
        pages = sum(count if count is not None else pdfjoin.pages_in(path) or 0 for path, count in pages_of.items())
        numbers_document = numbers_html(deck, pages, templates_dir, paper)
        numbers = cache.path_for(numbers_document, "")
        if pdfjoin.pages_in(numbers) != pages:
            # Hundreds of pages laid out at once: in a worker process, whose memory goes when it ends.
            isolated = jobs > 1 and pages > _PAGES_IN_PROCESS
            _render([(numbers, lambda: numbers_document)], deck, target, templates_dir, jobs, {}, isolated)
        metadata = pdfjoin.Metadata(keywords=keywords_of(deck), created=timestamp)
        try:
            pdfjoin.join(parts, target, metadata, page_numbers=numbers)
        except pdfjoin.JoinError as error:
            raise OutputError(f"{target.name}: {error}") from error
        cache.keep_only([*parts, numbers])


def _render(
    documents: list[tuple[Path, Callable[[], str]]],
    deck: Deck,
    target: Path,
    templates_dir: Path,
    jobs: int,
    options: dict[str, Any],
    isolated: bool = False,
) -> None:
    """Render the documents into the cache, loading files only from the content folder and templates."""
    base_url = str(deck.content_dir.resolve()) + "/"
    errors = rendercache.render_all(documents, base_url, [deck.content_dir, templates_dir], options, jobs, isolated)
    if errors:
        raise OutputError(f"{target.name}: {errors[0]}")


def _media_digest(deck: Deck, notes: Sequence[Note]) -> str:
    """The images a part may draw, by content: the HTML names them but does not hold them."""
    digest = hashlib.sha256()
    for note in notes:
        for relative in note.media:
            digest.update(relative.as_posix().encode("utf-8"))
            with contextlib.suppress(OSError):
                digest.update(hashlib.sha256((deck.content_dir / relative).read_bytes()).digest())
    return digest.hexdigest()


def write_html_as_pdf(document: str, deck: Deck, target: Path, templates_dir: Path) -> None:
    save(render(document, deck, target, templates_dir), target)


def render(document: str, deck: Deck, target: Path, templates_dir: Path) -> Any:
    """Lay the document out (a `weasyprint.Document`), loading files only from the content folder and templates.

    Relative references (images) resolve against the content folder; `target` only names the output in errors.
    """
    fetcher = ContentOnlyFetcher([deck.content_dir, templates_dir])
    try:
        return weasyprint.HTML(
            string=document, base_url=str(deck.content_dir.resolve()) + "/", url_fetcher=fetcher
        ).render(**PDF_OPTIONS)
    except ResourceRefused as error:
        raise OutputError(f"{target.name}: {error}") from error


def save(rendered: Any, target: Path) -> None:
    rendered.write_pdf(target, **PDF_OPTIONS)


def fit_display_math(fragment: str, max_width_em: float) -> str:
    """Shrink each display formula (from `fragments.svg_math`) wider than `max_width_em` to that width.

    The SVG is sized in em, so a smaller font size on its block scales it without distortion.
    """

    def shrink(found: re.Match[str]) -> str:
        width = float(found.group("width"))
        if width <= max_width_em:
            return found.group(0)
        return f'<div class="math-display" style="font-size:{max_width_em / width:.3f}em">' + found.group("image")

    return _DISPLAY_MATH.sub(shrink, fragment)
