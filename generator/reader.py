"""Read the content folder into a `Deck`, collecting every problem instead of stopping at the first.

The orchestration: the deck file, each note file (parsed by `notefile`), Markdown (by `markup`),
where each formula is, what each note loads (checked by `resources`), and every formula checked by
the math engine. Nothing here writes a file. The result is either a complete, validated deck or a
`BuildFailed` listing every problem found in every file, each at its file and line.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import pickle
import re
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO

from generator import (
    ankitypes,
    cloze,
    fonts,
    language,
    markup,
    mathrender,
    messages,
    notefile,
    obsidian,
    resources,
    stamps,
)
from generator.context import cache_root
from generator.errors import BuildFailed, ContentFolderError, Location, Problem, Problems, quoted
from generator.model import ClozeItem, Deck, Formula, Note

DECK_FILE = "deck.yaml"
NOTE_SUFFIXES = (".md", ".markdown")
# Folders of a deck that hold no notes: figures, a deck's own templates, outputs, tools' folders.
_NOT_NOTES = {"templates", "build", "node_modules"}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TAG = notefile.TAG
DECK_KEYS = {"title", "slug", "id", "language", "credit", "source_url", "license", "author"}
# Optional: the booklet's page footer (default: author and licence).
OPTIONAL_DECK_KEYS = {"footer"}


@dataclass(frozen=True)
class ReadResult:
    deck: Deck
    warnings: list[Problem]
    # Everything the deck was read from (its files, studykit's code, the libraries, the math engine), as one hash:
    # the same fingerprint, the same deck. "" when not known.
    fingerprint: str = ""
    # The content folder as this read listed it (`stamps.listing`), for the rest of the build to reuse.
    listing: list[stamps.Entry] | None = None


class NoteCache:
    """Notes an earlier `read_deck` in this process read, reused while nothing they depend on changed.

    Reading a note (YAML, Markdown, highlighting, resource checks) is most of a rebuild. A note's reading
    depends on its own file, on the deck's other files (deck.yaml, images, which notes exist) and on the
    deck's language; all are in the key, so after an edit only the edited note is read again. Its problems
    (warnings included) are kept with it and reported again when it is reused.
    """

    def __init__(self) -> None:
        self._notes: dict[Path, tuple[Hashable, Note | None, list[Problem]]] = {}

    @staticmethod
    def deck_stamp(content_dir: Path, listed: list[stamps.Entry] | None = None) -> Hashable:
        """The deck's files other than notes by time and size, and which notes there are (not their times)."""
        return tuple(
            stamps.tree(
                content_dir,
                by_name_only=lambda path: path.suffix.lower() in NOTE_SUFFIXES,
                listed=listed,
                relative=True,
            )
        )

    def read(self, path: Path, context: Hashable, problems: Problems, read: Callable[[], Note | None]) -> Note | None:
        try:
            info = path.stat()
        except OSError:
            return read()  # the reader reports it
        key = (context, info.st_mtime_ns, info.st_size, info.st_ino)
        kept = self._notes.get(path)
        if kept is not None and kept[0] == key:
            problems.found.extend(kept[2])
            return kept[1]
        before = len(problems.found)
        note = read()
        self._notes[path] = (key, note, problems.found[before:])
        return note


class StoredNotes(NoteCache):
    """Notes read by an earlier build in any process, kept in a file under the cache folder (one per deck).

    Keyed by the note file's name and bytes, the deck's other files (`deck_stamp`), its language, and
    `stamps.environment` (studykit's code, the installed libraries, the math engine): a rebuild with nothing changed
    reads no Markdown. Only the notes this build read are written back, so notes deleted from the deck are forgotten.

    The store belongs to the deck (its `id` in deck.yaml), not to the folder it was read from: every path in it is
    kept relative to the content folder and put back under the folder being read, so a deck moved, cloned or copied
    elsewhere (a second checkout, a test's copy) reuses the notes it has in common, and each problem still names the
    file as this build was given it.
    """

    def __init__(self, content_dir: Path, deck_id: int | None = None) -> None:
        super().__init__()
        owner = f"deck {deck_id}" if deck_id is not None else str(content_dir.resolve())
        self.file = cache_root() / "notes" / f"{stamps.digest([owner])[:32]}.pickle"
        self.content_dir = content_dir
        self._folder_names = {str(content_dir), str(content_dir.resolve())}  # as given, and as the OS names it
        self._stored: dict[str, tuple[str, Note | None, list[Problem]]] = {}
        self._kept: dict[str, tuple[str, Note | None, list[Problem]]] = {}
        self._changed = False
        self._context: tuple[Hashable, str] | None = None
        self.digests: dict[Path, str] = {}  # each note file's sha256 as read here: the deck's fingerprint reuses them
        # Missing, damaged, or from another Python: read the notes afresh.
        with contextlib.suppress(Exception), self.file.open("rb") as stored:
            self._stored = _Rebasing(stored, content_dir).load()

    def read(self, path: Path, context: Hashable, problems: Problems, read: Callable[[], Note | None]) -> Note | None:
        try:
            content = path.read_bytes()
        except OSError:
            return read()  # the reader reports it
        self.digests[path] = hashlib.sha256(content).hexdigest()
        name = path.relative_to(self.content_dir).as_posix()
        key = stamps.digest([self._shared(context), name, self.digests[path]])
        kept = self._stored.get(name)
        if kept is not None and kept[0] == key:
            problems.found.extend(kept[2])
            self._kept[name] = kept
            _remember_source(kept[1], key)
            return kept[1]
        before = len(problems.found)
        note = read()
        found = problems.found[before:]
        if not any(self._names_the_folder(problem) for problem in found):
            self._kept[name] = (key, note, found)
            _remember_source(note, key)
        self._changed = True
        return note

    def _names_the_folder(self, problem: Problem) -> bool:
        """Whether the problem's words hold where the folder is (an OS error's file name): such a note is not
        kept, since its report would name this folder to a copy of it elsewhere."""
        return any(folder in text for folder in self._folder_names for text in (problem.message, problem.hint))

    def _shared(self, context: Hashable) -> str:
        """The key's part every note of the deck shares (the deck's stamp is long: hashed once, not per note)."""
        if self._context is None or self._context[0] != context:
            self._context = (context, stamps.digest([context, stamps.environment()]))
        return self._context[1]

    def save(self) -> None:
        if not self._changed and self._kept.keys() == self._stored.keys():
            return
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            self.file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.file.with_suffix(f".{os.getpid()}.tmp")
            with temporary.open("wb") as stored:
                _Relocating(stored, self.content_dir).dump(self._kept)
            os.replace(temporary, self.file)


# Each note object read through a `StoredNotes` (or digested by `source_key`) with its key, by the object's id; an
# entry goes with its note (the weak reference's callback), so a long-lived process does not keep every deck it read.
_SOURCES: dict[int, tuple[weakref.ref[Note], str]] = {}


def _remember_source(note: Note | None, key: str) -> None:
    if note is None:
        return
    identity = id(note)

    def forget(_: object, identity: int = identity) -> None:
        _SOURCES.pop(identity, None)

    _SOURCES[identity] = (weakref.ref(note, forget), key)


def source_key(note: Note) -> str:
    """What `note` was made from, as a hash: the same key, the same Note once its paths are put under the same content
    folder (the writers' cached parts find themselves by it, `rendercache.PartSignatures`).

    A note the store gave, or read and kept, has the store's key: its file's name and bytes, the deck's other files,
    its language and `stamps.environment` (see `StoredNotes.read`). Any other note (read without the store, as
    `studykit serve` reads, or made anew since, as `obsidian.resolve_links` makes a note whose links it resolves) is
    hashed whole, once per object.
    """
    known = _SOURCES.get(id(note))
    if known is not None and known[0]() is note:
        return known[1]
    key = "note " + hashlib.sha256(pickle.dumps(note, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()
    _remember_source(note, key)
    return key


class _Relocating(pickle.Pickler):
    """Pickles every path under the content folder as its place in the folder (`_Rebasing` puts it back)."""

    def __init__(self, file: BinaryIO, content_dir: Path) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.content_dir = content_dir
        # Each distinct path worked out once: a note's file is in every Location it holds (its formulas' too), ~24
        # times a note, and pathlib's relative_to is most of saving a big deck's store after an edit.
        self._places: dict[PurePath, str | None] = {}

    def persistent_id(self, obj: Any) -> str | None:
        if not isinstance(obj, PurePath):
            return None
        if obj not in self._places:
            # By the path's words, not the file system's: a path as the user gave it (relative or not) stays so.
            inside = obj.is_relative_to(self.content_dir)
            self._places[obj] = obj.relative_to(self.content_dir).as_posix() if inside else None
        return self._places[obj]


class _Rebasing(pickle.Unpickler):
    def __init__(self, file: BinaryIO, content_dir: Path) -> None:
        super().__init__(file)
        self.content_dir = content_dir
        # One Path for each distinct place: a note's file is in each of its ~24 Locations (immutable, so shared).
        self._paths: dict[str, Path] = {}

    def persistent_load(self, pid: Any) -> Path:
        if not isinstance(pid, str):
            raise pickle.UnpicklingError("not a path in the content folder")
        path = self._paths.get(pid)
        if path is None:
            path = self._paths[pid] = self.content_dir if pid == "." else self.content_dir / pid
        return path

    def load(self) -> Any:
        """The store, with the cyclic collector paused: its notes hold no cycles, and the collections that their
        hundreds of thousands of new objects set off (each scanning all of them again) were two thirds of loading
        a 5,000-note store (0.5-0.85 s of CPU, 0.15 s without them and with each place's Path made once)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return super().load()
        finally:
            if paused:
                gc.enable()


def read_deck(
    content_dir: Path,
    strict: bool = False,
    jobs: int = 1,
    timings: dict[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache: NoteCache | None = None,
    draw_math: bool = True,
    stored: bool = True,
) -> ReadResult:
    """Read and validate every file of `content_dir`; raise `BuildFailed` listing all problems.

    `timings` receives the seconds spent reading and checking, converting Markdown, and rendering
    math; `progress` is called with (done, total) as formulas render. `draw_math`: draw every formula
    now (into the math cache, for the outputs that draw them); else only check that each one reads.
    `cache`: notes this process read before (`studykit serve`); else, when `stored`, the notes an earlier build
    kept in the cache folder (`StoredNotes`).
    """
    started = time.perf_counter()
    if not content_dir.is_dir():
        raise ContentFolderError(
            f"{content_dir}: no such content folder\n    hint: point --content at the folder holding deck.yaml"
        )
    problems = Problems()
    deck_meta = _read_deck_file(content_dir, problems)
    listed = stamps.listing(content_dir)  # the folder walked once: notes, stamp, unused images, newest file
    note_paths = _note_files(content_dir, problems, listed)
    root = content_dir.resolve()
    # Notes lie directly in the content folder (the listing never goes into a linked folder): only a note that is a
    # link itself can lead out of it, and the others need no Path.resolve (a system call per component of the path).
    links = {entry.path for entry in listed if entry.link}
    for link in [p for p in note_paths if p in links and not p.resolve().is_relative_to(root)]:
        problems.error(Location(link, 1), "note is a link to a file outside the content folder", "copy the note in")
        note_paths.remove(link)
    if not note_paths:
        raise ContentFolderError(
            f"{content_dir}: no notes (*.md files) in the content folder\n"
            "    hint: add a note such as 51-topic.md beside deck.yaml, or point --content at the notes' folder"
        )
    converter = markup.new_converter()
    deck_language = deck_meta["language"] if deck_meta else "en"
    if cache is None and stored:
        cache = StoredNotes(content_dir, deck_meta["id"] if deck_meta else None)
    shared = (deck_language, cache.deck_stamp(content_dir, listed)) if cache else None
    notes = []
    files = obsidian.FileIndex.of_listing(
        entry.relative for entry in listed if not _not_in_deck(entry.relative) and entry.is_file()
    )
    for path in note_paths:
        read = functools.partial(_read_note, path, content_dir, converter, deck_language, problems, files)
        note = cache.read(path, shared, problems, read) if cache else read()
        if note is not None:
            notes.append(note)
    if isinstance(cache, StoredNotes):
        cache.save()
    notes = obsidian.resolve_links(notes, problems)  # after the cache: a link follows its target's number and question
    _check_unique(notes, problems)
    problems.found.extend(ankitypes.duplicate_guids(notes, lambda note, key: note.location_of(key).line))
    if not problems.errors:  # a note that failed to read would make its own images look unused
        resources.check_unused_images(content_dir, notes, problems, listed)
    read_done = time.perf_counter()
    _check_math(notes, problems, jobs, progress, draw=draw_math)
    if timings is not None:
        timings["read"] = read_done - started - converter.seconds
        timings["markdown"] = converter.seconds
        timings["math"] = time.perf_counter() - read_done
    failing = problems.errors + (problems.warnings if strict else [])
    if failing or deck_meta is None:
        raise BuildFailed(failing)
    deck = Deck(**deck_meta, content_dir=content_dir, notes=tuple(sorted(notes, key=lambda n: n.number)))
    return ReadResult(
        deck=deck,
        warnings=problems.warnings,
        fingerprint=_fingerprint(content_dir, note_paths, shared, getattr(cache, "digests", {}), listed),
        listing=listed,
    )


def _fingerprint(
    content_dir: Path,
    note_paths: list[Path],
    shared: Hashable,
    known: dict[Path, str],
    listed: list[stamps.Entry] | None = None,
) -> str:
    """The deck's sources by content (notes, deck.yaml) and stamp (its other files), with `stamps.environment`.

    `known`: the notes' digests the read cache already took, so that no note file is read twice.
    """
    if shared is None:
        shared = NoteCache.deck_stamp(content_dir, listed)
    contents = []
    for path in [content_dir / DECK_FILE, *note_paths]:
        try:
            contents.append((str(path), known.get(path) or hashlib.sha256(path.read_bytes()).hexdigest()))
        except OSError:
            return ""
    return stamps.digest([shared, stamps.environment(), *contents])


def _note_files(content_dir: Path, problems: Problems, listed: list[stamps.Entry] | None = None) -> list[Path]:
    """The deck's notes: Markdown files beside deck.yaml. One in a subfolder is not read, and says so."""
    notes = []
    for entry in stamps.listing(content_dir) if listed is None else listed:
        path = entry.path
        if path.suffix.lower() not in NOTE_SUFFIXES or path.stem.lower() == "readme" or not entry.is_file():
            continue
        if _not_in_deck(entry.relative):
            continue
        relative = Path(*entry.relative)
        if len(relative.parts) == 1:
            notes.append(path)
        elif (path.parent / DECK_FILE).is_file():
            continue  # another deck's note: `studykit build` reads that deck on its own
        else:
            problems.warn(
                Location(path, 1),
                f"not read: notes live beside {DECK_FILE}, not in a subfolder ({relative.parent.as_posix()}/)",
                f"move it to {content_dir}/ to make it part of the deck",
            )
    return notes


def _read_deck_file(content_dir: Path, problems: Problems) -> dict[str, Any] | None:
    path = content_dir / DECK_FILE
    if not path.is_file():
        raise ContentFolderError(
            f"{path}: deck file missing\n"
            "    hint: create it with title, slug, id, language, credit, source_url, license, author"
        )
    text = notefile.read_text(path, problems)
    if text is None:
        return None
    parsed = notefile.yaml_mapping(text, path, 1, problems)
    if parsed is None:
        return None
    data, lines = parsed
    start = Location(path, 1)
    ok = True
    for key in sorted(DECK_KEYS - {"id"}):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.error(Location(path, lines.get(key, 1)), f"deck field `{key}` is missing or empty")
            ok = False
    deck_id = data.get("id")
    if not isinstance(deck_id, int) or isinstance(deck_id, bool) or not (1 << 30) <= deck_id < (1 << 62):
        problems.error(
            Location(path, lines.get("id", 1)),
            "deck field `id` must be a whole number between 2^30 and 2^62",
            "pick it once at random and never change it: Anki uses it to recognise the deck",
        )
        ok = False
    if isinstance(data.get("slug"), str) and not SLUG.match(data["slug"]):
        problems.error(Location(path, lines.get("slug", 1)), "deck `slug` must be lowercase letters, digits and dashes")
        ok = False
    if isinstance(data.get("language"), str) and (wrong := language.problem(data["language"])):
        problems.error(Location(path, lines.get("language", 1)), *wrong)
        ok = False
    words = messages.for_tag(data.get("language"))  # the default footer in the deck's words
    footer = data.get("footer", f"{data.get('author')} · {data.get('license')} · {words.full_credit}")
    if not isinstance(footer, str):
        problems.error(Location(path, lines.get("footer", 1)), "deck field `footer` must be text")
        ok = False
    for key in sorted(set(data) - DECK_KEYS - OPTIONAL_DECK_KEYS):
        problems.warn(Location(path, lines.get(key, 1)), f"unknown deck field `{key}` is ignored")
    if not ok:
        return None
    values = {key: data[key] for key in DECK_KEYS} | {"language": language.canonical(data["language"])}
    return values | {"footer": " ".join(footer.split()), "location": start}


def _not_in_deck(relative: tuple[str, ...]) -> bool:
    """A file in a folder that holds no part of the deck (outputs, templates, tools), or a hidden one."""
    return any(part.startswith(".") or part in _NOT_NOTES for part in relative[:-1])


def _read_note(
    path: Path,
    content_dir: Path,
    converter: markup.Converter,
    deck_language: str,
    problems: Problems,
    files: obsidian.FileIndex | None = None,
) -> Note | None:
    text = notefile.read_text(path, problems)
    if text is None:
        return None
    parsed = notefile.parse(path, text, problems)
    if parsed is None:
        return None
    try:
        key_points_html = _html(
            converter, parsed.key_points.text, Location(path, parsed.key_points.line), files, problems
        )
        answer_html = _html(converter, parsed.answer.text, Location(path, parsed.answer.line), files, problems)
        clozes = tuple(
            ClozeItem(
                html=_html(converter, item.text, Location(path, item.line), files, problems)
                .removeprefix("<p>")
                .removesuffix("</p>"),
                location=Location(path, item.line),
            )
            for item in parsed.clozes
        )
    except _Unreadable as failure:
        problems.found.append(failure.problem)
        return None
    key_points_html, _ = _take_key_marks(key_points_html, path, text, parsed.key_points.line, problems)
    answer_html, marked = _take_key_marks(answer_html, path, text, parsed.answer.line, problems)
    identity, identity_problems = ankitypes.read_identity(parsed.meta, parsed.key_lines, path, content_dir, len(clozes))
    problems.found.extend(identity_problems)
    every_fragment = [key_points_html, answer_html, *(item.html for item in clozes)]
    _check_glyphs(path, text, parsed.language or deck_language, problems)
    formulas = _locate_formulas(path, text, every_fragment, parsed.key_points.line)
    media = resources.check_resources(
        path, text, content_dir, "".join(every_fragment), parsed.question, parsed.key_points.line, problems
    )
    _check_bars_in_table_math(path, text.split("\n"), parsed.body_line - 1, problems)
    for fragment, line in ((key_points_html, parsed.key_points.line), (answer_html, parsed.answer.line)):
        for stray in markup.stray_dollars(fragment):
            if stray.display:
                message = f"a `$$` opens display math that never closes: {quoted(stray.snippet)}"
                hint = "end the formula with a line holding `$$` (blank lines inside are fine); write \\$ for a dollar"
            else:
                message = f"a `$` opens a formula that never closes: {quoted(stray.snippet)}"
                hint = (
                    "close the formula with `$` in the same paragraph, or write \\$ for a dollar sign; math inside "
                    "raw HTML such as <div>…</div> is not rendered"
                )
            problems.error(_find_dollar(path, text, stray.after, line), message, hint)
    answer_formulas = formulas[len(list(markup.iter_math(key_points_html))) :]
    question_html = markup.question_html(parsed.question)
    formulas += tuple(
        Formula(found.tex, False, parsed.location_of("question")) for found in markup.iter_math(question_html)
    )
    return Note(
        id=parsed.id,
        number=parsed.number,
        question=parsed.question,
        question_html=question_html,
        tags=parsed.tags,
        key_points_html=key_points_html,
        answer_html=answer_html,
        formulas=formulas,
        key_formulas=tuple(answer_formulas[index] for index in marked if index < len(answer_formulas)),
        location=Location(path, 1),
        key_points_location=Location(path, parsed.key_points.line),
        answer_location=Location(path, parsed.answer.line),
        media=media,
        clozes=clozes,
        key_lines=tuple(parsed.key_lines.items()),
        language=parsed.language,
        guid=identity.guid,
        cloze_guids=identity.cloze_guids,
        note_type=identity.note_type,
    )


def _take_key_marks(
    fragment: str, path: Path, text: str, section_line: int, problems: Problems
) -> tuple[str, list[int]]:
    """The fragment without its `<!-- key -->` marks, and which of its formulas (by position) the marks name.

    A mark names the display formula right after it; a mark followed by anything else is an error at its line.
    Python-Markdown keeps an HTML comment as it is (outside code, where it would be escaped), so the marks are
    found in the HTML, and at their lines in the source by counting them in order.
    """
    if "<!--" not in fragment:
        return fragment, []
    marked: list[int] = []
    source_marks = [
        text.count("\n", 0, found.start()) + 1
        for found in markup.KEY_MARK_LINE.finditer(text, notefile.offset_of_line(text, section_line))
    ]
    formula_starts = [found.start() for found in markup.MATH_SPAN.finditer(fragment)]
    for count, mark in enumerate(markup.KEY_MARK.finditer(fragment)):
        line = source_marks[count] if count < len(source_marks) else section_line
        following = markup.DISPLAY_MATH_START.match(fragment, mark.end())
        if following is None:
            problems.error(
                Location(path, line),
                "`<!-- key -->` marks the display formula right after it, but none follows",
                "put the mark on the line just above a `$$` line that opens a display formula",
            )
            continue
        marked.append(formula_starts.index(following.end()))
    return markup.KEY_MARK.sub("", fragment), marked


def _check_glyphs(path: Path, text: str, note_language: str, problems: Problems) -> None:
    """A character no font can print would be an empty box in the PDFs: an error at its first line."""
    for character in fonts.uncovered(text, note_language):
        line = text.count("\n", 0, text.index(character)) + 1
        problems.error(
            Location(path, line),
            f"no font has the character {character} (U+{ord(character):04X}): the PDFs would print an empty box",
            "remove it or write it another way, or install a font that has it (fontconfig finds it; `fc-list "
            f"':charset={ord(character):x}'` shows which fonts do)",
        )


class _Unreadable(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _html(
    converter: markup.Converter,
    text: str,
    where: Location,
    files: obsidian.FileIndex | None = None,
    problems: Problems | None = None,
) -> str:
    context = obsidian.Context(where.path, where.line, problems, files) if problems is not None else None
    try:
        return converter.html(text, context)
    except markup.TooDeep as error:
        levels = f"{error.depth} levels" if error.depth else "too deeply for Markdown to read"
        line = where.line + _deepest_line(text)
        raise _Unreadable(
            Problem(
                Location(where.path, line),
                f"quotes or lists nested {levels}; at most {markup.MAX_NESTING} can be laid out",
                "flatten the nesting: no note needs more than a few levels of `>` or indented list items",
            )
        ) from error


def _deepest_line(text: str) -> int:
    """The offset, in lines, of the most deeply quoted or indented line of `text` (where to look)."""
    lines = text.split("\n")
    weights = [len(line) - len(line.lstrip(" >\t")) for line in lines]
    return weights.index(max(weights)) if lines else 0


def _check_bars_in_table_math(path: Path, lines: list[str], first: int, problems: Problems) -> None:
    """A `|` inside a formula in a table row: Markdown splits the cell there and the formula is lost."""
    fenced = False
    for number, line in enumerate(lines[first:], start=first + 1):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
        if fenced or not stripped.startswith("|"):
            continue
        for formula in markup.TABLE_ROW_FORMULA.findall(stripped):
            if "|" in formula:
                problems.error(
                    Location(path, number),
                    f"`|` inside the formula {quoted(formula)} splits this table cell, and the formula is lost",
                    "write \\vert (or \\lvert … \\rvert, \\Vert for ‖) instead of | inside math in a table",
                )


def _find_dollar(path: Path, text: str, after: str, section_line: int) -> Location:
    """The line of the `$` that `after` follows; `after` is prose, so its spacing may differ from the source."""
    start = notefile.offset_of_line(text, section_line)
    words = after.split()[:4]
    for count in range(len(words), -1, -1):
        pattern = re.compile(r"\$" + "".join(r"\s*" + re.escape(word) for word in words[:count]))
        found = pattern.search(text, start)
        if found:
            return Location(path, text.count("\n", 0, found.start()) + 1)
    return Location(path, section_line)


def _locate_formulas(path: Path, text: str, fragments: list[str], body_line: int) -> tuple[Formula, ...]:
    """Every formula with the file line it starts on (found by its TeX, which arithmatex keeps verbatim).

    Cloze markers are taken out of the TeX: what must render is the formula as it reads when revealed.
    """
    formulas = []
    cursor = notefile.offset_of_line(text, body_line)
    for fragment in fragments:
        for found in markup.iter_math(fragment):
            position = text.find(found.tex, cursor)
            if position >= 0:
                cursor = position + len(found.tex)
                location = Location(path, text.count("\n", 0, position) + 1)
            else:
                location = Location(path, text.count("\n", 0, cursor) + 1)
            try:
                tex = cloze.without_markers(found.tex)
            except cloze.ClozeSyntaxError:
                tex = found.tex
            formulas.append(Formula(tex, found.display, location))
    return tuple(formulas)


def _check_unique(notes: list[Note], problems: Problems) -> None:
    for attribute in ("id", "number"):
        first: dict[object, Note] = {}

        def where(note: Note, attribute: str = attribute) -> Location:
            return note.location_of(attribute)

        for note in notes:
            value = getattr(note, attribute)
            if value in first:
                problems.error(
                    where(note),
                    f"duplicate {attribute} {value!r}: also used by {where(first[value])}",
                    f"every note needs its own {attribute}",
                )
            else:
                first[value] = note


def _check_math(
    notes: list[Note],
    problems: Problems,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    draw: bool = True,
) -> None:
    """Check every formula now, so that a bad one stops the build before anything is written.

    `draw`: render each one not drawn before too, into the disk cache (the writers read it from there when they
    run: a rebuild whose outputs are all unchanged reads no drawing); else parse only.
    """
    formulas = [(formula.tex, formula.display) for note in notes for formula in note.formulas]
    total = len(set(formulas))
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(done, total)

    errors = (mathrender.prerender if draw else mathrender.precheck)(formulas, jobs, advance)
    for note in notes:
        for formula in note.formulas:
            error = errors.get((formula.tex, formula.display))
            if error is not None:
                problems.error(
                    formula.location,
                    f"formula does not render: {error}: {quoted(formula.tex)}",
                    mathrender.hint(),
                )
