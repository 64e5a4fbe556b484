"""Anki identity kept from an imported deck: note guids and the deck's own note types.

A note imported from an Anki package keeps the package's guid (front matter `guid`, and `cloze_guids` for the
items of its `## Cloze` section), so that importing the rebuilt deck updates the notes in the collection instead
of adding copies.

A guid alone is not enough for notes of another note type (Anki's "Basic", "Cloze", anyone's own): when the
incoming note's type differs from the type the collection's note has, Anki's importer does not update the
note, it skips it as a conflict (with "merge note types" ticked it instead grafts the old type's fields and
templates onto studykit's type). So such a note keeps its note type: `studykit import` saves each of those
types in `anki-note-types.json` beside deck.yaml, the note names its type in front matter `note_type`, and
the Anki writer packs it as one note of that type, with fields taken from the Markdown:

- a standard note type: first field = the question, second field = the full answer, any further fields empty
  (the importer moved what they held into the full answer);
- a cloze note type: first field = the single `## Cloze` item, second field = the full answer unless it only
  repeats the key points (the importer writes it so when the Anki note had no extra text).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import Location, Problem, StudykitError
from generator.model import Note

if TYPE_CHECKING:
    import genanki

FILE = "anki-note-types.json"
_GUID = re.compile(r"^\S{1,100}$")


class NoteTypesFileError(StudykitError):
    """anki-note-types.json is unreadable or not what `studykit import` writes."""


@dataclass(frozen=True)
class NoteType:
    """An Anki note type as the imported package defined it; packed again with the same id, fields and cards."""

    id: int
    name: str
    fields: list[str]
    templates: list[dict[str, str]]  # name, qfmt, afmt
    css: str
    cloze: bool
    sort_field: int = 0
    latex_pre: str = ""
    latex_post: str = ""


def save(content_dir: Path, types: list[NoteType]) -> None:
    data = {"note_types": [asdict(note_type) for note_type in sorted(types, key=lambda t: t.name)]}
    (content_dir / FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load(content_dir: Path) -> dict[str, NoteType]:
    """The saved note types by name; empty when the file is absent."""
    path = content_dir / FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _load(path, stamp)


@functools.lru_cache(maxsize=8)
def _load(path: Path, stamp: int) -> dict[str, NoteType]:  # `stamp` makes an edited file load again
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {entry["name"]: NoteType(**entry) for entry in data["note_types"]}
    except OSError as error:
        raise NoteTypesFileError(f"{path}:1: cannot read: {error.strerror}") from error
    except (ValueError, KeyError, TypeError) as error:
        raise NoteTypesFileError(
            f"{path}:1: not a note-type file as `studykit import` writes it ({error})\n"
            "    hint: import the deck again, or remove `note_type` from the notes and this file"
        ) from error


@dataclass(frozen=True)
class Identity:
    guid: str | None = None
    cloze_guids: tuple[str, ...] = ()
    note_type: str | None = None


def read_identity(
    meta: dict[str, Any], key_lines: dict[str, int], path: Path, content_dir: Path, cloze_count: int
) -> tuple[Identity, list[Problem]]:
    """The note's `guid`, `cloze_guids` and `note_type` front matter, checked; problems at their lines."""
    problems: list[Problem] = []

    def error(key: str, message: str, hint: str) -> None:
        problems.append(Problem(Location(path, key_lines.get(key, 1)), message, hint))

    guid = meta.get("guid")
    if guid is not None and (not isinstance(guid, str) or not _GUID.match(guid)):
        error(
            "guid",
            "`guid` must be the Anki note's guid: 1-100 characters, no spaces",
            "keep the guid `studykit import` wrote, or delete the line to give the note an identity of its own",
        )
        guid = None
    cloze_guids = meta.get("cloze_guids", [])
    if not isinstance(cloze_guids, list) or not all(isinstance(g, str) and _GUID.match(g) for g in cloze_guids):
        error("cloze_guids", "`cloze_guids` must be a list of Anki guids", "one per `## Cloze` item, in order")
        cloze_guids = []
    elif len(cloze_guids) > cloze_count:
        error("cloze_guids", f"{len(cloze_guids)} `cloze_guids` for {cloze_count} `## Cloze` items", "one per item")
    note_type = meta.get("note_type")
    if note_type is not None:
        types = load(content_dir)
        if not isinstance(note_type, str) or note_type not in types:
            known = ", ".join(sorted(types)) or f"none: {FILE} is missing"
            error("note_type", f"unknown `note_type` {note_type!r} (known: {known})", f"a name from {FILE}")
            note_type = None
        elif guid is None:
            error("note_type", "a note with a `note_type` needs its `guid`", "keep the guid `studykit import` wrote")
        elif types[note_type].cloze and cloze_count != 1:
            error(
                "note_type",
                f"a note of the cloze note type {note_type!r} needs exactly one `## Cloze` item, not {cloze_count}",
                "it is packed as one Anki cloze note",
            )
    identity = Identity(guid, tuple(cloze_guids), note_type if isinstance(note_type, str) else None)
    return identity, problems


def duplicate_guids(notes: list[Note], line_of: Callable[[Note, str], int]) -> list[Problem]:
    """Guids kept from a deck (a note's, its clozes') used twice: Anki would take only one of the two notes."""
    first: dict[str, Location] = {}
    problems = []
    for note in notes:
        kept = [("guid", note.guid)] if note.guid else []
        for key, guid in [*kept, *(("cloze_guids", guid) for guid in note.cloze_guids)]:
            where = Location(note.path, line_of(note, key))
            if guid in first:
                message = f"duplicate guid {guid!r}: also used by {first[guid]}"
                problems.append(Problem(where, message, "every Anki note needs its own guid"))
            else:
                first[guid] = where
    return problems


def model(note_type: NoteType) -> genanki.Model:
    # Imported here: the reader imports this module for every build, and genanki (with asyncio, which it pulls in)
    # costs a build that writes no Anki deck ~50 ms of imports.
    import genanki

    return genanki.Model(
        note_type.id,
        note_type.name,
        fields=[{"name": name} for name in note_type.fields],
        templates=note_type.templates,
        css=note_type.css,
        model_type=genanki.Model.CLOZE if note_type.cloze else genanki.Model.FRONT_BACK,
        sort_field_index=note_type.sort_field,
        latex_pre=note_type.latex_pre or genanki.Model.DEFAULT_LATEX_PRE,
        latex_post=note_type.latex_post or genanki.Model.DEFAULT_LATEX_POST,
    )


def fields(note_type: NoteType, question: str, key_points: str, answer: str, cloze_text: str | None) -> list[str]:
    """The note's fields in the kept note type, from its parts already in Anki's form (see the module doc)."""
    values = [""] * len(note_type.fields)
    if note_type.cloze:
        first, second = cloze_text or "", "" if answer == key_points else answer
    else:
        first, second = question, answer
    for index, value in enumerate((first, second)[: len(values)]):
        values[index] = value
    return values
