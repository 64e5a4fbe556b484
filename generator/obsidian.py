"""Obsidian's own Markdown, made what studykit already reads (README.md: "Obsidian notes").

This module holds what the reader needs without loading Markdown (a rebuild that converts nothing loads none):
where embedded images are found, the context a note's text is converted in, and wiki links resolved across the
deck. `generator.obsidianext` is the Markdown side: a preprocessor registered below the fenced-code stash (fenced
code is a placeholder by then and never rewritten), and above `delimiters`; it keeps every line where it is, so that
later errors name the right line:

- `![[image.png]]`, `![[figures/x.svg|300]]`, `![[x.png|alt text]]`: the standard Markdown image (so every rule
  about images applies), the file found as Obsidian finds it: the path as written below the content folder, else
  the one file below it whose path ends so; none, or two, is an error at its line.
- `[[Note]]`, `[[Note|shown]]`, `[[Note#Heading]]`: a link written `#studykit-wikilink:<line>:<target>`, made a
  link to that question (`#q<number>`), or its text alone, by `resolve_links` once every note of the deck is read
  (a note's number and question may change without the linking note changing, and notes are cached as read).
- `%% hidden %%`, on one line or over several: removed (the lines stay, emptied).
- `^block-id` at the end of a line: removed.

Code spans and inline math (`$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`) on a line, and `$$` display blocks, are left as
written. Two more extensions do the rest: `==highlight==` is `pymdownx.mark` (`<mark>`, which every output's
default style draws: black on yellow), and a callout `> [!note] Title` is `CalloutProcessor`, a block processor.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from generator.errors import Location, Problems
from generator.model import Note

IMAGE_SUFFIXES = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}
NOTE_SUFFIXES = {".md", ".markdown"}
LINK_MARK = "#studykit-wikilink:"
_LINK_HTML = re.compile(r'<a href="#studykit-wikilink:(?P<line>\d+):(?P<target>[^"]*)">(?P<text>.*?)</a>', re.DOTALL)


class FileIndex:
    """The files below the content folder by their path relative to it (hidden folders left out), to find an
    embedded image as Obsidian does."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = frozenset(paths)
        self._by_name: dict[str, list[str]] = {}
        for path in sorted(self.paths):
            self._by_name.setdefault(PurePosixPath(path).name, []).append(path)

    @classmethod
    def of_listing(cls, relatives: Iterable[tuple[str, ...]]) -> FileIndex:
        return cls("/".join(parts) for parts in relatives if not any(part.startswith(".") for part in parts))

    def find(self, written: str) -> list[str]:
        """The files `written` names: itself if it is a path below the folder, else every file whose path ends so."""
        wanted = written.strip().lstrip("/")
        if wanted in self.paths:
            return [wanted]
        name = PurePosixPath(wanted).name
        return [path for path in self._by_name.get(name, []) if path == wanted or path.endswith("/" + wanted)]


@dataclass
class Context:
    """Where the text being converted comes from: its note, the file line of its first line, what to report to."""

    path: Path
    first_line: int
    problems: Problems
    files: FileIndex | None = None


def resolve_links(notes: list[Note], problems: Problems) -> list[Note]:
    """Each note with its wiki links made links to the question they name (by file name or question), or their text.

    A target no note of the deck has is a warning at the link's line.
    """
    if not any(LINK_MARK in _html_of(note) for note in notes):
        return notes
    by_name: dict[str, Note] = {}
    for note in sorted(notes, key=lambda note: note.number, reverse=True):
        by_name[_key(note.question)] = note
    for note in sorted(notes, key=lambda note: note.number, reverse=True):
        by_name[_key(note.location.path.stem)] = note
    resolved = []
    for note in notes:
        if LINK_MARK not in _html_of(note):
            resolved.append(note)
            continue
        reported: set[tuple[int, str]] = set()

        def link(found: re.Match[str], note: Note = note, reported: set[tuple[int, str]] = reported) -> str:
            target = unquote(found.group("target"))
            linked = by_name.get(_key(target)) if target else note
            if linked is not None:
                return f'<a href="#q{linked.number}">{found.group("text")}</a>'
            line = int(found.group("line")) or note.location.line
            if (line, target) not in reported:
                reported.add((line, target))
                problems.warn(
                    Location(note.location.path, line),
                    f"[[{target}]] links to no note of this deck: it shows as plain text",
                    "link another note by its file name (without .md) or by its question",
                )
            return found.group("text")

        resolved.append(
            replace(
                note,
                key_points_html=_LINK_HTML.sub(link, note.key_points_html),
                answer_html=_LINK_HTML.sub(link, note.answer_html),
                clozes=tuple(replace(item, html=_LINK_HTML.sub(link, item.html)) for item in note.clozes),
            )
        )
    return resolved


def _html_of(note: Note) -> str:
    return note.key_points_html + note.answer_html + "".join(item.html for item in note.clozes)


def _key(name: str) -> str:
    return " ".join(html.unescape(name).split()).casefold()
