"""Anki's plain-text import format: the same notes, fields and guids as the .apkg, one note per line.

For people who keep their cards in a spreadsheet or a script, and for Anki's File → Import of a text
file. The header lines tell Anki everything it would otherwise ask: separator, HTML, and which
columns hold the guid, note type, deck and tags. Importing it after the .apkg updates the same notes
(matched by guid) instead of adding new ones. Images are referred to by the names the .apkg gives
them, so they show once the .apkg has been imported once (a text file carries no media).
"""

from __future__ import annotations

import csv
from pathlib import Path

from generator.context import BuildContext
from generator.model import Deck
from generator.writers import Writer
from generator.writers.anki import CLOZE_TYPE_NAME, NOTE_TYPE_NAME, convert

# Columns before the fields; the fields come last, because the two note types have different numbers of them.
# The note type comes first: a guid may begin with `#`, which would make the line look like a comment to Anki.
HEADER = [
    "#separator:tab",
    "#html:true",
    "#notetype column:1",
    "#deck column:2",
    "#guid column:3",
    "#tags column:4",
]


def write(deck: Deck, target: Path, context: BuildContext) -> None:
    converted = convert(deck, context, previous={})
    with target.open("w", encoding="utf-8", newline="") as out:
        out.write("\n".join(HEADER) + "\n")
        # Quoted only where a field holds a tab, a quote or a line break (code blocks do): Anki reads CSV quoting.
        rows = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        for note in converted.notes:
            note_type = note.note_type or (CLOZE_TYPE_NAME if note.cloze else NOTE_TYPE_NAME)
            rows.writerow([note_type, deck.title, note.guid, " ".join(note.tags), *note.fields])


WRITER = Writer(
    "tsv", "tsv", "the same notes as tab-separated text for Anki's text import (guids kept)", write, draws_math=False
)
