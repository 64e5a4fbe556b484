"""The printable cheat sheet: every note's number, question and key points, in dense columns."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import weasyprint

from generator import fragments, templating
from generator.errors import OutputError
from generator.fetcher import ContentOnlyFetcher, ResourceRefused
from generator.model import Deck

PAGE_SIZES = {"a4": "A4", "letter": "letter"}


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
    fetcher = ContentOnlyFetcher([deck.content_dir, templates_dir])
    try:
        weasyprint.HTML(string=document, base_url=str(deck.content_dir.resolve()) + "/", url_fetcher=fetcher).write_pdf(
            target, pdf_variant="pdf/ua-1", uncompressed_pdf=False
        )
    except ResourceRefused as error:
        raise OutputError(f"{target.name}: {error}") from error
