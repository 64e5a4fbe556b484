"""Read the content folder into a `Deck`, collecting every problem instead of stopping at the first.

Nothing here writes a file. The result is either a complete, validated deck or a `BuildFailed`
listing every problem found in every file, each at its file and line.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from generator import cloze, markup, mathrender
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
NOTE_KEYS = {"id", "number", "question", "tags"}
DECK_KEYS = {"title", "slug", "id", "language", "credit", "source_url", "license", "author"}
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_SECTION = re.compile(r"^##(?!#)\s*(?P<title>.*?)\s*#*\s*$")
_URL_ATTRIBUTE = re.compile(r'\b(?P<name>src|href|poster|data)\s*=\s*"(?P<url>[^"]*)"', re.IGNORECASE)
_FORBIDDEN_TAG = re.compile(r"<\s*(script|link|style|iframe|object|embed|base|meta|frame)\b", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?(?!data:)", re.IGNORECASE)


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

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

    `timings` receives the seconds spent reading (with Markdown) and rendering math; `progress` is
    called with (done, total) as formulas render.
    """
    started = time.perf_counter()
    if not content_dir.is_dir():
        raise ContentFolderError(f"{content_dir}: no such content folder")
    collector = _Collector()
    deck_meta = _read_deck_file(content_dir, collector)
    note_paths = sorted(p for p in content_dir.glob(NOTE_GLOB) if p.name.lower() != "readme.md")
    if not note_paths:
        raise ContentFolderError(f"{content_dir}: no notes (*.md files) in the content folder")
    converter = markup.new_converter()
    notes = [note for path in note_paths if (note := _read_note(path, content_dir, converter, collector))]
    _check_unique(notes, collector)
    _check_unused_images(content_dir, notes, collector)
    read_done = time.perf_counter()
    _check_math(notes, collector, jobs, progress)
    if timings is not None:
        timings["read"] = read_done - started
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
    text: str, path: Path, first_line: int, collector: _Collector
) -> tuple[dict[str, Any], dict[str, int]] | None:
    """Parse a YAML mapping; return it with the file line of each key."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        # The context mark is where the broken construct began, which is where the user must look.
        mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
        line = first_line + (mark.line if mark is not None else 0)
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
    lines = {str(key.value): first_line + key.start_mark.line for key, _ in node.value}
    return {str(k): v for k, v in data.items()}, lines


def _read_deck_file(content_dir: Path, collector: _Collector) -> dict[str, Any] | None:
    path = content_dir / DECK_FILE
    if not path.is_file():
        raise ContentFolderError(
            f"{path}: deck file missing; create it with title, slug, id, language, credit, source_url, license, author"
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
        collector.error(Location(path, lines["slug"]), "deck `slug` must be lowercase letters, digits and dashes")
        ok = False
    for key in sorted(set(data) - DECK_KEYS):
        collector.warn(Location(path, lines[key]), f"unknown deck field `{key}` is ignored")
    if not ok:
        return None
    return {key: data[key] for key in DECK_KEYS} | {"location": start}


def _read_note(path: Path, content_dir: Path, converter: Any, collector: _Collector) -> Note | None:
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
    parsed = _yaml_mapping("\n".join(lines[1:end]), path, 2, collector)
    if parsed is None:
        return None
    meta, key_lines = parsed
    before = len(collector.errors)
    note_id = _required_str(meta, "id", path, key_lines, collector)
    if note_id is not None and not NOTE_ID.match(note_id):
        collector.error(
            Location(path, key_lines["id"]),
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
        collector.warn(Location(path, key_lines[key]), f"unknown front-matter field `{key}` is ignored")

    sections = _sections(lines, end + 1, path, collector)
    if sections is None or len(collector.errors) > before or note_id is None or question is None:
        return None
    assert isinstance(number, int)
    key_points_line, key_points_md = sections[KEY_POINTS]
    answer_line, answer_md = sections[FULL_ANSWER]
    key_points_html = markup.to_html(converter, key_points_md)
    answer_html = markup.to_html(converter, answer_md)
    clozes = _cloze_items(path, *sections[CLOZE], converter, collector) if CLOZE in sections else ()
    formulas = _locate_formulas(
        path, text, [key_points_html, answer_html, *(item.html for item in clozes)], key_points_line
    )
    media = _check_resources(path, text, content_dir, key_points_html + answer_html, key_points_line, collector)
    for fragment, line in ((key_points_html, key_points_line), (answer_html, answer_line)):
        for snippet in markup.stray_dollars(fragment):
            collector.error(
                _find_line(path, text, snippet.split("$")[-1][:12], line),
                f"a `$` opens a formula that never closes: {snippet!r}",
                "close the formula with `$`, put display math `$$` on lines of its own, or write \\$ for a dollar sign",
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
                collector.error(Location(path, index + 1), f"section `## {heading.group('title')}` appears twice")
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
                collector.error(Location(path, len(lines)), f"section `## {title.capitalize()}` is missing")
            continue
        line_number, body = found[title]
        if not "\n".join(body).strip():
            collector.error(Location(path, line_number - 1), f"section `## {title.capitalize()}` is empty")
            continue
        result[title] = (line_number, "\n".join(body))
    if KEY_POINTS not in result or FULL_ANSWER not in result:
        return None
    if found[KEY_POINTS][0] > found[FULL_ANSWER][0]:
        collector.error(Location(path, found[KEY_POINTS][0] - 1), "`## Key points` must come before `## Full answer`")
        return None
    return result


def _cloze_items(
    path: Path, section_line: int, section: str, converter: Any, collector: _Collector
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
        html_text = markup.to_html(converter, source)
        html_text = html_text.removeprefix("<p>").removesuffix("</p>")
        result.append(ClozeItem(html=html_text, location=where))
    return tuple(result)


def _find_line(path: Path, text: str, needle: str, fallback: int, after: int = 0) -> Location:
    position = text.find(needle, after) if needle else -1
    if position < 0:
        return Location(path, fallback)
    return Location(path, text.count("\n", 0, position) + 1)


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
    path: Path, text: str, content_dir: Path, fragment: str, body_line: int, collector: _Collector
) -> tuple[Path, ...]:
    """Every file a note refers to must exist inside the content folder; nothing may load from outside."""
    media: list[Path] = []
    root = content_dir.resolve()
    for tag in _FORBIDDEN_TAG.finditer(fragment):
        collector.error(
            _find_line(path, text, tag.group(0)[1:].strip(), body_line),
            f"`<{tag.group(1)}>` is not allowed in a note",
            "notes hold Markdown, images and links; styles and scripts belong in templates/",
        )
    if _CSS_URL.search(fragment):
        collector.error(
            _find_line(path, text, "url(", body_line),
            "CSS `url(…)` in a note is not allowed",
            "use a Markdown image instead",
        )
    for match in _URL_ATTRIBUTE.finditer(fragment):
        url = html.unescape(match.group("url"))
        attribute = match.group("name").lower()
        where = _find_line(path, text, url, body_line)
        parts = urlsplit(url)
        if url.startswith("#") or parts.scheme == "data":
            continue
        if (
            parts.scheme in ("http", "https", "mailto")
            and attribute == "href"
            and not _is_resource(fragment, match.start())
        ):
            continue  # an ordinary hyperlink loads nothing until the reader clicks it
        if parts.scheme or parts.netloc or url.startswith("/"):
            collector.error(
                where,
                f"{attribute}={url!r} points outside the content folder",
                "copy the file into the content folder and refer to it by a relative path",
            )
            continue
        target = (path.parent / unquote(parts.path)).resolve()
        if not target.is_relative_to(root):
            collector.error(
                where, f"{attribute}={url!r} leaves the content folder", "keep figures inside the content folder"
            )
        elif not target.is_file():
            collector.error(
                where,
                f"{attribute}={url!r}: no such file",
                f"expected {target.relative_to(root)} in the content folder",
            )
        else:
            media.append(target.relative_to(root))
    return tuple(dict.fromkeys(media))


def _is_resource(fragment: str, attribute_at: int) -> bool:
    tag_start = fragment.rfind("<", 0, attribute_at)
    return not fragment[tag_start : tag_start + 3].lower().startswith("<a ")


def _check_unique(notes: list[Note], collector: _Collector) -> None:
    for attribute in ("id", "number"):
        first: dict[object, Note] = {}
        for note in notes:
            value = getattr(note, attribute)
            if value in first:
                collector.error(
                    note.location,
                    f"duplicate {attribute} {value!r}: also used by {first[value].location}",
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
