"""What a build was asked to do, made once and handed to every writer.

`BuildOptions` is what the command line (or a caller of `generator.build.build`) says; `BuildContext`
adds what follows from it and from the deck: the build's timestamp, the templates' Jinja environment,
the cache folder and the document language. Environment variables are read here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from generator import fonts, messages, stamps, templating

if TYPE_CHECKING:
    from generator import reader

# Paper sizes by command-line name, as CSS @page writes them.
PAPERS = {"a4": "A4", "letter": "letter"}


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH (reproducible-builds.org): every time a build writes is this one when it is set."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    return int(value) if value else None


def cache_root() -> Path:
    """Where studykit keeps what it rendered between runs: $STUDYKIT_CACHE_DIR, else the user's cache folder."""
    if configured := os.environ.get("STUDYKIT_CACHE_DIR"):
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "studykit"


def iso_timestamp(timestamp: float) -> str:
    """A moment as the PDFs' and pages' metadata write it: ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class BuildOptions:
    """What was asked for: the folders, the outputs by command-line name, and how to build them."""

    content_dir: Path
    output_dir: Path = Path("build")
    outputs: tuple[str, ...] = ()  # command-line names; empty means every output
    templates_dir: Path = templating.TEMPLATES_DIR
    paper: str = "a4"
    jobs: int = 1
    strict: bool = False
    progress: Callable[[int, int], None] | None = None
    notes: reader.NoteCache | None = None  # notes read by an earlier build of this process (studykit serve)


@dataclass(frozen=True)
class BuildContext:
    """Everything a writer needs besides the deck; made once per build."""

    options: BuildOptions
    language: str
    timestamp: int  # the build's time (SOURCE_DATE_EPOCH, else the newest source's mtime)
    fonts: fonts.Plan = field(default_factory=lambda: fonts.Plan("en", cjk=False))
    fixed_epoch: int | None = field(default_factory=source_date_epoch)
    cache_dir: Path = field(default_factory=cache_root)
    # A deck's own templates/ folder: a file there replaces the packaged template or stylesheet of its name.
    deck_templates: tuple[Path, ...] = ()

    @property
    def paper(self) -> str:
        return self.options.paper

    @property
    def jobs(self) -> int:
        return self.options.jobs

    @property
    def templates_dir(self) -> Path:
        return self.options.templates_dir

    @property
    def output_dir(self) -> Path:
        return self.options.output_dir

    @property
    def created(self) -> str:
        """The build's time as the documents' metadata write it."""
        return iso_timestamp(self.timestamp)

    @cached_property
    def templates(self) -> jinja2.Environment:
        return templating.environment(self.templates_dir, *self.deck_templates)

    def template_text(self, name: str) -> str:
        return templating.read(self.templates_dir, name, *self.deck_templates)

    @cached_property
    def text(self) -> messages.Messages:
        """The words the outputs put around the notes, in the deck's language (English when studykit has none)."""
        return messages.for_language(self.language)

    def print_css(self, name: str) -> str:
        """A printed document's stylesheet, with the fonts the deck's text needs (see `fonts.Plan`) and its page
        headers and footers in the deck's language."""
        return self.fonts.css(self.template_text(name) + messages.print_css_rules(name, self.text))

    def pdf_roots(self, content_dir: Path) -> list[Path]:
        """The folders a PDF may load files from: the deck's, the templates, and the fonts it uses."""
        return [content_dir, self.templates_dir, *self.fonts.roots()]  # a deck's own templates are in content_dir

    def render(self, name: str, **values: object) -> str:
        return templating.render(self.templates, name, text=self.text, **values)


def newest_source_time(content_dir: Path, templates_dir: Path, listed: list[stamps.Entry] | None = None) -> int:
    """The build's timestamp: SOURCE_DATE_EPOCH when set, else the newest source file's mtime.

    Anki only updates a note on import when the note's modification time is newer than the one
    it has, so the timestamp must move when the content moves, and stay put when it does not.
    `listed`: the content folder's `stamps.listing`, when the reader has it already.
    """
    if (epoch := source_date_epoch()) is not None:
        return epoch
    content = stamps.listing(content_dir) if listed is None else listed
    times = [entry.info.st_mtime for entry in content if entry.info is not None and entry.is_file()]
    times += [p.stat().st_mtime for p in templates_dir.rglob("*") if p.is_file()]
    return int(max(times))
