"""The Anki package (.apkg): one basic note per question, identified by the note's `id`.

The note type, its field names and template names never change between builds, so that an
import over an older deck updates notes in place instead of creating a second note type.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import tempfile
import zipfile
from pathlib import Path

import genanki

from generator import fragments, templating
from generator.model import Deck, Note

# Fixed forever: Anki recognises the note type by this id.
NOTE_TYPE_ID = 1_607_392_319
NOTE_TYPE_NAME = "studykit Q&A"
FIELDS = ["Number", "Question", "Key points", "Full answer", "Source"]
CARD_NAME = "Recall"
# Anki desktop marks night mode with .nightMode on the card, AnkiDroid with .night_mode.
NIGHT_MODE_SCOPES = [".nightMode", ".night_mode"]
# Zip entry dates carry no meaning in a package; a constant keeps builds byte-identical.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def media_name(relative: Path) -> str:
    """A flat, collision-free media name that still shows which file it came from."""
    digest = hashlib.sha256(relative.as_posix().encode("utf-8")).hexdigest()[:10]
    return f"studykit-{digest}-{relative.name}"


def note_type(templates_dir: Path) -> genanki.Model:
    css = templating.read(templates_dir, "anki/card.css") + "\n" + fragments.code_css(NIGHT_MODE_SCOPES)
    return genanki.Model(
        NOTE_TYPE_ID,
        NOTE_TYPE_NAME,
        fields=[{"name": name} for name in FIELDS],
        templates=[
            {
                "name": CARD_NAME,
                "qfmt": templating.read(templates_dir, "anki/front.html"),
                "afmt": templating.read(templates_dir, "anki/back.html"),
            }
        ],
        css=css,
        sort_field_index=0,
    )


def fields_of(note: Note, deck: Deck) -> list[str]:
    def for_anki(fragment: str) -> str:
        with_names = fragments.rewrite_images(
            fragment, lambda src: media_name((note.path.parent / src).resolve().relative_to(deck.content_dir.resolve()))
        )
        return fragments.tex_math(with_names)

    return [
        str(note.number),
        fragments.tex_math(note.question),
        for_anki(note.key_points_html),
        for_anki(note.answer_html),
        deck.credit,
    ]


def write(deck: Deck, target: Path, templates_dir: Path, timestamp: float) -> None:
    model = note_type(templates_dir)
    anki_deck = genanki.Deck(deck.id, deck.title)
    media: dict[str, Path] = {}
    for note in deck.notes:
        anki_deck.add_note(
            genanki.Note(
                model=model,
                fields=fields_of(note, deck),
                guid=genanki.guid_for(note.id),
                tags=list(note.tags),
            )
        )
        for relative in note.media:
            media[media_name(relative)] = deck.content_dir / relative
    _write_package(genanki.Package(anki_deck), media, target, timestamp)


def _write_package(package: genanki.Package, media: dict[str, Path], target: Path, timestamp: float) -> None:
    """genanki's `write_to_file`, made byte-reproducible.

    genanki stamps zip entries with the current time, stores them uncompressed, names media by
    their file's basename and leaves its temporary database behind; here every entry has a fixed
    date and mode, is deflated, and media are packed in name order under the names the fields use.
    """
    with tempfile.TemporaryDirectory(prefix="studykit-anki-") as scratch:
        database = Path(scratch) / "collection.anki2"
        connection = sqlite3.connect(database)
        try:
            package.write_to_db(connection.cursor(), timestamp, itertools.count(int(timestamp * 1000)))
            connection.commit()
        finally:
            connection.close()
        names = sorted(media)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            _add(archive, "collection.anki2", database.read_bytes())
            _add(archive, "media", json.dumps({str(i): name for i, name in enumerate(names)}).encode("utf-8"))
            for index, name in enumerate(names):
                _add(archive, str(index), media[name].read_bytes())


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    entry = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o644 << 16
    archive.writestr(entry, data, compresslevel=9)
