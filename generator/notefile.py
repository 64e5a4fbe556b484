"""A note file read as text: its front matter, its `##` sections and its cloze items, each with its line.

Nothing here converts Markdown or looks at what the text means beyond its shape; `generator.reader`
does that with the `ParsedNote` this module makes. Line numbers are 1-based file lines, kept on the
record so that every later check reports at the right place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator import cloze, language
from generator.errors import Location, Problems, quoted

MAX_NOTE_BYTES = 1_000_000
KEY_POINTS = "key points"
FULL_ANSWER = "full answer"
CLOZE = "cloze"
# The sections' titles as a note written in Chinese heads them (Simplified and Traditional): 要点 (key points),
# 完整解答 or 解答 (full answer), 填空 (Anki's Chinese name for a cloze note); each means its English title.
SECTION_TITLES = {
    KEY_POINTS: KEY_POINTS,
    FULL_ANSWER: FULL_ANSWER,
    CLOZE: CLOZE,
    "要点": KEY_POINTS,
    "要點": KEY_POINTS,
    "完整解答": FULL_ANSWER,
    "解答": FULL_ANSWER,
    "完整答案": FULL_ANSWER,
    "答案": FULL_ANSWER,
    "填空": CLOZE,
    "填空题": CLOZE,
    "填空題": CLOZE,
}
# guid, cloze_guids, note_type: Anki identity kept by `studykit import` (generator/ankitypes.py)
NOTE_KEYS = {"id", "number", "question", "tags", "language", "guid", "cloze_guids", "note_type"}
NOTE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$")
# What Anki accepts as a tag: anything without white space (it splits tags on spaces); `::` nests them.
# Double quotes are refused too: Anki's search syntax cannot name a tag that holds one.
TAG = re.compile(r'^[^\s"]+$')
_CLOZE_ITEM = re.compile(r"^[-*+]\s+(?P<text>.*)$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_SECTION = re.compile(r"^##(?!#)\s*(?P<title>.*?)\s*#*\s*$")
_YAML_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


@dataclass(frozen=True)
class Section:
    line: int  # the file line its text starts on (the line after its heading)
    text: str


@dataclass(frozen=True)
class ClozeSource:
    line: int
    text: str  # the list item's Markdown, continuation lines joined


@dataclass(frozen=True)
class ParsedNote:
    """A note file's parts, as written, each knowing its line."""

    path: Path
    text: str
    id: str
    number: int
    question: str
    tags: tuple[str, ...]
    language: str | None  # the note's own language, when it is not the deck's
    key_lines: dict[str, int]  # the file line of each front-matter key
    meta: dict[str, Any]  # the front matter as parsed, for the keys other modules check (ankitypes)
    body_line: int  # the first line after the front matter
    key_points: Section
    answer: Section
    clozes: tuple[ClozeSource, ...]

    def location_of(self, key: str) -> Location:
        """Where a front-matter key is written (the first line when it is not)."""
        return Location(self.path, self.key_lines.get(key, 1))


def read_text(path: Path, problems: Problems) -> str | None:
    try:
        size = path.stat().st_size
        if size > MAX_NOTE_BYTES:
            problems.error(
                Location(path, 1),
                f"file is {size:,} bytes, over the limit of {MAX_NOTE_BYTES:,}",
                "split it into several notes, or move large data into a figure file",
            )
            return None
        raw = path.read_bytes()
    except OSError as error:
        problems.error(Location(path, 1), f"cannot read file: {error.strerror}")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        problems.error(
            Location(path, line),
            f"not UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})",
            "save the file as UTF-8",
        )
        return None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def yaml_mapping(
    text: str, path: Path, first_line: int, problems: Problems, as_written: frozenset[str] = frozenset()
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
        problems.error(
            Location(path, line),
            f"invalid YAML: {problem}",
            'check indentation and quoting; quote values that contain ": " or start with a special character',
        )
        return None
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        problems.error(Location(path, first_line), "expected a YAML mapping of `key: value` lines")
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


def parse(path: Path, text: str, problems: Problems) -> ParsedNote | None:
    """The note's front matter and sections; None (with the problems recorded) when they are not usable."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problems.error(
            Location(path, 1),
            "no front matter: a note starts with a `---` line",
            "begin the file with ---, then id, number, question and tags, then another ---",
        )
        return None
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        problems.error(Location(path, 1), "front matter never closed", "add a `---` line after the last field")
        return None
    parsed = yaml_mapping("\n".join(lines[1:end]), path, 2, problems, as_written=frozenset({"id", "guid"}))
    if parsed is None:
        return None
    meta, key_lines = parsed
    before = len(problems.errors)
    note_id = _required_str(meta, "id", path, key_lines, problems)
    if note_id is not None and not NOTE_ID.match(note_id):
        problems.error(
            Location(path, key_lines.get("id", 1)),
            f"id {note_id!r} must be 4-64 letters, digits, `-` or `_`",
            "generate one with: python3 -c 'import secrets; print(secrets.token_hex(6))'",
        )
    number = meta.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        where = Location(path, key_lines.get("number", 1))
        problems.error(where, "`number` is missing or not a positive whole number", "e.g. number: 51")
    question = _required_str(meta, "question", path, key_lines, problems)
    tags = _tags(meta, path, key_lines, problems)
    note_language = meta.get("language")
    if note_language is not None and (wrong := language.problem(note_language)):
        problems.error(Location(path, key_lines.get("language", 1)), *wrong)
    for key in sorted(set(meta) - NOTE_KEYS):
        problems.warn(Location(path, key_lines.get(key, 1)), f"unknown front-matter field `{key}` is ignored")

    sections = _sections(lines, end + 1, path, problems)
    if sections is None or len(problems.errors) > before or note_id is None or question is None:
        return None
    assert isinstance(number, int)
    clozes = _cloze_sources(path, sections[CLOZE], problems) if CLOZE in sections else ()
    return ParsedNote(
        path=path,
        text=text,
        id=note_id,
        number=number,
        question=question.strip(),
        tags=tags,
        language=language.canonical(note_language) if isinstance(note_language, str) else None,
        key_lines=key_lines,
        meta=meta,
        body_line=end + 2,
        key_points=sections[KEY_POINTS],
        answer=sections[FULL_ANSWER],
        clozes=clozes,
    )


def _required_str(
    meta: dict[str, Any], key: str, path: Path, key_lines: dict[str, int], problems: Problems
) -> str | None:
    value = meta.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "id":
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        state = "missing" if key not in meta else "empty" if not value else "not text"
        problems.error(
            Location(path, key_lines.get(key, 1)), f"`{key}` is {state}", f"add a line `{key}: …` to the front matter"
        )
        return None
    return value


def _tags(meta: dict[str, Any], path: Path, key_lines: dict[str, int], problems: Problems) -> tuple[str, ...]:
    raw = meta.get("tags")
    where = Location(path, key_lines.get("tags", 1))
    if raw is None:
        problems.warn(where, "note has no tags", "add e.g. `tags: [detection, cnn]`")
        return ()
    if isinstance(raw, str):
        raw = raw.split()
    if not isinstance(raw, list) or not all(isinstance(tag, str) for tag in raw):
        problems.error(where, "`tags` must be a list of words", "e.g. tags: [detection, cnn]")
        return ()
    bad = [tag for tag in raw if not TAG.match(tag)]
    if bad:
        problems.error(
            where,
            f"invalid tag(s) {', '.join(quoted(tag) for tag in bad)}",
            "a tag is one word without spaces or double quotes (Anki splits tags at spaces); join words with - or _",
        )
    return tuple(dict.fromkeys(raw))


def _sections(lines: list[str], start: int, path: Path, problems: Problems) -> dict[str, Section] | None:
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
            title = SECTION_TITLES.get(heading.group("title").lower().rstrip(":：").strip(), "")
            if not title:
                problems.error(
                    Location(path, index + 1),
                    f"unexpected section `## {heading.group('title')}`",
                    "a note has the sections `## Key points`, `## Full answer` and optionally `## Cloze` (or, in "
                    "Chinese, `## 要点`, `## 完整解答`, `## 填空`); use ### inside them",
                )
                return None
            if title in found:
                problems.error(
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
                problems.error(
                    Location(path, index + 1),
                    "text before the first section",
                    "start the body with `## Key points`, then `## Full answer`",
                )
                return None
            continue
        current.append(line)
    result: dict[str, Section] = {}
    for title in (KEY_POINTS, FULL_ANSWER, CLOZE):
        if title not in found:
            if title != CLOZE:
                problems.error(
                    Location(path, len(lines) - 1 if len(lines) > 1 and not lines[-1] else len(lines)),
                    f"section `## {title.capitalize()}` is missing",
                    "a note has `## Key points`, then `## Full answer`, each followed by its text",
                )
            continue
        line_number, body = found[title]
        if not "\n".join(body).strip():
            problems.error(
                Location(path, line_number - 1),
                f"section `## {title.capitalize()}` is empty",
                "write its text under the heading",
            )
            continue
        result[title] = Section(line_number, "\n".join(body))
    if KEY_POINTS not in result or FULL_ANSWER not in result:
        return None
    if found[KEY_POINTS][0] > found[FULL_ANSWER][0]:
        problems.error(
            Location(path, found[KEY_POINTS][0] - 1),
            "`## Key points` must come before `## Full answer`",
            "move the `## Key points` section above `## Full answer`",
        )
        return None
    return result


def _cloze_sources(path: Path, section: Section, problems: Problems) -> tuple[ClozeSource, ...]:
    """One cloze note per top-level list item of the `## Cloze` section, each with at least one deletion."""
    items: list[tuple[int, list[str]]] = []
    for offset, line in enumerate(section.text.split("\n")):
        bullet = _CLOZE_ITEM.match(line)
        if bullet:
            items.append((section.line + offset, [bullet.group("text")]))
        elif items and (line.startswith((" ", "\t")) or not line.strip()):
            items[-1][1].append(line.strip())
        elif line.strip():
            problems.error(
                Location(path, section.line + offset),
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
            problems.error(where, str(error), "close each deletion with }}")
            continue
        if not found:
            problems.error(where, "cloze item has no deletion", "mark what to hide as {{c1::…}}")
            continue
        result.append(ClozeSource(line_number, source))
    return tuple(result)


def offset_of_line(text: str, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        offset = text.find("\n", offset) + 1
    return offset


def find_line(path: Path, text: str, needle: str, fallback: int, after: int = 0) -> Location:
    position = text.find(needle, after) if needle else -1
    if position < 0:
        return Location(path, fallback)
    return Location(path, text.count("\n", 0, position) + 1)
