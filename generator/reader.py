"""Read the content folder into a `Deck`, collecting every problem instead of stopping at the first.

Nothing here writes a file. The result is either a complete, validated deck or a `BuildFailed`
listing every problem found in every file, each at its file and line.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from generator import ankitypes, cloze, fragments, markup, mathrender
from generator.errors import BuildFailed, ContentFolderError, Location, Problem
from generator.model import ClozeItem, Deck, Formula, Note

DECK_FILE = "deck.yaml"
NOTE_GLOB = "*.md"
MAX_NOTE_BYTES = 1_000_000
KEY_POINTS = "key points"
FULL_ANSWER = "full answer"
CLOZE = "cloze"
_CLOZE_ITEM = re.compile(r"^[-*+]\s+(?P<text>.*)$")
NOTE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]*(::[a-z0-9][a-z0-9_-]*)*$")
# A formula in a table row, `$…$` (not `\$`), paired from the left as arithmatex pairs them.
_TABLE_FORMULA = re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$")
# guid, cloze_guids, note_type: Anki identity kept by `studykit import` (generator/ankitypes.py)
NOTE_KEYS = {"id", "number", "question", "tags", "guid", "cloze_guids", "note_type"}
DECK_KEYS = {"title", "slug", "id", "language", "credit", "source_url", "license", "author"}
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_SECTION = re.compile(r"^##(?!#)\s*(?P<title>.*?)\s*#*\s*$")
_YAML_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)
    key_lines: dict[Path, dict[str, int]] = field(default_factory=dict)  # each note's front-matter key lines

    def error(self, location: Location, message: str, hint: str = "") -> None:
        self.problems.append(Problem(location, message, hint))

    def warn(self, location: Location, message: str, hint: str = "") -> None:
        self.problems.append(Problem(location, message, hint, severity="warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


@dataclass(frozen=True)
class ReadResult:
    deck: Deck
    warnings: list[Problem]


def read_deck(
    content_dir: Path,
    strict: bool = False,
    jobs: int = 1,
    timings: dict[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReadResult:
    """Read and validate every file of `content_dir`; raise `BuildFailed` listing all problems.

    `timings` receives the seconds spent reading and checking, converting Markdown, and rendering
    math; `progress` is called with (done, total) as formulas render.
    """
    started = time.perf_counter()
    if not content_dir.is_dir():
        raise ContentFolderError(
            f"{content_dir}: no such content folder\n    hint: point --content at the folder holding deck.yaml"
        )
    collector = _Collector()
    deck_meta = _read_deck_file(content_dir, collector)
    note_paths = sorted(p for p in content_dir.glob(NOTE_GLOB) if p.name.lower() != "readme.md")
    root = content_dir.resolve()
    for link in [p for p in note_paths if not p.resolve().is_relative_to(root)]:
        collector.error(Location(link, 1), "note is a link to a file outside the content folder", "copy the note in")
        note_paths.remove(link)
    if not note_paths:
        raise ContentFolderError(
            f"{content_dir}: no notes (*.md files) in the content folder\n"
            "    hint: add a note such as 51-topic.md beside deck.yaml, or point --content at the notes' folder"
        )
    converter = markup.new_converter()
    notes = [note for path in note_paths if (note := _read_note(path, content_dir, converter, collector))]
    _check_unique(notes, collector)
    collector.problems.extend(
        ankitypes.duplicate_guids(notes, lambda note, key: collector.key_lines[note.path].get(key, 1))
    )
    if not collector.errors:  # a note that failed to read would make its own images look unused
        _check_unused_images(content_dir, notes, collector)
    read_done = time.perf_counter()
    _check_math(notes, collector, jobs, progress)
    if timings is not None:
        timings["read"] = read_done - started - converter.seconds
        timings["markdown"] = converter.seconds
        timings["math"] = time.perf_counter() - read_done
    failing = collector.errors + (collector.warnings if strict else [])
    if failing or deck_meta is None:
        raise BuildFailed(failing)
    deck = Deck(**deck_meta, content_dir=content_dir, notes=tuple(sorted(notes, key=lambda n: n.number)))
    return ReadResult(deck=deck, warnings=collector.warnings)


def _read_text(path: Path, collector: _Collector) -> str | None:
    try:
        size = path.stat().st_size
        if size > MAX_NOTE_BYTES:
            collector.error(
                Location(path, 1),
                f"file is {size:,} bytes, over the limit of {MAX_NOTE_BYTES:,}",
                "split it into several notes, or move large data into a figure file",
            )
            return None
        raw = path.read_bytes()
    except OSError as error:
        collector.error(Location(path, 1), f"cannot read file: {error.strerror}")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        collector.error(
            Location(path, line),
            f"not UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})",
            "save the file as UTF-8",
        )
        return None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def _yaml_mapping(
    text: str, path: Path, first_line: int, collector: _Collector, as_written: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, int]] | None:
    """Parse a YAML mapping; return it with the file line of each key.

    The keys in `as_written` keep a value that YAML reads as a number as the text it is written
    as: an id `000123` or `0123` (octal to YAML) must not become 123 or 83.
    """
    try:
        # One parse: the node tree gives each key's line, and the same loader builds the values from it.
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        # The context mark is where the broken construct began, which is where the user must look.
        mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
        line = first_line + (mark.line if mark is not None else 0)
        if isinstance(error, yaml.reader.ReaderError):  # a character YAML refuses: no mark, only an offset
            line = first_line + text.count("\n", 0, error.position)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        collector.error(
            Location(path, line),
            f"invalid YAML: {problem}",
            'check indentation and quoting; quote values that contain ": " or start with a special character',
        )
        return None
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        collector.error(Location(path, first_line), "expected a YAML mapping of `key: value` lines")
        return None
    # Keyed like `data`: by the key's parsed value (`true:` is the key "True"). Keys merged in with `<<`
    # have no line of their own; callers fall back to the first line for them.
    constructor = yaml.SafeLoader("")
    lines: dict[str, int] = {}
    mapping = {str(k): v for k, v in data.items()}
    for key, value in node.value:
        try:
            name = str(constructor.construct_object(key, deep=True))
        except yaml.YAMLError:
            name = str(key.value)
        lines[name] = first_line + key.start_mark.line
        if name in as_written and isinstance(value, yaml.ScalarNode) and value.tag in _YAML_NUMBER_TAGS:
            mapping[name] = value.value
    return mapping, lines


def _read_deck_file(content_dir: Path, collector: _Collector) -> dict[str, Any] | None:
    path = content_dir / DECK_FILE
    if not path.is_file():
        raise ContentFolderError(
            f"{path}: deck file missing\n"
            "    hint: create it with title, slug, id, language, credit, source_url, license, author"
        )
    text = _read_text(path, collector)
    if text is None:
        return None
    parsed = _yaml_mapping(text, path, 1, collector)
    if parsed is None:
        return None
    data, lines = parsed
    start = Location(path, 1)
    ok = True
    for key in sorted(DECK_KEYS - {"id"}):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            collector.error(Location(path, lines.get(key, 1)), f"deck field `{key}` is missing or empty")
            ok = False
    deck_id = data.get("id")
    if not isinstance(deck_id, int) or isinstance(deck_id, bool) or not (1 << 30) <= deck_id < (1 << 62):
        collector.error(
            Location(path, lines.get("id", 1)),
            "deck field `id` must be a whole number between 2^30 and 2^62",
            "pick it once at random and never change it: Anki uses it to recognise the deck",
        )
        ok = False
    if isinstance(data.get("slug"), str) and not SLUG.match(data["slug"]):
        collector.error(
            Location(path, lines.get("slug", 1)), "deck `slug` must be lowercase letters, digits and dashes"
        )
        ok = False
    for key in sorted(set(data) - DECK_KEYS):
        collector.warn(Location(path, lines.get(key, 1)), f"unknown deck field `{key}` is ignored")
    if not ok:
        return None
    return {key: data[key] for key in DECK_KEYS} | {"location": start}


def _read_note(path: Path, content_dir: Path, converter: markup.Converter, collector: _Collector) -> Note | None:
    text = _read_text(path, collector)
    if text is None:
        return None
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        collector.error(
            Location(path, 1),
            "no front matter: a note starts with a `---` line",
            "begin the file with ---, then id, number, question and tags, then another ---",
        )
        return None
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        collector.error(Location(path, 1), "front matter never closed", "add a `---` line after the last field")
        return None
    parsed = _yaml_mapping("\n".join(lines[1:end]), path, 2, collector, as_written=frozenset({"id", "guid"}))
    if parsed is None:
        return None
    meta, key_lines = parsed
    collector.key_lines[path] = key_lines
    before = len(collector.errors)
    note_id = _required_str(meta, "id", path, key_lines, collector)
    if note_id is not None and not NOTE_ID.match(note_id):
        collector.error(
            Location(path, key_lines.get("id", 1)),
            f"id {note_id!r} must be 4-64 letters, digits, `-` or `_`",
            "generate one with: python3 -c 'import secrets; print(secrets.token_hex(6))'",
        )
    number = meta.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        where = Location(path, key_lines.get("number", 1))
        collector.error(where, "`number` is missing or not a positive whole number", "e.g. number: 51")
    question = _required_str(meta, "question", path, key_lines, collector)
    tags = _tags(meta, path, key_lines, collector)
    for key in sorted(set(meta) - NOTE_KEYS):
        collector.warn(Location(path, key_lines.get(key, 1)), f"unknown front-matter field `{key}` is ignored")

    sections = _sections(lines, end + 1, path, collector)
    if sections is None or len(collector.errors) > before or note_id is None or question is None:
        return None
    assert isinstance(number, int)
    key_points_line, key_points_md = sections[KEY_POINTS]
    answer_line, answer_md = sections[FULL_ANSWER]
    key_points_html = converter.html(key_points_md)
    answer_html = converter.html(answer_md)
    clozes = _cloze_items(path, *sections[CLOZE], converter, collector) if CLOZE in sections else ()
    identity, identity_problems = ankitypes.read_identity(meta, key_lines, path, content_dir, len(clozes))
    collector.problems.extend(identity_problems)
    formulas = _locate_formulas(
        path, text, [key_points_html, answer_html, *(item.html for item in clozes)], key_points_line
    )
    media = _check_resources(
        path,
        text,
        content_dir,
        "".join([key_points_html, answer_html, *(item.html for item in clozes)]),
        question,
        key_points_line,
        collector,
    )
    _check_bars_in_table_math(path, lines, end + 1, collector)
    for fragment, line in ((key_points_html, key_points_line), (answer_html, answer_line)):
        for stray in markup.stray_dollars(fragment):
            collector.error(
                _find_dollar(path, text, stray.after, line),
                f"a `$` opens a formula that never closes: {stray.snippet!r}",
                "close the formula with `$`, put display math `$$` on lines of its own, or write \\$ for a dollar "
                "sign; math inside raw HTML such as <div>…</div> is not rendered",
            )
    return Note(
        id=note_id,
        number=number,
        question=question.strip(),
        tags=tags,
        key_points_html=key_points_html,
        answer_html=answer_html,
        formulas=formulas,
        location=Location(path, 1),
        key_points_location=Location(path, key_points_line),
        answer_location=Location(path, answer_line),
        media=media,
        clozes=clozes,
        guid=identity.guid,
        cloze_guids=identity.cloze_guids,
        note_type=identity.note_type,
    )


def _check_bars_in_table_math(path: Path, lines: list[str], first: int, collector: _Collector) -> None:
    """A `|` inside a formula in a table row: Markdown splits the cell there and the formula is lost."""
    fenced = False
    for number, line in enumerate(lines[first:], start=first + 1):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
        if fenced or not stripped.startswith("|"):
            continue
        for formula in _TABLE_FORMULA.findall(stripped):
            if "|" in formula:
                collector.error(
                    Location(path, number),
                    f"`|` inside the formula {formula!r} splits this table cell, and the formula is lost",
                    "write \\vert (or \\lvert … \\rvert, \\Vert for ‖) instead of | inside math in a table",
                )


def _required_str(
    meta: dict[str, Any], key: str, path: Path, key_lines: dict[str, int], collector: _Collector
) -> str | None:
    value = meta.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "id":
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        state = "missing" if key not in meta else "empty" if not value else "not text"
        collector.error(
            Location(path, key_lines.get(key, 1)), f"`{key}` is {state}", f"add a line `{key}: …` to the front matter"
        )
        return None
    return value


def _tags(meta: dict[str, Any], path: Path, key_lines: dict[str, int], collector: _Collector) -> tuple[str, ...]:
    raw = meta.get("tags")
    where = Location(path, key_lines.get("tags", 1))
    if raw is None:
        collector.warn(where, "note has no tags", "add e.g. `tags: [detection, cnn]`")
        return ()
    if isinstance(raw, str):
        raw = raw.split()
    if not isinstance(raw, list) or not all(isinstance(tag, str) for tag in raw):
        collector.error(where, "`tags` must be a list of words", "e.g. tags: [detection, cnn]")
        return ()
    bad = [tag for tag in raw if not TAG.match(tag)]
    if bad:
        collector.error(
            where, f"invalid tag(s) {', '.join(map(repr, bad))}", "tags are lowercase words joined by `-`, no spaces"
        )
    return tuple(dict.fromkeys(raw))


def _sections(lines: list[str], start: int, path: Path, collector: _Collector) -> dict[str, tuple[int, str]] | None:
    """Split the body into its `##` parts by title; each comes with the file line its text starts on."""
    found: dict[str, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    fence: str | None = None
    for index in range(start, len(lines)):
        line = lines[index]
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker
            elif marker.startswith(fence[0]) and len(marker) >= len(fence):
                fence = None
        heading = _SECTION.match(line) if fence is None else None
        if heading:
            title = heading.group("title").lower().rstrip(":")
            if title not in (KEY_POINTS, FULL_ANSWER, CLOZE):
                collector.error(
                    Location(path, index + 1),
                    f"unexpected section `## {heading.group('title')}`",
                    "a note has the sections `## Key points`, `## Full answer` and optionally `## Cloze`; "
                    "use ### inside them",
                )
                return None
            if title in found:
                collector.error(
                    Location(path, index + 1),
                    f"section `## {heading.group('title')}` appears twice",
                    "merge the two into one section; use ### for headings inside it",
                )
                return None
            current = []
            found[title] = (index + 2, current)
            continue
        if current is None:
            if line.strip():
                collector.error(
                    Location(path, index + 1),
                    "text before the first section",
                    "start the body with `## Key points`, then `## Full answer`",
                )
                return None
            continue
        current.append(line)
    result: dict[str, tuple[int, str]] = {}
    for title in (KEY_POINTS, FULL_ANSWER, CLOZE):
        if title not in found:
            if title != CLOZE:
                collector.error(
                    Location(path, len(lines) - 1 if len(lines) > 1 and not lines[-1] else len(lines)),
                    f"section `## {title.capitalize()}` is missing",
                    "a note has `## Key points`, then `## Full answer`, each followed by its text",
                )
            continue
        line_number, body = found[title]
        if not "\n".join(body).strip():
            collector.error(
                Location(path, line_number - 1),
                f"section `## {title.capitalize()}` is empty",
                "write its text under the heading",
            )
            continue
        result[title] = (line_number, "\n".join(body))
    if KEY_POINTS not in result or FULL_ANSWER not in result:
        return None
    if found[KEY_POINTS][0] > found[FULL_ANSWER][0]:
        collector.error(
            Location(path, found[KEY_POINTS][0] - 1),
            "`## Key points` must come before `## Full answer`",
            "move the `## Key points` section above `## Full answer`",
        )
        return None
    return result


def _cloze_items(
    path: Path, section_line: int, section: str, converter: markup.Converter, collector: _Collector
) -> tuple[ClozeItem, ...]:
    """One cloze note per top-level list item of the `## Cloze` section."""
    items: list[tuple[int, list[str]]] = []
    for offset, line in enumerate(section.split("\n")):
        bullet = _CLOZE_ITEM.match(line)
        if bullet:
            items.append((section_line + offset, [bullet.group("text")]))
        elif items and (line.startswith((" ", "\t")) or not line.strip()):
            items[-1][1].append(line.strip())
        elif line.strip():
            collector.error(
                Location(path, section_line + offset),
                "text in `## Cloze` outside a list item",
                "write each cloze note as a `- ` list item with {{c1::…}} deletions",
            )
    result = []
    for line_number, parts in items:
        source = " ".join(part for part in parts if part)
        where = Location(path, line_number)
        try:
            found = cloze.deletions(source)
        except cloze.ClozeSyntaxError as error:
            collector.error(where, str(error), "close each deletion with }}")
            continue
        if not found:
            collector.error(where, "cloze item has no deletion", "mark what to hide as {{c1::…}}")
            continue
        html_text = converter.html(source)
        html_text = html_text.removeprefix("<p>").removesuffix("</p>")
        result.append(ClozeItem(html=html_text, location=where))
    return tuple(result)


def _find_line(path: Path, text: str, needle: str, fallback: int, after: int = 0) -> Location:
    position = text.find(needle, after) if needle else -1
    if position < 0:
        return Location(path, fallback)
    return Location(path, text.count("\n", 0, position) + 1)


def _find_dollar(path: Path, text: str, after: str, section_line: int) -> Location:
    """The line of the `$` that `after` follows; `after` is prose, so its spacing may differ from the source."""
    start = _offset_of_line(text, section_line)
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
    cursor = _offset_of_line(text, body_line)
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


def _offset_of_line(text: str, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        offset = text.find("\n", offset) + 1
    return offset


def _check_resources(
    path: Path, text: str, content_dir: Path, body_html: str, question: str, body_line: int, collector: _Collector
) -> tuple[Path, ...]:
    """Nothing in a note may load from outside the content folder, in any output; return the files it uses.

    Every tag is read the way a browser or WeasyPrint reads it (any case, any quoting, entities
    decoded, comments opened up), not only the tags Markdown writes. The only references allowed
    are `#anchors`, `data:` URIs (an SVG one is checked inside too), `<img src>` of a file inside
    the content folder (an SVG file is checked inside too) and hyperlinks, which load nothing.
    `body_html` is every section as the outputs render it (text outside the sections is already an
    error); the question is checked too, since Anki shows it as HTML.
    """
    scan = _ResourceScan(path, text, content_dir.resolve(), body_line, collector)
    scan.fragment(body_html)
    scan.restart(_find_line(path, text, "question:", 1).line)
    scan.fragment(question, allow_files=False)
    return tuple(dict.fromkeys(scan.media))


# Tags that load, run or restyle something by themselves; notes never need them. An SVG (a figure file
# or a data: URI) may keep its <style>, whose text is checked instead.
_FORBIDDEN_TAGS = frozenset(
    {"script", "link", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "portal"}
)
_FORBIDDEN_IN_SVG = _FORBIDDEN_TAGS - {"style"}
# Attributes whose value is a URL (srcset: a list of them); so is any attribute whose name ends in src or href.
_URL_ATTRIBUTES = frozenset(
    {"src", "href", "srcset", "imagesrcset", "poster", "data", "background", "action", "formaction", "codebase",
     "archive", "code", "classid", "manifest", "icon", "profile", "usemap", "ping", "cite", "longdesc", "xml:base"}
)  # fmt: skip
# Attributes that hold text for people, never CSS or a URL.
_TEXT_ATTRIBUTES = frozenset({"alt", "title", "class", "id", "name", "value", "lang", "dir", "role"})
# A link to an http(s) page or a mail address loads nothing until the reader follows it; so do these attributes.
_CITATION_ATTRIBUTES = frozenset({"cite", "longdesc"})
# Comment and CDATA marks are dropped before parsing: an HTML5 parser ends `<!-->` where a lenient one
# reads on, so tags "inside" a comment are checked too.
_COMMENT_MARK = re.compile(r"<!--|--!?>|<!\[CDATA\[|\]\]>")
# CSS that can load: url() (other than to data: or #id), image-set() and friends, @import; and escapes,
# which could spell any of them.
_CSS_FUNCTION = re.compile(
    r"(?<![\w-])(?P<name>url|src|image|image-set|-webkit-image-set|cross-fade|element)\s*\(\s*(?P<argument>[^)]*)",
    re.IGNORECASE,
)
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
# Browsers drop tabs and newlines anywhere in a URL, and control characters and spaces around it.
_URL_NOISE = re.compile(r"[\t\n\r]")
_C0_OR_SPACE = "".join(map(chr, range(0x21)))


class _Tags(HTMLParser):
    """Every start tag with its attributes (names lowercased, values decoded), and the text of each `<style>`."""

    def __init__(self, markup_text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str]], str]] = []
        self.style_text: list[str] = []
        self._in_style = False
        self.feed(_COMMENT_MARK.sub(" ", markup_text))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_startendtag(tag, attrs)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or f"<{tag}"
        self.tags.append((tag, [(name, value or "") for name, value in attrs], raw))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style_text.append(data)


def _srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset: each candidate is a URL, then optional descriptors, then a comma."""
    urls = []
    position = 0
    while position < len(value):
        while position < len(value) and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < len(value) and not value[position].isspace():
            position += 1
        url = value[start:position]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0
            while position < len(value) and (value[position] != "," or depth):
                depth += {"(": 1, ")": -1}.get(value[position], 0)
                position += 1
        if url:
            urls.append(url)
    return urls


def _css_problem(css: str) -> str | None:
    """Why a piece of CSS (a style attribute, an SVG <style>) could load something; None if it cannot."""
    css = _CSS_COMMENT.sub("", css)
    if "\\" in css:
        return "a CSS escape (`\\`)"
    if "@import" in css.lower():
        return "CSS `@import`"
    for function in _CSS_FUNCTION.finditer(css):
        argument = function.group("argument").strip().strip("'\"").strip().lower()
        if function.group("name").lower() != "url" or not argument.startswith(("data:", "#")):
            return f"CSS `{function.group('name')}(…)`"
    return None


def _svg_of_data_uri(url: str) -> str | None:
    """The document inside a `data:` URI when it is (or may be) SVG; None for other data."""
    header, _, payload = url[len("data:") :].partition(",")
    header = header.lower()
    try:
        if header.rstrip().endswith(";base64"):
            document = base64.b64decode(unquote(payload), validate=False).decode("utf-8", "replace")
        else:
            document = unquote(payload)
    except (ValueError, binascii.Error):
        return None
    return document if "svg" in header or _looks_like_markup(document) else None


def _writers_find_src(tag: str) -> bool:
    """Whether the writers find this tag's src (to inline it, or to name it for Anki): if not, it would load as is."""
    mark = "studykit:rewritten"
    rewritten = _Tags(fragments.rewrite_images(tag, lambda src: mark))
    sources = [value for _, attributes, _ in rewritten.tags for name, value in attributes if name == "src"]
    return bool(sources) and all(value == mark for value in sources)


def _looks_like_markup(document: str) -> bool:
    """WeasyPrint reads an image that is not a raster image as SVG, whatever its name or type says."""
    return document.lstrip("\ufeff \t\r\n").startswith("<")


class _ResourceScan:
    """Checks the HTML of one note, reporting each problem at the line of the note that holds it."""

    def __init__(self, path: Path, text: str, root: Path, body_line: int, collector: _Collector) -> None:
        self.path, self.text, self.root, self.collector = path, text, root, collector
        self.media: list[Path] = []
        self._reported: set[tuple[int, str]] = set()
        self.restart(body_line)

    def restart(self, line: int) -> None:
        """Look for the next problems from `line` on (and report at `line` what cannot be found)."""
        self.fallback = line
        self.cursor = _offset_of_line(self.text, line)

    def fragment(self, markup_text: str, allow_files: bool = True, svg: _Where | None = None, depth: int = 0) -> None:
        """Check a piece of HTML: a note's, or an SVG's that the note refers to at `svg`."""
        parsed = _Tags(markup_text)
        within = f" (inside {svg.what})" if svg else ""
        forbidden = _FORBIDDEN_IN_SVG if svg else _FORBIDDEN_TAGS
        for tag, attributes, raw in parsed.tags:
            spot = _Spot(self, raw)
            if tag in forbidden:
                self._error(
                    svg or _Where(spot),
                    f"`<{tag}>` is not allowed in a note{within}",
                    "notes hold Markdown, images and links; styles and scripts belong in templates/",
                )
            rel = next((value for name, value in attributes if name == "rel"), "").lower().split()
            animated = next((value for name, value in attributes if name == "attributename"), "").lower()
            if animated.endswith(("href", "src")):
                self._error(
                    svg or _Where(spot, "attributename"),
                    f"animating `{animated}` is not allowed in a note{within}",
                    "an animation could make it load anything",
                )
            element = _Element(tag, raw, "attachment" in rel, allow_files, within, depth)
            for name, value in attributes:
                self._attribute(element, name, value, svg or _Where(spot, name, value))
        for css in parsed.style_text:
            problem = _css_problem(css)
            if problem:
                where = svg or _Where(_Spot(self, css.strip()[:60]))
                self._error(where, f"{problem} is not allowed in a note{within}", "use a Markdown image instead")

    def _attribute(self, element: _Element, name: str, value: str, where: _Where) -> None:
        within = element.within
        if name.startswith("on"):
            self._error(where, f"event handler `{name}=` is not allowed in a note{within}", "notes run no code")
            return
        is_url = name in _URL_ATTRIBUTES or name.endswith(("src", "href"))
        if not is_url:
            if name not in _TEXT_ATTRIBUTES and not name.startswith(("aria-", "data-")):
                problem = _css_problem(value) if name == "style" or "(" in value else None
                if problem:
                    self._error(where, f"{problem} is not allowed in a note{within}", "use a Markdown image instead")
            return
        for candidate in _srcset_urls(value) if name.endswith("srcset") else [value]:
            url = _URL_NOISE.sub("", candidate).strip(_C0_OR_SPACE)
            if url[:5].lower() != "data:":
                self._url(element, name, url, where)
                continue
            document = _svg_of_data_uri(url)
            if document is not None and element.depth < 3:
                self.fragment(
                    document,
                    allow_files=False,
                    svg=where.named(f"the SVG data: URI of {name}="),
                    depth=element.depth + 1,
                )

    def _url(self, element: _Element, name: str, url: str, where: _Where) -> None:
        tag, depth = element.tag, element.depth
        shown = f"{name}={url!r}{element.within}"
        try:
            parts = urlsplit(url)
        except ValueError:
            self._error(where, f"{shown} is not a valid URL", "check the brackets and the host name")
            return
        scheme = parts.scheme.lower()
        if url.startswith("#"):
            return
        link = (
            tag in ("a", "area") and name.endswith("href") and not element.attachment
        ) or name in _CITATION_ATTRIBUTES
        web = (scheme in ("http", "https") and bool(parts.netloc)) or scheme == "mailto"
        if "\\" in url:
            self._error(where, f"{shown}: a `\\` in a URL is not allowed", "use `/` between folders")
        elif link and web:
            return  # an ordinary hyperlink loads nothing until the reader clicks it
        elif scheme or parts.netloc or url.startswith("/"):
            self._error(
                where,
                f"{shown} points outside the content folder",
                "copy the file into the content folder and refer to it by a relative path",
            )
        elif not element.allow_files or not (link or (tag == "img" and name == "src")):
            self._error(
                where,
                f"{shown}: only an image's src or a link may refer to a file here",
                "use a Markdown image, ![what it shows](figures/file.svg), or a link",
            )
        elif link:
            self._file(f"{name}={url!r}", unquote(parts.path), where, depth, image=False)
        elif parts.query or parts.fragment or unquote(parts.path) != parts.path:
            self._error(
                where,
                f"{shown}: write an image's path as it is, without `%` escapes, `?` or `#`",
                "a file name with spaces goes in angle brackets: ![what it shows](<figures/my figure.svg>)",
            )
        elif not _writers_find_src(element.raw):
            self._error(
                where,
                f'{shown}: write a figure as a Markdown image or as <img src="…">',
                "e.g. ![what it shows](figures/file.svg); the outputs only find images written that way",
            )
        else:
            self._file(f"{name}={url!r}", parts.path, where, depth, image=True)

    def _file(self, shown: str, relative: str, where: _Where, depth: int, image: bool) -> None:
        try:
            target = (self.path.parent / relative).resolve()
            exists = target.is_file()
        except (OSError, RuntimeError, ValueError) as error:  # a name too long, a symlink loop, a NUL byte
            self._error(where, f"{shown}: not a usable path ({error})", "use a short relative path to a figure")
            return
        if not target.is_relative_to(self.root):
            self._error(where, f"{shown} leaves the content folder", "keep figures inside the content folder")
        elif not exists:
            self._error(
                where, f"{shown}: no such file", f"expected {target.relative_to(self.root)} in the content folder"
            )
        else:
            name = target.relative_to(self.root)
            if image:  # an image that is SVG (whatever its name) could refer to other files
                try:
                    document = target.read_bytes().decode("utf-8", "replace")
                except OSError as error:
                    self._error(where, f"{shown}: cannot read the file: {error.strerror}", "")
                    return
                if target.suffix.lower() == ".svg" or _looks_like_markup(document):
                    self.fragment(document, allow_files=False, svg=where.named(name.as_posix()), depth=depth + 1)
            self.media.append(name)

    def find(self, needle: str, *others: str) -> int:
        """Where `needle` (else one of `others`) is in the note, from the last find on; -1 if nowhere.

        Case does not matter, nor how much white space there is, nor Markdown's backslash escapes.
        """
        for candidate in (needle, *others):
            if candidate.strip():
                pattern = re.compile(_loose(candidate.strip()), re.IGNORECASE)
                found = pattern.search(self.text, self.cursor) or pattern.search(self.text)
                if found:
                    self.cursor = found.end()
                    return found.start()
        return -1

    def _error(self, where: _Where, message: str, hint: str) -> None:
        offset = where.offset()
        line = self.text.count("\n", 0, offset) + 1 if offset >= 0 else self.fallback
        if (line, message) not in self._reported:
            self._reported.add((line, message))
            self.collector.error(Location(self.path, line), message, hint)


def _loose(needle: str) -> str:
    """A pattern for `needle` as the note may spell it: any run of white space, a `\\` before punctuation."""
    parts: list[str] = []
    for char in needle:
        if char.isspace():
            if parts[-1:] != [r"\s+"]:
                parts.append(r"\s+")
        elif char in _ASCII_PUNCTUATION:
            parts.append(r"\\?" + re.escape(char))
        else:
            parts.append(re.escape(char))
    return "".join(parts)


_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


class _Spot:
    """Where a tag is in the note, looked up once and only when a problem needs it (-1: Markdown wrote the tag)."""

    def __init__(self, scan: _ResourceScan, raw: str) -> None:
        self.scan, self.raw = scan, raw
        self._offset: int | None = None
        self.written = ""  # the tag as the note writes it

    def offset(self) -> int:
        if self._offset is None:
            self._offset = self.scan.find(self.raw)
            self.written = self.scan.text[self._offset : self.scan.cursor] if self._offset >= 0 else ""
        return self._offset


@dataclass(frozen=True)
class _Element:
    """A tag being checked, with what its attributes' checks need to know of it and of where it is."""

    tag: str
    raw: str  # as written in the note
    attachment: bool  # rel="attachment": a link that downloads rather than navigates
    allow_files: bool  # False inside an SVG: it may not refer to further files
    within: str  # " (inside …)" for messages about an SVG's contents, else ""
    depth: int  # how many SVGs deep


class _Where:
    """Where an attribute is: inside its tag if the note has the tag as written, else where its value is."""

    def __init__(self, spot: _Spot, name: str = "", value: str = "", what: str = "") -> None:
        self.spot, self.name, self.value, self.what = spot, name, value, what
        self._offset: int | None = None
        self._same_as: _Where | None = None

    def named(self, what: str) -> _Where:
        """The same place, as the referrer of an SVG (`what` says which)."""
        same = _Where(self.spot, self.name, self.value, what)
        same._same_as = self
        return same

    def offset(self) -> int:
        if self._same_as is not None:
            return self._same_as.offset()
        if self._offset is None:
            self._offset = self._locate()
        return self._offset

    def _locate(self) -> int:
        tag_at = self.spot.offset()
        if tag_at >= 0:
            inside = re.search(r"(?<![\w:-])" + re.escape(self.name) + r"\s*=", self.spot.written, re.IGNORECASE)
            return tag_at + (inside.start() if self.name and inside else 0)
        if not self.value:
            return -1
        return self.spot.scan.find(html.escape(self.value, quote=False), self.value)


def _check_unique(notes: list[Note], collector: _Collector) -> None:
    for attribute in ("id", "number"):
        first: dict[object, Note] = {}

        def where(note: Note, attribute: str = attribute) -> Location:
            lines = collector.key_lines.get(note.location.path, {})
            return Location(note.location.path, lines.get(attribute, note.location.line))

        for note in notes:
            value = getattr(note, attribute)
            if value in first:
                collector.error(
                    where(note),
                    f"duplicate {attribute} {value!r}: also used by {where(first[value])}",
                    f"every note needs its own {attribute}",
                )
            else:
                first[value] = note


IMAGE_SUFFIXES = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}


def _check_unused_images(content_dir: Path, notes: list[Note], collector: _Collector) -> None:
    """An image no note shows is probably a typo in a reference, or left over: worth a warning."""
    used = {path for note in notes for path in note.media}
    root = content_dir.resolve()
    for image in sorted(content_dir.rglob("*")):
        if image.suffix.lower() in IMAGE_SUFFIXES and image.is_file():
            resolved = image.resolve()
            if resolved.is_relative_to(root) and resolved.relative_to(root) not in used:
                collector.warn(
                    Location(image, 1), "image is not used by any note", "refer to it from a note, or delete it"
                )


def _check_math(
    notes: list[Note], collector: _Collector, jobs: int = 1, progress: Callable[[int, int], None] | None = None
) -> None:
    """Render every formula now, so that a bad one stops the build before anything is written."""
    formulas = [(formula.tex, formula.display) for note in notes for formula in note.formulas]
    total = len(set(formulas))
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(done, total)

    errors = mathrender.prerender(formulas, jobs, advance)
    for note in notes:
        for formula in note.formulas:
            error = errors.get((formula.tex, formula.display))
            if error is None:
                try:
                    mathrender.render(formula.tex, formula.display)
                except mathrender.MathRenderError as failure:
                    error = str(failure)
            if error is not None:
                collector.error(
                    formula.location,
                    f"formula does not render: {error}: {formula.tex[:80]!r}",
                    "check the LaTeX: balanced braces, known commands (see ziamath's supported commands)",
                )
