"""The printable cheat sheet: every note's number, question and key points, in dense columns.

Also the WeasyPrint plumbing the other PDFs (`booklet`, `cards`) share: tagged PDF/UA output, the
content-only fetcher, and display formulas shrunk to fit a measure.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import weasyprint

from generator import fragments, templating
from generator.errors import OutputError
from generator.fetcher import ContentOnlyFetcher, ResourceRefused
from generator.model import Deck

PAGE_SIZES = {"a4": "A4", "letter": "letter"}
# Tagged PDF/UA-1: structure tree, /Lang, document title shown, fonts embedded.
PDF_OPTIONS: dict[str, Any] = {"pdf_variant": "pdf/ua-1", "uncompressed_pdf": False}
_DISPLAY_MATH = re.compile(r'<div class="math-display">(?P<image><img [^>]*?style="width:(?P<width>[\d.]+)em;)')


def html_of(deck: Deck, templates_dir: Path, timestamp: float, paper: str = "a4") -> str:
    env = templating.environment(templates_dir)
    notes = [
        {
            "number": note.number,
            "question": note.question,
            "tags": note.tags,
            "key_points": fragments.svg_math(note.key_points_html),
        }
        for note in deck.notes
    ]
    return templating.render(
        env,
        "cheatsheet.html.j2",
        deck=deck,
        notes=notes,
        css=templating.read(templates_dir, "cheatsheet.css"),
        page_size=PAGE_SIZES[paper],
        created=datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def write(deck: Deck, target: Path, templates_dir: Path, timestamp: float, paper: str = "a4") -> None:
    document = html_of(deck, templates_dir, timestamp, paper)
    write_html_as_pdf(document, deck, target, templates_dir)


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
