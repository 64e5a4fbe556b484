"""The one data type that flows from the reader to every writer: a deck of notes.

Each note keeps where it came from (file and line) so that any later stage can report a
problem at the right place. Markdown is converted once, by the reader; the HTML keeps math
in the generic `\\(…\\)` / `\\[…\\]` form that each writer then turns into what its output needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import Location


@dataclass(frozen=True)
class Formula:
    tex: str
    display: bool
    location: Location


@dataclass(frozen=True)
class ClozeItem:
    """One cloze note: HTML with `{{c1::…}}` deletions, which becomes one or more Anki cloze cards."""

    html: str
    location: Location


@dataclass(frozen=True)
class Note:
    id: str
    number: int
    question: str  # as written in the front matter
    question_html: str  # escaped, its formulas as arithmatex spans like the body's (`markup.question_html`)
    tags: tuple[str, ...]
    key_points_html: str
    answer_html: str
    formulas: tuple[Formula, ...]
    location: Location
    key_points_location: Location
    answer_location: Location
    media: tuple[Path, ...] = ()
    # The full answer's display formulas marked `<!-- key -->`, in the order written: what a flashcard's back and
    # the cheat sheet show beside the key points (a marked formula inside the key points shows where it is).
    key_formulas: tuple[Formula, ...] = ()
    clozes: tuple[ClozeItem, ...] = ()
    key_lines: tuple[tuple[str, int], ...] = ()  # the file line of each front-matter key
    language: str | None = None  # the note's own language (BCP 47) when it is not the deck's
    # Identity carried over from an imported Anki deck (front matter `guid`, `cloze_guids`, `note_type`):
    # None/empty means studykit derives the guids from `id` as usual.
    guid: str | None = None
    cloze_guids: tuple[str, ...] = ()
    note_type: str | None = None  # a note type kept from the imported deck, by name (see generator.ankitypes)

    @property
    def path(self) -> Path:
        return self.location.path

    def location_of(self, key: str) -> Location:
        """Where a front-matter key is written (the note's first line when it is not)."""
        return Location(self.path, dict(self.key_lines).get(key, self.location.line))


@dataclass(frozen=True)
class Deck:
    title: str
    slug: str
    id: int
    credit: str
    source_url: str
    license: str
    author: str
    language: str
    content_dir: Path
    location: Location
    notes: tuple[Note, ...] = field(default=())
    footer: str = ""  # the booklet's page footer

    @property
    def keywords(self) -> str:
        """Every tag of the deck, once each, in the order the notes first use them: the PDFs' keywords."""
        return ", ".join(dict.fromkeys(tag for note in self.notes for tag in note.tags))

    @property
    def formulas(self) -> list[Formula]:
        return [formula for note in self.notes for formula in note.formulas]
