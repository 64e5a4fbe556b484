"""`studykit import NOTES.md`: Markdown written as one long file per chapter, a heading per question, made into notes.

The shape md2anki, mdanki and markdown-anki-decks import: a heading is a card's front, its section the back.
The split follows tests/corpus/notes/SOURCES.md, by which the corpus notes were made by hand from such files:

- a note per heading of the chosen level with text under it; its question is the heading's text;
- `## Key points` is the section's first block (up to the first blank line outside `$$` blocks and code fences),
  `## Full answer` the rest; a section that is one paragraph is split at its first line boundary outside its
  `$$` blocks, or, when there is none, gives its first line as key points and the whole paragraph as the answer;
  a section that is one list, table, formula or code block gives it as both;
- headings inside the section move to `###` and deeper, since `##` would start a section of the note.

Nothing is written until every file has been read and split: the folder is made in a staging folder and moved
into place (as `studykit import DECK.apkg` does), so a failed import leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from generator import staging
from generator.errors import Location, Problem, StudykitError
from generator.reader import DECK_FILE
from generator.resources import IMAGE_SUFFIXES
from generator.scaffold import file_stem_of, slug_of

FIGURES = "figures"
SUFFIXES = (".md", ".markdown")
# The share of a file's text (non-blank lines under its first heading) the notes must hold for the automatic
# level to go that deep: DL-500's chapter 5 asks most questions at `##` and a few at `###` (a `###`-level import
# would drop most of it), chapter 1 asks all at `###` under `##` parts that hold no text of their own.
COVERAGE = 0.9

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_ATTRIBUTES = re.compile(r"[ \t]*\{[#.][^{}]*\}[ \t]*$")  # `{#id}` / `{.class}` after a heading (Pandoc, kramdown)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_EMPHASIS = re.compile(r"\*\*|__")
_INLINE_MATH = re.compile(r"(?<!\\)\$\$?[^$]*?(?<!\\)\$\$?")
# Layout wrappers Typora and GitHub pages use to centre figures: nothing of the note's meaning. <details> and its
# <summary> ("Show answer") hide the answer on GitHub; a card hides it already.
_WRAPPER = re.compile(r"</?(?:center|div|details)\b[^<>]*>|<summary\b[^<>]*>.*?</summary>", re.IGNORECASE)
_IMG_TAG = re.compile(r"<img\b[^<>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""\b(src|alt)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_MD_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\(\s*(?P<url><[^>]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_MD_LINK = re.compile(r"(?<![!\]])\[(?P<text>[^\]]*)\]\(\s*(?P<url><[^>]*>|[^\s)]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
# `<a name="q1">` anchors and `<a href="">` / `<a href="other.md">` point at nothing in the deck: tags out, text kept.
_LOCAL_ANCHOR = re.compile(r"""<a\b(?![^<>]*\bhref\s*=\s*["']?(?:[a-z][a-z0-9+.-]*:|#))[^<>]*>""", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\s*(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,}|<br\s*/?>|\[TOC\])\s*$", re.IGNORECASE)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_BLOCK_START = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|>|\||```|~~~|\$\$|!\[)")


class MarkdownImportError(StudykitError):
    """The import's own errors: the source cannot be read or split; nothing is written."""


@dataclass(frozen=True)
class Options:
    """What `studykit import` was asked: a Markdown file or folder, the folder to write, the heading level."""

    source: Path
    into: Path
    level: int | None = None  # None: chosen per file (see choose_level)


@dataclass
class Result:
    content_dir: Path
    notes: int
    images: int
    levels: dict[str, int]  # file name -> the heading level its notes were taken at
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Heading:
    index: int  # 0-based line index in the file
    level: int
    text: str  # as written, closing `#`s and `{#id}` attributes dropped


@dataclass
class _Note:
    number: int
    id: str
    question: str
    tags: list[str]
    key_points: str
    answer: str


@dataclass(frozen=True)
class _Source:
    path: Path
    lines: list[str]


def import_markdown(options: Options) -> Result:
    """Read every Markdown file of `options.source`, split it into notes, write them into `options.into`."""
    into = options.into
    staging.refuse_unless_empty(into, MarkdownImportError)
    sources = [_read(path) for path in _files(options.source)]
    result = staging.write_whole(into, lambda folder: _write(options, sources, folder), MarkdownImportError)
    result.content_dir = into
    return result


# --- reading ------------------------------------------------------------------------------------------------------


def _files(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(path for path in source.iterdir() if path.suffix.lower() in SUFFIXES and path.is_file())
        if not files:
            raise MarkdownImportError(f"{source}: no Markdown file (.md) in this folder")
        return files
    if not source.exists():
        raise MarkdownImportError(f"{source}: no such file or folder")
    if source.suffix.lower() not in SUFFIXES:
        raise MarkdownImportError(
            f"{source}: not a Markdown file (.md) or an Anki package (.apkg)\n"
            "    hint: studykit import NOTES.md, a folder of .md files, or DECK.apkg"
        )
    return [source]


def _read(path: Path) -> _Source:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise MarkdownImportError(f"{path}: cannot read the file: {error.strerror}") from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise MarkdownImportError(
            f"{path}:{line}: not UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})\n"
            "    hint: save the file as UTF-8 (e.g. iconv -f GB18030 -t UTF-8) and import it again"
        ) from error
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return _Source(path, text.split("\n"))


def headings(lines: list[str]) -> list[Heading]:
    """The ATX headings outside code fences (a `# comment` in a Python block is not a heading)."""
    found: list[Heading] = []
    fence: str | None = None
    for index, line in enumerate(lines):
        fence, fenced = _fence_state(line, fence)
        if fenced:
            continue
        match = _HEADING.match(line)
        if match:
            text = _ATTRIBUTES.sub("", _CLOSING_HASHES.sub("", match.group(2) or "")).strip()
            found.append(Heading(index, len(match.group(1)), text))
    return found


def _fence_state(line: str, fence: str | None) -> tuple[str | None, bool]:
    """The fence open after `line`, and whether `line` belongs to a fence (its opening and closing lines too)."""
    match = _FENCE.match(line)
    if fence is None:
        return (match.group(1), True) if match else (None, False)
    if (
        match
        and match.group(1)[0] == fence[0]
        and len(match.group(1)) >= len(fence)
        and not line.strip()[len(match.group(1)) :].strip()
    ):
        return None, True
    return fence, True


def _has_text(lines: list[str]) -> bool:
    """Whether the lines say anything: a table of contents or a "Back to top" line of links says nothing of its own."""
    return any(line.strip() and not _SEPARATOR.match(line) and not _navigation(line) for line in lines)


def _navigation(line: str) -> bool:
    without_links = re.sub(r"(?<!!)\[[^\]]*\]\([^)]*\)", "", line)  # images are content, links navigate
    return without_links != line and not re.sub(r"[\s\-*+|>\d.)]", "", without_links)


def _section_end(found: list[Heading], position: int, total: int) -> int:
    """The line index where heading `position`'s section ends: the next heading of its level or shallower."""
    level = found[position].level
    return next((h.index for h in found[position + 1 :] if h.level <= level), total)


def choose_level(lines: list[str], found: list[Heading]) -> int | None:
    """The deepest heading level whose sections hold at least COVERAGE of the file's text, or None.

    The text counted is the non-blank lines below the first heading that are not headings themselves; a
    level's sections hold what lies under its headings (their sub-headings' text included). The deepest such
    level asks the most questions without leaving text out: `###` questions under `##` parts with no text of
    their own give `###`; `##` questions with a few `###` sub-points give `##`.
    """
    if not found:
        return None
    heading_lines = {h.index for h in found}

    def counted(start: int, end: int) -> int:
        return sum(1 for i in range(start, end) if i not in heading_lines and _has_text([lines[i]]))

    total = counted(found[0].index, len(lines))
    for level in sorted({h.level for h in found}, reverse=True):
        held = sum(
            counted(h.index + 1, _section_end(found, position, len(lines)))
            for position, h in enumerate(found)
            if h.level == level
        )
        if total and held >= COVERAGE * total:
            return level
    return min(h.level for h in found)


# --- splitting ----------------------------------------------------------------------------------------------------


class _Images:
    """Images the notes show, copied into figures/ under safe, unique names; the rest reported."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.copied: dict[Path, str] = {}  # source file -> path relative to the content folder
        self.warnings: list[Problem] = []

    def link(self, alt: str, url: str, base: Path, where: Location) -> str:
        url = url.strip().removeprefix("<").removesuffix(">")
        parts = urlsplit(url)
        if parts.scheme == "data":
            return f"![{alt}]({url})"
        if parts.scheme or url.startswith("//"):
            self.warnings.append(
                Problem(
                    where,
                    f"remote image {url} left as a link (studykit loads nothing from the network)",
                    "download it next to the Markdown file, link it by a relative path, and import again",
                    "warning",
                )
            )
            return f"[{alt.strip() or 'image'}]({url})"
        name = unquote(parts.path)
        path = (base / name) if name and not name.startswith("/") else None
        if path is None or not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            why = (
                "not found"
                if path is None or not path.is_file()
                else f"a {path.suffix} file, not an image studykit shows"
            )
            self.warnings.append(
                Problem(
                    where,
                    f"image {url}: {why}; left as its alt text",
                    "copy the image into the deck's figures/",
                    "warning",
                )
            )
            return alt.strip()
        return f"![{alt}]({self._copy(path.resolve())})"

    def hyperlink(self, text: str, url: str, where: Location) -> str:
        """A link to a web page or an anchor stays; one to a file beside the Markdown (`./README.md`) would point
        at nothing in the deck (`check` refuses it), so its text stays and the import says so."""
        target = url.strip().removeprefix("<").removesuffix(">")
        if urlsplit(target).scheme or target.startswith(("#", "//")):
            return f"[{text}]({url})"
        self.warnings.append(
            Problem(
                where,
                f"link to {target or 'nothing'} left as its text `{text}`",
                "link to a web address instead",
                "warning",
            )
        )
        return text

    def _copy(self, path: Path) -> str:
        if path in self.copied:
            return self.copied[path]
        stem = _UNSAFE_NAME.sub("-", path.stem).strip("-.") or "image"
        taken = set(self.copied.values())
        candidate, counter = f"{FIGURES}/{stem}{path.suffix.lower()}", 2
        while candidate in taken:
            candidate, counter = f"{FIGURES}/{stem}-{counter}{path.suffix.lower()}", counter + 1
        (self.root / FIGURES).mkdir(exist_ok=True)
        shutil.copyfile(path, self.root / candidate)
        self.copied[path] = candidate
        return candidate


def _clean_section(source: _Source, start: int, end: int, level: int, images: _Images) -> list[str]:
    """The section's lines as a note's body holds them: wrappers out, images local, inner headings `###`+."""
    out: list[str] = []
    fence: str | None = None
    for index in range(start, end):
        line = source.lines[index]
        fence, fenced = _fence_state(line, fence)
        if fenced:
            out.append(line)
            continue
        heading = _HEADING.match(line)
        if heading:
            depth = min(6, len(heading.group(1)) - level + 2)
            line = "#" * depth + line.lstrip(" ")[len(heading.group(1)) :]
        unwrapped = _WRAPPER.sub("", line)
        if unwrapped != line and not unwrapped.strip():
            out.append("")  # a wrapper on a line of its own stood between blocks: it stays a break between them
            continue
        line = _IMG_TAG.sub(lambda tag: _markdown_image(tag.group(0)), unwrapped)
        if _LOCAL_ANCHOR.search(line):
            line = re.sub(r"</a\s*>", "", _LOCAL_ANCHOR.sub("", line), flags=re.IGNORECASE)
        line = _links(line, images, source.path.parent, Location(source.path, index + 1))
        out.append(line)
    while out and (not out[-1].strip() or _SEPARATOR.match(out[-1])):
        out.pop()  # the `---` or `<br/>` closing a question in the source is not part of its answer
    while out and not out[0].strip():
        out.pop(0)
    return _squeeze_blank_lines(out)


def _links(line: str, images: _Images, base: Path, where: Location) -> str:
    line = _MD_IMAGE.sub(lambda image: images.link(image["alt"], image["url"], base, where), line)
    return _MD_LINK.sub(lambda link: images.hyperlink(link["text"], link["url"], where), line)


def _squeeze_blank_lines(lines: list[str]) -> list[str]:
    """Runs of blank lines (left by dropped wrappers) become one; blank lines inside code fences stay."""
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        fence, fenced = _fence_state(line, fence)
        if not fenced and not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return out


def _markdown_image(tag: str) -> str:
    values = {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None) for m in _ATTRIBUTE.finditer(tag)}
    if "src" not in values:
        return ""
    src = values["src"]
    return f"![{values.get('alt', '')}]({'<' + src + '>' if ' ' in src else src})"


def _blocks(lines: list[str]) -> list[list[str]]:
    """The lines split at blank lines outside `$$` blocks and code fences (a blank line in a formula is no break)."""
    blocks: list[list[str]] = [[]]
    fence: str | None = None
    in_math = False
    for line in lines:
        fence, fenced = _fence_state(line, fence)
        if not fenced and not line.strip() and not in_math:
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(line)
        if not fenced and _display_toggles(line):
            in_math = not in_math
    return [block for block in blocks if block]


def _display_toggles(line: str) -> bool:
    return len(re.findall(r"(?<!\\)\$\$", line)) % 2 == 1


def split(lines: list[str]) -> tuple[str, str]:
    """Key points and full answer of a section (see the module's docstring)."""
    blocks = _blocks(lines)
    if not blocks:
        return "", ""
    if all(_HEADING.match(line) for line in blocks[0]):
        # The section opens with a sub-heading: its first text block leads, and the answer keeps the whole outline.
        lead = next((block for block in blocks if not all(_HEADING.match(line) for line in block)), blocks[0])
        return "\n".join(lead), "\n".join(lines)
    if len(blocks) > 1:
        return "\n".join(blocks[0]), "\n\n".join("\n".join(block) for block in blocks[1:])
    block = blocks[0]
    whole = "\n".join(block)
    if len(block) == 1 or _BLOCK_START.match(block[0]):  # one line, or a list, table, quote, formula, code, image
        return whole, whole
    boundary = _line_boundary(block)
    if boundary is not None:
        return "\n".join(block[:boundary]), "\n".join(block[boundary:])
    first = 1
    while first < len(block) and _odd_dollars("\n".join(block[:first])):
        first += 1  # inline math running onto the next line stays whole
    return "\n".join(block[:first]), whole


def _line_boundary(block: list[str]) -> int | None:
    """The first line break of a paragraph with text on both sides: not next to a `$$` block, not inside math."""
    in_math = [False] * len(block)
    open_ = False
    for i, line in enumerate(block):
        toggles = _display_toggles(line)
        in_math[i] = open_ or toggles or "$$" in line
        if toggles:
            open_ = not open_
    for i in range(1, len(block)):
        if not in_math[i - 1] and not in_math[i] and not _odd_dollars("\n".join(block[:i])):
            return i
    return None


def _odd_dollars(text: str) -> bool:
    return len(re.findall(r"(?<!\\)\$", text)) % 2 == 1


# --- writing ------------------------------------------------------------------------------------------------------


def question_of(heading: str) -> str:
    """The heading's text as a note's question: HTML tags (`<a name>` anchors) and `**` out, math kept as written."""
    pieces, last = [], 0
    for math in _INLINE_MATH.finditer(heading):
        pieces.append(_EMPHASIS.sub("", _HTML_TAG.sub("", heading[last : math.start()])))
        pieces.append(math.group(0))
        last = math.end()
    pieces.append(_EMPHASIS.sub("", _HTML_TAG.sub("", heading[last:])))
    return " ".join("".join(pieces).split())


def tag_of(text: str) -> str | None:
    """A heading as a tag in any script: its words (math left out) joined by `-`; no spaces or quotes, as Anki takes."""
    words = re.findall(r"[^\W_]+", _INLINE_MATH.sub(" ", _HTML_TAG.sub(" ", text)).lower())
    tag = "-".join(words)[:60].strip("-")
    return tag or None


def note_id(file_name: str, heading: str, occurrence: int) -> str:
    """Stable across imports of the same file, so Anki updates the notes instead of adding copies."""
    return hashlib.sha1(f"{file_name}:{heading}:{occurrence}".encode()).hexdigest()[:12]


def _write(options: Options, sources: list[_Source], root: Path) -> Result:
    images = _Images(root)
    notes: list[_Note] = []
    levels: dict[str, int] = {}
    for source in sources:
        found = headings(source.lines)
        level = options.level if options.level is not None else choose_level(source.lines, found)
        at_level = [h for h in found if h.level == level]
        if level is None or not at_level:
            present = sorted({h.level for h in found})
            raise MarkdownImportError(_no_heading(source.path, level, present, choose_level(source.lines, found)))
        levels[source.path.name] = level
        before = len(notes)
        notes.extend(_notes_of(source, found, level, images, len(notes)))
        if len(notes) == before:
            raise MarkdownImportError(
                f"{source.path}: no level-{level} heading ({'#' * level}) has text under it\n"
                f"    hint: pass --level with the level of the headings that ask the questions"
            )
        images.warnings.extend(_left_out(source, found, level))
    width = max(2, len(str(len(notes))))
    for note in notes:
        name = f"{note.number:0{width}d}-{file_stem_of(_INLINE_MATH.sub(' ', note.question))}.md"
        (root / name).write_text(_note_file(note), encoding="utf-8")
    (root / DECK_FILE).write_text(_deck_yaml(options.source, sources), encoding="utf-8")
    return Result(root, len(notes), len(images.copied), levels, images.warnings)


def _no_heading(path: Path, level: int | None, present: list[int], suggested: int | None) -> str:
    if not present:
        return (
            f"{path}: no heading: studykit makes a note of each heading (`### Question`) and the text under it\n"
            "    hint: put a heading above each question"
        )
    levels = ", ".join(str(n) for n in present)
    return (
        f"{path}: no level-{level} heading ({'#' * (level or 0)}); its headings are at level {levels}\n"
        f"    hint: pass --level {suggested} (or the level of the headings that ask the questions)"
    )


def _notes_of(source: _Source, found: list[Heading], level: int, images: _Images, before: int) -> list[_Note]:
    notes: list[_Note] = []
    seen: dict[str, int] = {}
    for position, heading in enumerate(found):
        if heading.level != level:
            continue
        end = _section_end(found, position, len(source.lines))
        seen[heading.text] = seen.get(heading.text, 0) + 1
        question = question_of(heading.text)
        if not question or not _has_text(source.lines[heading.index + 1 : end]):
            continue
        while end > heading.index + 1 and not _has_text([source.lines[end - 1]]):
            end -= 1  # the `---` or "Back to top" links that close a question in the source are not its answer
        body = _clean_section(source, heading.index + 1, end, level, images)
        key_points, answer = split(body)
        if not key_points.strip():
            continue
        parent = next((h for h in reversed(found[:position]) if h.level < level), None)
        tag = tag_of(parent.text) if parent is not None else None
        notes.append(
            _Note(
                number=before + len(notes) + 1,
                id=note_id(source.path.name, heading.text, seen[heading.text]),
                question=question,
                # A note without tags is a warning in `check`; the file's name says at least which chapter it is.
                tags=[tag or tag_of(source.path.stem) or "imported"],
                key_points=key_points,
                answer=answer,
            )
        )
    return notes


def _left_out(source: _Source, found: list[Heading], level: int) -> list[Problem]:
    """Text under a heading shallower than the level, before its first sub-heading: in no note, so said."""
    warnings = []
    for position, heading in enumerate(found):
        if heading.level >= level:
            continue
        end = found[position + 1].index if position + 1 < len(found) else len(source.lines)
        if _has_text(source.lines[heading.index + 1 : end]):
            warnings.append(
                Problem(
                    Location(source.path, heading.index + 1),
                    f"the text under `{'#' * heading.level} {heading.text}` is in no note "
                    f"(notes are level-{level} headings)",
                    f"pass --level {heading.level} to make a note of each level-{heading.level} heading instead",
                    "warning",
                )
            )
    return warnings


def _note_file(note: _Note) -> str:
    front = {"id": note.id, "number": note.number, "question": note.question, "tags": note.tags}
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
    return f"---\n{header}---\n\n## Key points\n\n{note.key_points}\n\n## Full answer\n\n{note.answer}\n"


def language_of(text: str) -> str:
    """`zh-Hans` when most of the prose (math and code left out) is Chinese, `ja`/`ko` for kana/hangul, else `en`.

    A CJK character carries about a word, a Latin letter a fifth of one: prose counts as CJK when its CJK
    characters outnumber a fifth of its Latin letters (English words inside Chinese notes are common).
    """
    prose = _INLINE_MATH.sub(" ", re.sub(r"```.*?```|\$\$.*?\$\$", " ", text, flags=re.DOTALL))
    prose = re.sub(r"\]\([^)]*\)|<[^<>]*>", " ", prose)  # link targets and HTML are not prose
    ideographs = kana = hangul = latin = 0
    for char in prose:
        if "\u3040" <= char <= "\u30ff":
            kana += 1
        elif "\uac00" <= char <= "\ud7af":
            hangul += 1
        elif "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf":
            ideographs += 1
        elif char.isascii() and char.isalpha():
            latin += 1
    cjk = ideographs + kana + hangul
    if cjk * 5 <= latin:
        return "en"
    if hangul > cjk / 2:
        return "ko"
    return "ja" if kana > cjk / 10 else "zh-Hans"


def _deck_yaml(source: Path, sources: list[_Source]) -> str:
    # A file's title is its first `#` heading; a folder of chapters is named by the folder, not its first chapter.
    first = next((h.text for h in headings(sources[0].lines) if h.level == 1), None) if source.is_file() else None
    name = source.stem if source.is_file() else source.resolve().name
    title = question_of(first) if first else unicodedata.normalize("NFC", name.replace("_", " ")).strip() or "Notes"
    slug = next(
        (s for s in (slug_of(title), slug_of(name), slug_of(source.resolve().parent.name)) if s != "note"),
        "markdown-notes",
    )
    names = ", ".join(s.path.name for s in sources)
    shown = names if len(names) <= 200 else name
    data = {
        "title": title,
        "slug": slug,
        # Anki recognises the deck by its id: picked at random once, as `studykit init` does, never changed.
        "id": secrets.randbelow((1 << 62) - (1 << 30)) + (1 << 30),
        "language": language_of("\n".join("\n".join(s.lines) for s in sources)),
        "author": "unknown (set the deck's author)",
        "license": "unknown (set the notes' licence)",
        "source_url": shown,
        "credit": f"Imported from {shown} by studykit import; set the author and licence.",
    }
    comment = f"# Imported from {name} by `studykit import`; keep `id`: Anki recognises the deck by it.\n"
    return comment + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
