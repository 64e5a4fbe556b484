"""The Anki package (.apkg): one basic note per question, plus cloze notes where a note has them.

Identity: a note's guid comes from its `id` (cloze notes: its `id` and position), and the note
types and the deck have fixed ids, names and fields, so importing a newer deck over an older one
updates notes in place instead of duplicating them or creating a second note type.

Updates: Anki updates a note on import only when the incoming note's modification time is newer
than its own. Each note therefore carries its own time: unchanged since the previous build in the
output folder, it keeps the previous time (Anki leaves it alone); changed, it gets a newer one.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import itertools
import json
import os
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import ankitypes, fragments
from generator.context import BuildContext
from generator.errors import Location, Problem
from generator.model import Deck, Note
from generator.writers import Writer, WriteResult

if TYPE_CHECKING:
    import genanki

# Fixed forever: Anki recognises the note types by these ids and their field names.
NOTE_TYPE_ID = 1_607_392_319
NOTE_TYPE_NAME = "studykit Q&A"
FIELDS = ["Number", "Question", "Key points", "Full answer", "Source"]
CARD_NAME = "Recall"
CLOZE_TYPE_ID = 1_607_392_320
CLOZE_TYPE_NAME = "studykit Cloze"
CLOZE_FIELDS = ["Text", "Number", "Question", "Source"]
CLOZE_CARD_NAME = "Cloze"
# Anki desktop marks night mode with .nightMode on the card, AnkiDroid with .night_mode.
NIGHT_MODE_SCOPES = [".nightMode", ".night_mode"]
# Zip entry dates carry no meaning in a package; a constant keeps builds byte-identical.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Level 3: half the time of zlib's default (6) for a package a third larger; both far smaller than stored.
_DEFLATE_LEVEL = 3
# Media smaller than this, or in a format that is compressed already, are stored as they are.
_DEFLATE_MIN_BYTES = 4096
_ALREADY_COMPRESSED = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".mp3", ".ogg", ".m4a", ".mp4", ".webm"}
# New cards are shown in `due` order: question by question, the basic card before its clozes.
_DUE_STRIDE = 100


@dataclass(frozen=True)
class PackedNote:
    guid: str
    fields: list[str]
    tags: list[str]
    modified: int
    note_id: int = 0  # Anki keeps an imported note's id, so `nid:` finds this note in a collection


@dataclass
class DeckChanges:
    """What a build changed in the deck, compared with the previous package in the output folder."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    removed_searches: list[str] = field(default_factory=list)
    first_build: bool = False
    # Notes whose `id` changed: the new note (where its id is written) and the old one's search.
    new_ids: list[tuple[Location, str, str]] = field(default_factory=list)


@cache
def _genanki() -> Any:
    """genanki, imported when a package is written or a guid made: every build imports this module (the writer
    registry), and genanki with the asyncio it pulls in costs ~50 ms of imports a build without Anki need not pay."""
    import genanki

    return genanki


@cache
def _timed_note() -> type[genanki.Note]:
    """A genanki note that writes its own modification time instead of the package's (defined once genanki is
    imported)."""

    class _TimedNote(_genanki().Note):  # type: ignore[misc]
        def __init__(self, *args: Any, modified: int, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.modified = modified

        def write_to_db(self, cursor: Any, timestamp: float, deck_id: int, id_gen: Any) -> None:
            super().write_to_db(cursor, self.modified, deck_id, id_gen)

    return _TimedNote


def media_name(relative: Path) -> str:
    """A flat, collision-free media name that still shows which file it came from."""
    digest = hashlib.sha256(relative.as_posix().encode("utf-8")).hexdigest()[:10]
    return f"studykit-{digest}-{relative.name}"


def _css(context: BuildContext) -> str:
    return context.template_text("anki/card.css") + "\n" + fragments.code_css(NIGHT_MODE_SCOPES)


def _model(
    context: BuildContext, model_id: int, name: str, fields: list[str], card: str, template: str, **options: Any
) -> genanki.Model:
    """A note type whose card `card` is drawn by templates/anki/<template>_front.html and _back.html."""
    return _genanki().Model(
        model_id,
        name,
        fields=[{"name": field_name} for field_name in fields],
        templates=[
            {
                "name": card,
                "qfmt": context.template_text(f"anki/{template}front.html"),
                "afmt": context.template_text(f"anki/{template}back.html"),
            }
        ],
        css=_css(context),
        **options,
    )


def note_type(context: BuildContext) -> genanki.Model:
    return _model(context, NOTE_TYPE_ID, NOTE_TYPE_NAME, FIELDS, CARD_NAME, "", sort_field_index=0)


def cloze_type(context: BuildContext) -> genanki.Model:
    return _model(
        context,
        CLOZE_TYPE_ID,
        CLOZE_TYPE_NAME,
        CLOZE_FIELDS,
        CLOZE_CARD_NAME,
        "cloze_",
        model_type=_genanki().Model.CLOZE,
        sort_field_index=1,
    )


class _NoteMedia:
    """A note's images by the path its HTML uses, mapped to their packed names (string work: it runs per image)."""

    def __init__(self, note: Note, deck: Deck) -> None:
        self.note, self.deck = note, deck
        # Paths, not strings: `--content .` gives notes a path of "x.md", whose folder is "." as a Path.
        self.folder = os.path.relpath(note.path.parent, deck.content_dir)
        self.names = {relative.as_posix(): media_name(relative) for relative in note.media}

    def __call__(self, src: str) -> str:
        relative = os.path.normpath(os.path.join(self.folder, src))
        if relative in self.names:
            return self.names[relative]
        # reached through a symlink: the reader recorded the file it points to
        resolved = (self.note.path.parent / src).resolve().relative_to(self.deck.content_dir.resolve())
        return media_name(resolved)


def _for_anki(fragment: str, media: _NoteMedia, cloze_safe: bool = False) -> str:
    return fragments.tex_math(fragments.rewrite_images(fragment, media), cloze_safe=cloze_safe)


def in_language(fragment: str, note: Note, deck: Deck, block: bool = True) -> str:
    """The field marked with the note's language when it is not English, so that the card's text is shaped,
    broken into lines and read aloud as that language (the note types are shared by every deck, so the
    language travels with the fields, not in the card template). English fields stay as they are."""
    language = note.language or deck.language
    if language.split("-")[0].lower() == "en":
        return fragment
    tag = "div" if block else "span"
    return f'<{tag} lang="{html.escape(language)}">{fragment}</{tag}>'


def question_field(note: Note) -> str:
    """The question as Anki shows it: escaped, its math in the delimiters Anki's MathJax reads."""
    return fragments.tex_math(note.question_html)


def fields_of(note: Note, deck: Deck, media: _NoteMedia | None = None) -> list[str]:
    media = media or _NoteMedia(note, deck)
    return [
        str(note.number),
        in_language(question_field(note), note, deck, block=False),
        in_language(_for_anki(note.key_points_html, media), note, deck),
        in_language(_for_anki(note.answer_html, media), note, deck),
        html.escape(deck.credit),
    ]


def note_guid(note: Note) -> str:
    """The guid an imported note kept from its deck, else one derived from its id."""
    return note.guid or str(_genanki().guid_for(note.id))


def cloze_guid(note: Note, index: int) -> str:
    if index <= len(note.cloze_guids):  # imported from a cloze note of the deck: keep its identity
        return note.cloze_guids[index - 1]
    return str(_genanki().guid_for(note.id, "cloze", index))


def source_time(note: Note, shared_time: int, deck: Deck, context: BuildContext) -> int:
    """When this note's output last could have changed: SOURCE_DATE_EPOCH, else its sources' newest mtime.

    `shared_time` is the newest time of what every note depends on (deck file, card templates).
    """
    if context.fixed_epoch is not None:
        return context.fixed_epoch
    own = [str(note.path), *(os.path.join(deck.content_dir, m) for m in note.media)]
    return max([shared_time, *(int(os.stat(path).st_mtime) for path in own)])


def read_package(path: Path) -> dict[str, PackedNote]:
    """The notes of an earlier package, by guid; empty when there is none or it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive, contextlib.closing(sqlite3.connect(":memory:")) as connection:
            connection.deserialize(archive.read("collection.anki2"))
            rows = connection.execute("SELECT guid, flds, tags, mod, id FROM notes").fetchall()
    except (OSError, KeyError, zipfile.BadZipFile, sqlite3.Error):
        return {}
    return {
        guid: PackedNote(guid, fields.split("\x1f"), tags.split(), int(modified), int(note_id))
        for guid, fields, tags, modified, note_id in rows
    }


def _modified(guid: str, fields: list[str], tags: list[str], base: int, previous: dict[str, PackedNote]) -> int:
    before = previous.get(guid)
    if before is None:
        return base
    if before.fields == fields and sorted(before.tags) == sorted(tags):
        return before.modified
    return max(base, before.modified + 1)


@dataclass(frozen=True)
class AnkiNote:
    """One note as it goes into the package: fields in Anki's form, identity and modification time."""

    cloze: bool
    guid: str
    fields: list[str]
    tags: list[str]
    due: int
    modified: int
    note_type: str | None = None  # a note type kept from an imported deck (generator.ankitypes)


@dataclass
class ConvertedDeck:
    """The deck in Anki's terms, ready to pack: what `convert` computes and `pack` writes."""

    notes: list[AnkiNote]
    media: dict[str, Path]  # packed name -> file
    package_time: int
    changes: DeckChanges
    note_types: dict[str, ankitypes.NoteType] = field(default_factory=dict)


def package_path(deck: Deck, context: BuildContext) -> Path:
    """Where this deck's package is written (and the previous build's is found)."""
    return context.output_dir / f"{deck.slug}.{WRITER.suffix}"


def write(deck: Deck, target: Path, context: BuildContext) -> WriteResult:
    converted = convert(deck, context, read_package(package_path(deck, context)))
    pack(converted, deck, target, context)
    changes = converted.changes
    return WriteResult(notices=changes_report(changes), warnings=changes_warnings(changes, deck), details=changes)


def changes_report(changes: DeckChanges) -> list[str]:
    """What changed since the previous package, as lines for the terminal (removals are warnings)."""
    if changes.first_build:
        return [f"deck: {len(changes.added)} Anki notes (no previous deck in the output folder to compare with)"]
    if not (changes.added or changes.changed or changes.removed):
        return ["deck: no note changed since the previous build"]
    lines = [f"deck: {len(changes.added)} added, {len(changes.changed)} changed, {len(changes.removed)} removed"]
    lines += [f"  added:   {label}" for label in changes.added]
    lines += [f"  changed: {label}" for label in changes.changed]
    return lines


def changes_warnings(changes: DeckChanges, deck: Deck) -> list[Problem]:
    """Removed notes and changed ids: what Anki's import will not do by itself, shown even with --quiet."""
    renamed = {search for _, _, search in changes.new_ids}
    warnings = [
        Problem(
            where,
            f"note {label} has a new id since the previous build: Anki will add it as a new note beside the old one",
            "put the old id back to keep its review history (`git diff` shows it), or delete the old note in "
            f"Anki's browser; this search finds it and nothing else: {search}",
            severity="warning",
        )
        for where, label, search in changes.new_ids
    ]
    for label, search in zip(changes.removed, changes.removed_searches, strict=True):
        if search not in renamed:
            warnings.append(
                Problem(
                    deck.location,
                    f"note {label} is no longer in the deck, but Anki's import never deletes",
                    f"delete it in Anki's browser; this search finds it and nothing else: {search}",
                    severity="warning",
                )
            )
    return warnings


def convert(deck: Deck, context: BuildContext, previous: dict[str, PackedNote]) -> ConvertedDeck:
    """Fields in Anki's form, guids, media names, and each note's time against the `previous` package."""
    media: dict[str, Path] = {}
    changes = DeckChanges(first_build=not previous)
    notes: list[AnkiNote] = []

    def add(
        cloze: bool, guid: str, fields: list[str], tags: list[str], due: int, base: int, kept: Note | None = None
    ) -> None:
        modified = _modified(guid, fields, tags, base, previous)
        notes.append(AnkiNote(cloze, guid, fields, tags, due, modified, kept.note_type if kept else None))
        if kept is not None:
            label = f"{kept.number} {kept.question}"[:100]
        else:
            number, question = (fields[1], f"(cloze) {fields[2]}") if cloze else (fields[0], fields[1])
            label = f"{number} {question}"[:100]
        if guid not in previous:
            changes.added.append(label)
        elif modified != previous[guid].modified:
            changes.changed.append(label)

    shared_time = shared_source_time(deck, context)
    kept_types = ankitypes.load(deck.content_dir) if any(note.note_type for note in deck.notes) else {}
    for position, note in enumerate(deck.notes):
        base = source_time(note, shared_time, deck, context)
        tags = list(note.tags)
        note_media = _NoteMedia(note, deck)
        clozes = note.clozes
        if note.note_type is not None:  # one note of the type it was imported with
            kept = kept_types[note.note_type]
            cloze_text = _for_anki(clozes[0].html, note_media, cloze_safe=True) if kept.cloze else None
            clozes = () if kept.cloze else clozes  # its one cloze item is that note
            kept_fields = ankitypes.fields(
                kept,
                question_field(note),
                _for_anki(note.key_points_html, note_media),
                _for_anki(note.answer_html, note_media),
                cloze_text,
            )
            add(kept.cloze, note_guid(note), kept_fields, tags, position * _DUE_STRIDE, base, kept=note)
        else:
            add(False, note_guid(note), fields_of(note, deck, note_media), tags, position * _DUE_STRIDE, base)
        for index, item in enumerate(clozes, start=1):
            cloze_fields = [
                in_language(_for_anki(item.html, note_media, cloze_safe=True), note, deck),
                str(note.number),
                in_language(question_field(note), note, deck, block=False),
                html.escape(deck.credit),
            ]
            add(True, cloze_guid(note, index), cloze_fields, tags, position * _DUE_STRIDE + index, base)
        for relative in note.media:
            media[note_media.names[relative.as_posix()]] = deck.content_dir / relative

    written = {note.guid for note in notes}
    added_by_number = {note.number: note for note in deck.notes if note_guid(note) not in previous}
    for guid, gone in sorted(previous.items(), key=lambda item: item[1].fields[0]):
        if guid not in written:
            changes.removed.append(" ".join(gone.fields[:2])[:100])
            # By note id: a number or a question may belong to a new note too (an id changed), a note id never.
            search = f'"deck:{deck.title}" nid:{gone.note_id}'
            changes.removed_searches.append(search)
            renamed = added_by_number.get(int(gone.fields[0])) if gone.fields[0].isdigit() else None
            if renamed is not None and len(gone.fields) == len(FIELDS):
                changes.new_ids.append((renamed.location_of("id"), str(renamed.number), search))
    package_time = max([*(note.modified for note in notes), shared_time])
    return ConvertedDeck(notes, media, package_time, changes, kept_types)


def pack(converted: ConvertedDeck, deck: Deck, target: Path, context: BuildContext) -> None:
    """Write the .apkg: note types, deck, notes and media, through genanki."""
    basic_type, cloze_model = note_type(context), cloze_type(context)
    anki_deck = _genanki().Deck(deck.id, deck.title)
    anki_deck.description = deck.credit
    kept_models = {name: ankitypes.model(kept) for name, kept in converted.note_types.items()}
    for note in converted.notes:
        model = kept_models[note.note_type] if note.note_type else cloze_model if note.cloze else basic_type
        anki_deck.add_note(
            _timed_note()(
                model=model, fields=note.fields, guid=note.guid, tags=note.tags, due=note.due, modified=note.modified
            )
        )
    _write_package(_genanki().Package(anki_deck), converted.media, target, converted.package_time)


def shared_source_time(deck: Deck, context: BuildContext) -> int:
    """The newest mtime of the files every note's fields and cards depend on: deck file and card templates."""
    if context.fixed_epoch is not None:
        return context.fixed_epoch
    card_templates = [folder / "anki" for folder in (*context.deck_templates, context.templates_dir)]
    shared = [deck.location.path, *(path for folder in card_templates for path in folder.glob("*"))]
    return int(max(path.stat().st_mtime for path in shared))


def _write_package(package: genanki.Package, media: dict[str, Path], target: Path, timestamp: float) -> None:
    """genanki's `write_to_file`, made byte-reproducible.

    genanki stamps zip entries with the current time, stores them uncompressed, names media by
    their file's basename and leaves its temporary database behind; here every entry has a fixed
    date and mode, the database is deflated, and media are packed in name order under the names the
    fields use.
    """
    # The collection is built in memory and serialised: no temporary file, no journal, no fsync.
    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        package.write_to_db(connection.cursor(), timestamp, itertools.count(int(timestamp * 1000)))
        connection.commit()
        database = connection.serialize()
    names = sorted(media)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_DEFLATE_LEVEL) as archive:
        _add(archive, "collection.anki2", database)
        _add(archive, "media", json.dumps({str(i): name for i, name in enumerate(names)}).encode("utf-8"))
        for index, name in enumerate(names):
            data = media[name].read_bytes()
            _add(archive, str(index), data, zipfile.ZIP_DEFLATED if worth_deflating(name, data) else zipfile.ZIP_STORED)


def worth_deflating(name: str, data: bytes) -> bool:
    """Deflate media that shrink (SVG, text) and are big enough to gain: a deflate stream costs time to set up."""
    return len(data) >= _DEFLATE_MIN_BYTES and Path(name).suffix.lower() not in _ALREADY_COMPRESSED


def _add(archive: zipfile.ZipFile, name: str, data: bytes, method: int = zipfile.ZIP_DEFLATED) -> None:
    entry = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    entry.compress_type = method
    entry.external_attr = 0o644 << 16
    archive.writestr(entry, data, compresslevel=_DEFLATE_LEVEL if method == zipfile.ZIP_DEFLATED else None)


def iter_fields(path: Path) -> Iterator[list[str]]:
    """Every note's fields in a package (for reports and tests)."""
    for packed in read_package(path).values():
        yield packed.fields


def unchanged(deck: Deck) -> WriteResult:
    """The report of a build that left the package as the previous build wrote it: compared with it, nothing changed."""
    changes = DeckChanges()
    return WriteResult(notices=changes_report(changes), warnings=changes_warnings(changes, deck), details=changes)


WRITER = Writer(
    "apkg",
    "apkg",
    "Anki deck: a Q&A note per question, plus cloze notes; re-import updates",
    write,
    draws_math=False,
    unchanged=unchanged,
)
