"""`studykit import DECK.apkg`: an Anki package turned into a content folder that studykit builds.

One Markdown note per Anki note, its media copied into `figures/`, and a deck.yaml. Every note keeps its
Anki guid (front matter `guid`), so importing the deck studykit builds from the folder updates the notes
already in the collection. Notes of studykit's own note types map field by field; notes of any other note
type keep that type (see generator/ankitypes.py for why: Anki skips a note whose type changed).

Field HTML becomes Markdown through markdownify; formulas (`\\(…\\)`, `\\[…\\]`, `[$]…[/$]`) are taken out
first and put back as `$…$` / `$$…$$`, so the HTML-to-Markdown step never escapes TeX.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import re
import secrets
import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from bs4 import BeautifulSoup
from markdownify import markdownify

from generator import ankitypes, cloze, staging
from generator.errors import StudykitError
from generator.notefile import TAG
from generator.reader import DECK_FILE
from generator.scaffold import slug_of
from generator.writers import anki as anki_writer

FIGURES = "figures"
# Newer Anki exports hold a zstd-compressed collection (and media list) that this importer does not read.
_NEW_FORMAT = "collection.anki21b"
_LEGACY_COLLECTIONS = ("collection.anki21", "collection.anki2")
_MATH = re.compile(
    r"\\\((?P<inline>.*?)\\\)|\\\[(?P<display>.*?)\\\]|\[\$\](?P<anki_inline>.*?)\[/\$\]"
    r"|\[\$\$\](?P<anki_display>.*?)\[/\$\$\]|\[latex\](?P<latex>.*?)\[/latex\]",
    re.DOTALL | re.IGNORECASE,
)
_CODE = re.compile(r"<pre\b.*?</pre>|<code\b.*?</code>", re.DOTALL | re.IGNORECASE)
_TAG_MARKUP = re.compile(r"<[^>]*>")
_PLACEHOLDER = re.compile(r"studykitmath(\d+)x")
_HEADING = re.compile(r"^(#{1,2})(?=\s)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MEDIA_PREFIX = re.compile(r"^studykit-[0-9a-f]{10}-")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SOUND = re.compile(r"\[sound:[^\]]*\]")
_NESTED_LINE = re.compile(r"^(\s+|\s*([-*+]|\d+[.)]|>|\|)\s)")
_MATH_IN_TEXT = re.compile(r"(?<!\\)\$[^$]*\$")
_BLOCKS = ["br", "div", "p", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote"]


class PackageImportError(StudykitError):
    """The import's own errors share this base; the package's notes are kept as they are."""


class NotAPackageError(PackageImportError):
    """The file is not an Anki package: not a zip, or a zip without an Anki collection."""


class UnsupportedPackageError(PackageImportError):
    """An Anki package in a format this importer does not read."""


class TargetNotEmptyError(PackageImportError):
    """The folder to import into already holds files."""


@dataclass
class _Note:
    """One Markdown note to write."""

    guid: str
    number: int
    question: str
    tags: list[str]
    key_points: str
    answer: str
    clozes: list[str] = field(default_factory=list)
    cloze_guids: list[str] = field(default_factory=list)
    note_type: str | None = None


@dataclass
class ImportResult:
    content_dir: Path
    notes: int
    media: int
    kept_note_types: list[str]
    skipped: list[str]  # notes that could not be converted, with why


def import_package(package: Path, into: Path) -> ImportResult:
    """Convert `package` into a new content folder `into` (which must not exist or be empty)."""
    staging.refuse_unless_empty(into, TargetNotEmptyError)
    collection, media = _open(package)
    with contextlib.closing(collection), media.archive:
        source = _Source.read(package, collection)
        return _write_folder(package, source, media, into)


def _write_folder(package: Path, source: _Source, media: _Media, into: Path) -> ImportResult:
    """Everything is written to a staging folder first, so a failed import leaves no half-written folder."""
    result = staging.write_whole(into, lambda folder: _write(package, source, media, folder), PackageImportError)
    result.content_dir = into
    return result


# --- reading the package ------------------------------------------------------------------------------------------


@dataclass
class _Media:
    archive: zipfile.ZipFile
    by_name: dict[str, str]  # media name in the fields -> zip entry


def _open(package: Path) -> tuple[sqlite3.Connection, _Media]:
    try:
        archive = zipfile.ZipFile(package)
    except FileNotFoundError as error:
        raise NotAPackageError(f"{package}: no such file") from error
    except (zipfile.BadZipFile, OSError) as error:
        raise NotAPackageError(f"{package}: not an Anki package (.apkg): not a zip file") from error
    try:
        return _open_collection(package, archive)
    except BaseException:
        archive.close()
        raise


def _open_collection(package: Path, archive: zipfile.ZipFile) -> tuple[sqlite3.Connection, _Media]:
    names = set(archive.namelist())
    legacy = next((name for name in _LEGACY_COLLECTIONS if name in names), None)
    if _NEW_FORMAT in names:
        raise UnsupportedPackageError(
            f"{package}: exported in Anki's newer package format, which studykit does not read\n"
            "    hint: in Anki, export again with 'Support older Anki versions' ticked"
        )
    if legacy is None:
        raise NotAPackageError(f"{package}: not an Anki package (.apkg): no collection.anki2 inside the zip")
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(archive.read(legacy))
        connection.execute("SELECT count(*) FROM notes").fetchone()
        media_map = json.loads(archive.read("media")) if "media" in names else {}
        if not isinstance(media_map, dict):
            raise ValueError("media list is not a mapping")
    except (sqlite3.Error, ValueError, zipfile.BadZipFile, OSError) as error:
        connection.close()
        raise NotAPackageError(f"{package}: not a readable Anki package: {error}") from error
    return connection, _Media(archive, {str(name): str(entry) for entry, name in media_map.items()})


@dataclass
class _Source:
    """What the package holds: note types, the main deck, and the notes in the order they were added."""

    models: dict[int, dict[str, Any]]
    deck_id: int
    deck_name: str
    deck_description: str
    rows: list[tuple[int, str, int, str, str]]  # id, guid, model id, tags, fields

    @classmethod
    def read(cls, package: Path, connection: sqlite3.Connection) -> _Source:
        try:
            models_json, decks_json = connection.execute("SELECT models, decks FROM col").fetchone()
            models = {int(key): value for key, value in json.loads(models_json).items()}
            decks = {int(key): value for key, value in json.loads(decks_json).items()}
            rows = connection.execute("SELECT id, guid, mid, tags, flds FROM notes ORDER BY id").fetchall()
            counts = connection.execute("SELECT did, count(*) FROM cards GROUP BY did ORDER BY 2 DESC").fetchall()
        except (sqlite3.Error, ValueError, TypeError, AttributeError) as error:
            raise NotAPackageError(f"{package}: not a readable Anki package: {error}") from error
        if not rows:
            raise NotAPackageError(f"{package}: the package holds no notes")
        deck_id = int(counts[0][0]) if counts else next(iter(decks), 1)
        deck = decks.get(deck_id, {})
        return cls(models, deck_id, str(deck.get("name", package.stem)), str(deck.get("desc", "")), rows)


# --- writing the folder -------------------------------------------------------------------------------------------


class _Figures:
    """Media the notes use, copied into figures/ under safe, unique names."""

    def __init__(self, media: _Media, root: Path) -> None:
        self.media, self.root = media, root
        self.copied: dict[str, str] = {}  # media name -> path relative to the content folder

    def __call__(self, name: str) -> str | None:
        if name in self.copied:
            return self.copied[name]
        entry = self.media.by_name.get(name)
        if entry is None:
            return None
        stem = _UNSAFE_NAME.sub("-", _MEDIA_PREFIX.sub("", PurePosixPath(name).name)).strip("-.") or "media"
        taken = set(self.copied.values())
        candidate, counter = f"{FIGURES}/{stem}", 2
        while candidate in taken:
            path = PurePosixPath(stem)
            candidate, counter = f"{FIGURES}/{path.stem}-{counter}{path.suffix}", counter + 1
        target = self.root / candidate
        target.parent.mkdir(exist_ok=True)
        try:
            target.write_bytes(self.media.archive.read(entry))
        except KeyError:
            return None
        self.copied[name] = candidate
        return candidate


def _write(package: Path, source: _Source, media: _Media, root: Path) -> ImportResult:
    figures = _Figures(media, root)
    converter = _Converter(figures)
    kept: dict[str, ankitypes.NoteType] = {}
    notes: list[_Note] = []
    studykit_clozes: list[tuple[str, list[str]]] = []  # guid and fields; they join the Q&A note of their number
    skipped: list[str] = []
    for position, (_, guid, model_id, tags, flds) in enumerate(source.rows, start=1):
        model = source.models.get(model_id)
        values = flds.split("\x1f")
        if model is None:
            skipped.append(f"note {guid}: its note type is missing from the package")
            continue
        field_names = [entry["name"] for entry in model.get("flds", [])]
        if model.get("name") == anki_writer.NOTE_TYPE_NAME and field_names == anki_writer.FIELDS:
            notes.append(_studykit_note(guid, values, tags, converter))
        elif model.get("name") == anki_writer.CLOZE_TYPE_NAME and field_names == anki_writer.CLOZE_FIELDS:
            studykit_clozes.append((guid, values))
        else:
            note_type = _note_type(model, kept)
            notes.append(_foreign_note(guid, position, values, field_names, tags, note_type, converter))
    _attach_studykit_clozes(studykit_clozes, notes, converter, skipped)
    _renumber(notes)
    width = max(2, len(str(max((note.number for note in notes), default=1))))  # 01-…: names sort as numbers
    for note in notes:
        name = f"{note.number:0{width}d}-{slug_of(_MATH_IN_TEXT.sub(' ', note.question))}.md"
        (root / name).write_text(_markdown_file(note), encoding="utf-8")
    if kept:
        ankitypes.save(root, list(kept.values()))
    (root / DECK_FILE).write_text(_deck_yaml(package, source), encoding="utf-8")
    return ImportResult(root, len(notes), len(figures.copied), sorted(kept), skipped)


def _renumber(notes: list[_Note]) -> None:
    """Numbers must be unique and positive; studykit's own notes keep theirs, the others follow in order."""
    used: set[int] = set()
    next_free = 1
    for note in notes:
        if note.number < 1 or note.number in used:
            while next_free in used:
                next_free += 1
            note.number = next_free
        used.add(note.number)


def _note_type(model: dict[str, Any], kept: dict[str, ankitypes.NoteType]) -> ankitypes.NoteType:
    name = str(model.get("name", "Anki note type"))
    model_id = int(model.get("id", 0))
    if name in kept and kept[name].id != model_id:  # two note types of one name: tell them apart
        name = f"{name} ({model_id})"
    if name not in kept:
        kept[name] = ankitypes.NoteType(
            id=model_id,
            name=name,  # unique: the notes name their type by it
            fields=[str(entry["name"]) for entry in model.get("flds", [])],
            templates=[
                {"name": str(t["name"]), "qfmt": str(t.get("qfmt", "")), "afmt": str(t.get("afmt", ""))}
                for t in model.get("tmpls", [])
            ],
            css=str(model.get("css", "")),
            cloze=model.get("type") == 1,
            sort_field=int(model.get("sortf", 0)),
            latex_pre=str(model.get("latexPre", "")),
            latex_post=str(model.get("latexPost", "")),
        )
    return kept[name]


def _tags(raw: str) -> list[str]:
    """Anki's tags as they are where studykit takes them so, else made lowercase words joined by `-`."""
    tags = []
    for tag in raw.split():
        if not TAG.match(tag):
            parts = [re.sub(r"[^a-z0-9_-]+", "-", part.lower()).strip("-_") for part in tag.split("::")]
            tag = "::".join(part for part in parts if part)
        if tag and TAG.match(tag) and tag not in tags:
            tags.append(tag)
    return tags


def _studykit_note(guid: str, values: list[str], tags: str, converter: _Converter) -> _Note:
    number, question, key_points, answer = [*values, "", "", "", ""][:4]
    return _Note(
        guid=guid,
        number=int(number) if number.strip().isdigit() else 0,
        question=_plain(html.unescape(question)) or "Untitled question",
        tags=_tags(tags),
        key_points=converter.markdown(key_points) or "-",
        answer=converter.markdown(answer) or "-",
    )


def _attach_studykit_clozes(
    clozes: list[tuple[str, list[str]]], notes: list[_Note], converter: _Converter, skipped: list[str]
) -> None:
    """studykit's cloze notes go back into the `## Cloze` section of the Q&A note with their number."""
    by_number = {note.number: note for note in notes if note.note_type is None}
    for guid, values in clozes:
        text, number = [*values, "", ""][:2]
        owner = by_number.get(int(number)) if number.strip().isdigit() else None
        if owner is None:
            skipped.append(f"cloze note {guid}: no question numbered {number!r} in the package")
            continue
        owner.clozes.append(converter.markdown(text, one_line=True))
        owner.cloze_guids.append(guid)


def _foreign_note(
    guid: str,
    position: int,
    values: list[str],
    names: list[str],
    tags: str,
    note_type: ankitypes.NoteType,
    converter: _Converter,
) -> _Note:
    """A note of any other type: first field -> question (or the cloze), second -> full answer, the rest after it."""
    values = [*values, *[""] * len(names)][: max(len(names), 1)]
    extra = "\n\n".join(
        f"### {name}\n\n{converter.markdown(value)}"
        for name, value in zip(names[2:], values[2:], strict=True)
        if _visible(value)
    )
    second = converter.markdown(values[1]) if len(values) > 1 else ""
    if note_type.cloze:
        text = converter.markdown(values[0], one_line=True)
        revealed = _reveal(text)
        question = _plain(_hide(converter.text(values[0]))) or f"Cloze {position}"
        key_points = revealed or "-"
        answer = "\n\n".join(part for part in (second, extra) if part) or key_points
        return _Note(guid, position, question, _tags(tags), key_points, answer, [text], [], note_type.name)
    question = _plain(converter.text(values[0])) or f"Question {position}"
    front_media = converter.markdown(values[0]) if "<img" in values[0].lower() else ""
    answer = "\n\n".join(part for part in (front_media, second, extra) if part) or "-"
    key_points = _first_block(answer)
    return _Note(guid, position, question, _tags(tags), key_points, answer, [], [], note_type.name)


def _visible(value: str) -> bool:
    return bool(_TAG_MARKUP.sub("", value).strip()) or "<img" in value.lower()


def _first_block(markdown_text: str) -> str:
    """The first paragraph, list or table: what a card's back shows first and the cheat sheet prints."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", markdown_text.strip())]
    content = [block for block in blocks if not block.startswith("#")]  # a heading alone says nothing
    if not content or content[0].startswith(("```", "~~~", "$$")):  # a fence or display formula: keep it whole
        return markdown_text.strip()
    first = content[0]
    if first.endswith(":") and len(content) > 1 and not content[1].startswith(("```", "~~~")):
        return f"{first}\n\n{content[1]}"  # "Sum:" alone says nothing either; what it introduces does
    return first


def _reveal(text: str) -> str:
    return _cloze_sub(text, lambda deletion: deletion.answer)


def _hide(text: str) -> str:
    return _cloze_sub(text, lambda deletion: f"[{deletion.hint or '…'}]")


def _cloze_sub(text: str, replace: Callable[[cloze.Deletion], str]) -> str:
    try:
        found = cloze.deletions(text)
    except cloze.ClozeSyntaxError:
        return text
    for deletion in reversed(found):
        text = text[: deletion.start] + replace(deletion) + text[deletion.end :]
    return text


def _plain(text: str) -> str:
    """One line: white space collapsed."""
    return " ".join(text.split())


class _Converter:
    """Anki field HTML to studykit Markdown, with formulas kept verbatim and images copied."""

    def __init__(self, figures: _Figures) -> None:
        self.figures = figures

    def markdown(self, field_html: str, one_line: bool = False) -> str:
        prepared, formulas = self._prepare(field_html)
        # A <br> becomes two trailing spaces, the hard line break Python-Markdown knows (not a backslash).
        text = markdownify(prepared, heading_style="ATX", bullets="-", escape_misc=False)
        text = self._headings(text)
        text = self._restore(text, formulas, one_line)
        # Trailing white space goes, except a line break's two spaces.
        text = re.sub(r"[ \t]+\n", lambda found: "  \n" if found.group(0).startswith("  ") else "\n", text)
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
        return " ".join(text.split()) if one_line else text

    def text(self, field_html: str) -> str:
        """The field as plain text, formulas as `$…$`."""
        prepared, formulas = self._prepare(field_html, keep_images=False)
        soup = BeautifulSoup(prepared, "html.parser")
        for block in soup.find_all(_BLOCKS):  # words on either side of a line break stay apart; "<i>a</i>?" stays "a?"
            block.insert_after(" ")
        plain = soup.get_text("")
        return self._restore(plain.replace("\\$", "$"), formulas, one_line=True)

    def _prepare(self, field_html: str, keep_images: bool = True) -> tuple[str, list[tuple[str, bool]]]:
        """Formulas out (as placeholders), literal `$` escaped, sounds dropped, images pointed at figures/."""
        formulas: list[tuple[str, bool]] = []

        def take(found: re.Match[str]) -> str:
            display = found.group("display") is not None or found.group("anki_display") is not None
            display = display or found.group("latex") is not None
            tex = next(group for group in found.groups() if group is not None)
            tex = html.unescape(re.sub(r"<br\s*/?>", " ", tex, flags=re.IGNORECASE))
            tex = _TAG_MARKUP.sub("", tex).replace("\xa0", " ").strip()
            formulas.append((tex, display))
            return f"studykitmath{len(formulas) - 1}x"

        pieces = []
        last = 0
        for code in _CODE.finditer(field_html):
            pieces.append(_MATH.sub(take, field_html[last : code.start()]).replace("$", "\\$"))
            pieces.append(code.group(0))
            last = code.end()
        pieces.append(_MATH.sub(take, field_html[last:]).replace("$", "\\$"))
        soup = BeautifulSoup(_SOUND.sub("", "".join(pieces)), "html.parser")
        for image in soup.find_all("img"):
            source = str(image.get("src", ""))
            local = self.figures(unquote(source)) if keep_images and not urlsplit(source).scheme else None
            if local is None:
                link = soup.new_tag("a", href=source) if urlsplit(source).scheme in ("http", "https") else None
                if link is not None:
                    link.string = str(image.get("alt") or source)
                    image.replace_with(link)
                else:
                    image.replace_with(str(image.get("alt") or ""))
                continue
            image.attrs = {"src": local, "alt": str(image.get("alt") or PurePosixPath(local).stem.replace("-", " "))}
        for tag in soup.find_all(["script", "style"]):  # a note may not hold these: studykit rejects them
            tag.decompose()
        return str(soup), formulas

    @staticmethod
    def _headings(text: str) -> str:
        """`#` and `##` would start a new note section: fields' headings become `###`."""
        lines, fenced = [], False
        for line in text.split("\n"):
            if _FENCE.match(line):
                fenced = not fenced
            lines.append(line if fenced else _HEADING.sub("###", line))
        return "\n".join(lines)

    @staticmethod
    def _restore(text: str, formulas: list[tuple[str, bool]], one_line: bool) -> str:
        def put(found: re.Match[str]) -> str:
            tex, display = formulas[int(found.group(1))]
            line_start = text.rfind("\n", 0, found.start()) + 1
            # In a list item, a quote or a table cell, `$$` lines would end the item: the formula stays in the line.
            nested = _NESTED_LINE.match(text[line_start : found.start()]) is not None
            if display and not one_line and not nested:
                return f"\n\n$$\n{tex}\n$$\n\n"
            tex = " ".join(tex.split())
            return f"$\\displaystyle {tex}$" if display else f"${tex}$"

        return _PLACEHOLDER.sub(put, text)


def _markdown_file(note: _Note) -> str:
    front: dict[str, Any] = {
        "id": hashlib.sha256(note.guid.encode("utf-8")).hexdigest()[:12],  # the same import gives the same ids
        "number": note.number,
        "question": note.question,
        "tags": note.tags,
        "guid": note.guid,
    }
    if note.note_type:
        front["note_type"] = note.note_type
    if note.cloze_guids:
        front["cloze_guids"] = note.cloze_guids
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
    body = f"## Key points\n\n{note.key_points}\n\n## Full answer\n\n{note.answer}\n"
    if note.clozes:
        body += "\n## Cloze\n\n" + "".join(f"- {item}\n" for item in note.clozes)
    return f"---\n{header}---\n\n{body}"


def _deck_yaml(package: Path, source: _Source) -> str:
    deck_id = source.deck_id if (1 << 30) <= source.deck_id < (1 << 62) else secrets.randbelow(1 << 61) + (1 << 30)
    title = source.deck_name or package.stem  # as Anki names it: the rebuilt deck lands in the same deck
    description = _plain(BeautifulSoup(source.deck_description, "html.parser").get_text(" "))
    data = {
        "title": title,
        "slug": slug_of(title),
        "id": deck_id,
        "language": "en",
        "author": "unknown (set the deck's author)",
        "license": "unknown (set the deck's licence)",
        "source_url": package.name,
        "credit": description or f"Imported from the Anki package {package.name}.",
    }
    comment = f"# Imported from {package.name} by `studykit import`; keep `id`: Anki recognises the deck by it.\n"
    return comment + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
