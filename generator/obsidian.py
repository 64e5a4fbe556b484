"""Obsidian's own Markdown, made what studykit already reads (README.md: "Obsidian notes").

A Python-Markdown preprocessor registered below the fenced-code stash (fenced code is a placeholder by then and
never rewritten), and above `delimiters`; it keeps every line where it is, so that later errors name the right line:

- `![[image.png]]`, `![[figures/x.svg|300]]`, `![[x.png|alt text]]`: the standard Markdown image (so every rule
  about images applies), the file found as Obsidian finds it: the path as written below the content folder, else
  the one file below it whose path ends so; none, or two, is an error at its line.
- `[[Note]]`, `[[Note|shown]]`, `[[Note#Heading]]`: a link written `#studykit-wikilink:<line>:<target>`, made a
  link to that question (`#q<number>`), or its text alone, by `resolve_links` once every note of the deck is read
  (a note's number and question may change without the linking note changing, and notes are cached as read).
- `%% hidden %%`, on one line or over several: removed (the lines stay, emptied).
- `^block-id` at the end of a line: removed.

Code spans and inline math (`$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`) on a line, and `$$` display blocks, are left as
written. Two more extensions do the rest: `==highlight==` is `pymdownx.mark` (`<mark>`, which every output's
default style draws: black on yellow), and a callout `> [!note] Title` is `CalloutProcessor`, a block processor.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as etree
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote

from markdown import Markdown
from markdown.blockprocessors import BlockProcessor
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

from generator.errors import Location, Problems
from generator.model import Note

# Between the fenced-code stash (25) and the math delimiters (22).
PRIORITY = 23
# Above the fenced-code stash: only notes the lines as they were, to tell which line each later one was.
_RECORD_PRIORITY = 26
# Above Python-Markdown's blockquote (20).
_CALLOUT_PRIORITY = 21
IMAGE_SUFFIXES = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}
NOTE_SUFFIXES = {".md", ".markdown"}
LINK_MARK = "#studykit-wikilink:"
_LINK_HTML = re.compile(r'<a href="#studykit-wikilink:(?P<line>\d+):(?P<target>[^"]*)">(?P<text>.*?)</a>', re.DOTALL)
_WIKI = re.compile(r"(?P<embed>!?)\[\[(?P<inner>[^\[\]\n]+?)\]\]")
# What is left as written on a line: code spans and inline math; and the comment mark.
_TOKEN = re.compile(
    r"(?P<code>(?P<ticks>`+).+?(?P=ticks))"
    r"|(?P<math>(?<![\\$])\$\$[^$]+?\$\$|(?<![\\$])\$(?!\$)[^$]+?(?<!\\)\$|\\\(.+?\\\)|\\\[.+?\\\])"
    r"|(?P<comment>%%)"
)
_BLOCK_ID = re.compile(r"(?:^|[ \t])\^[A-Za-z0-9-]+[ \t]*$")
_DISPLAY = re.compile(r"^[ \t>]*\$\$")
_SIZE = re.compile(r"^\s*(?P<width>\d+)\s*(?:x\s*(?P<height>\d+)\s*)?$")
_PLACEHOLDER = "\x02wzxhzdk:"
_FENCE = re.compile(r"^[ \t>]*(?P<fence>`{3,}|~{3,})")


class FileIndex:
    """The files below the content folder by their path relative to it (hidden folders left out), to find an
    embedded image as Obsidian does."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = frozenset(paths)
        self._by_name: dict[str, list[str]] = {}
        for path in sorted(self.paths):
            self._by_name.setdefault(PurePosixPath(path).name, []).append(path)

    @classmethod
    def of_listing(cls, relatives: Iterable[tuple[str, ...]]) -> FileIndex:
        return cls("/".join(parts) for parts in relatives if not any(part.startswith(".") for part in parts))

    def find(self, written: str) -> list[str]:
        """The files `written` names: itself if it is a path below the folder, else every file whose path ends so."""
        wanted = written.strip().lstrip("/")
        if wanted in self.paths:
            return [wanted]
        name = PurePosixPath(wanted).name
        return [path for path in self._by_name.get(name, []) if path == wanted or path.endswith("/" + wanted)]


@dataclass
class Context:
    """Where the text being converted comes from: its note, the file line of its first line, what to report to."""

    path: Path
    first_line: int
    problems: Problems
    files: FileIndex | None = None


class Obsidian(Extension):
    def __init__(self) -> None:
        super().__init__()
        self.context: Context | None = None

    def extendMarkdown(self, md: Markdown) -> None:
        recorder = _Recorder(md)
        md.preprocessors.register(recorder, "studykit_obsidian_lines", _RECORD_PRIORITY)
        md.preprocessors.register(ObsidianPreprocessor(md, self, recorder), "studykit_obsidian", PRIORITY)
        md.parser.blockprocessors.register(CalloutProcessor(md.parser), "studykit_callout", _CALLOUT_PRIORITY)


class _Recorder(Preprocessor):
    def __init__(self, md: Markdown) -> None:
        super().__init__(md)
        self.lines: list[str] = []

    def run(self, lines: list[str]) -> list[str]:
        self.lines = list(lines)
        return lines


class ObsidianPreprocessor(Preprocessor):
    def __init__(self, md: Markdown, extension: Obsidian, recorder: _Recorder) -> None:
        super().__init__(md)
        self.extension, self.recorder = extension, recorder

    def run(self, lines: list[str]) -> list[str]:
        if not any("[[" in line or "%%" in line or "^" in line for line in lines):
            return lines
        numbers = source_lines(self.recorder.lines, lines)
        return _Rewrite(self.extension.context, numbers).lines(lines)


def source_lines(before: list[str], after: list[str]) -> list[int]:
    """For each line of `after` (the lines once fenced code is stashed), its index in `before` (the lines as written).

    The stash puts one line holding a placeholder where a fenced block was; every other line is unchanged. A
    placeholder's block ends at the first line after its opening fence that closes it.
    """
    numbers = []
    position = 0
    for line in after:
        numbers.append(position)
        if _PLACEHOLDER in line and position < len(before) and before[position] != line:
            opening = _FENCE.match(before[position])
            end = position + 1
            if opening:
                fence = opening.group("fence")
                closing = re.compile(r"^[ \t>]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
                while end < len(before) and not closing.match(before[end]):
                    end += 1
                end += 1
            position = min(end, len(before))
        else:
            position += 1
    return numbers


class _Rewrite:
    def __init__(self, context: Context | None, numbers: list[int]) -> None:
        self.context, self.numbers = context, numbers
        self.comment: int | None = None  # the line a `%%` comment opened on, while it is open
        self.display = False  # inside a `$$` block
        self.line = 0  # the file line of the line being rewritten (0: not known)

    def lines(self, lines: list[str]) -> list[str]:
        out = []
        for index, line in enumerate(lines):
            if self.context is not None:
                self.line = self.context.first_line + self.numbers[index]
            out.append(self.rewrite(line))
        if self.comment is not None and self.context is not None:
            self.context.problems.warn(
                Location(self.context.path, self.comment),
                "a `%%` comment never closes: everything after it in this section is hidden, as Obsidian hides it",
                "close the comment with a second `%%`",
            )
        return out

    def rewrite(self, line: str) -> str:
        if self.comment is None and _PLACEHOLDER in line:
            return line
        if self.comment is None and self.display:
            self.display = line.count("$$") % 2 == 0
            return line
        if self.comment is None and _DISPLAY.match(line) and line.count("$$") % 2 == 1:
            self.display = True
            return line
        pieces: list[str] = []
        position = 0
        cut_at_end = False
        while position <= len(line):
            if self.comment is not None:
                close = line.find("%%", position)
                if close < 0:
                    if position == 0:
                        return line[: len(line) - len(line.lstrip(" \t>"))]
                    cut_at_end = True
                    break
                self.comment = None
                position = close + 2
                if position >= len(line):
                    cut_at_end = True
                continue
            found = _TOKEN.search(line, position)
            if found is None:
                pieces.append(self.text(line[position:]))
                break
            pieces.append(self.text(line[position : found.start()]))
            if found.group("comment"):
                self.comment = self.line
            else:
                pieces.append(found.group(0))
            position = found.end()
        rewritten = "".join(pieces)
        if cut_at_end:
            rewritten = rewritten.rstrip()
        if "^" in rewritten:
            without = _BLOCK_ID.sub("", rewritten)
            if without != rewritten:
                rewritten = without.rstrip()
        return rewritten

    def text(self, text: str) -> str:
        if "[[" not in text:
            return text
        return _WIKI.sub(self.wiki, text)

    def wiki(self, found: re.Match[str]) -> str:
        inner = found.group("inner")
        parts = re.split(r"\\?\|", inner, maxsplit=1)  # `\|` inside a table row, as Obsidian wants it there
        target = parts[0].strip()
        shown = parts[1].strip() if len(parts) > 1 else ""
        if found.group("embed"):
            suffix = PurePosixPath(target.split("#", 1)[0]).suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                return self.image(found.group(0), target, shown)
            if suffix and suffix not in NOTE_SUFFIXES:
                self.error(
                    f"`{found.group(0)}`: only images can be embedded in a note",
                    "studykit embeds .svg, .png, .jpg, .gif and .webp files; link to a note with [[…]] instead",
                )
                return ""
        return self.link(target, shown)

    def link(self, target: str, shown: str) -> str:
        name, _, heading = target.partition("#")
        name = name.strip()
        if not shown:
            heading = heading.strip().lstrip("^") if heading.strip().startswith("^") else heading.strip()
            shown = f"{name} > {heading}" if name and heading else name or heading
        return f"[{_escape(shown)}]({LINK_MARK}{self.line}:{quote(name, safe='')})"

    def image(self, written: str, target: str, shown: str) -> str:
        size = None
        alt = shown
        if shown:
            *words, last = shown.split("|")
            if _SIZE.match(last):
                size = _SIZE.match(last)
                alt = "|".join(words)
        path = target
        files = self.context.files if self.context is not None else None
        if files is not None:
            found = files.find(target)
            if not found:
                self.error(
                    f"`{written}`: no such file",
                    f"no file named {PurePosixPath(target).name} in the content folder or below it: copy it in "
                    "(Obsidian keeps pasted images in the vault's attachment folder)",
                )
                return ""
            if len(found) > 1:
                self.error(
                    f"`{written}`: {len(found)} files have this name: {', '.join(found)}",
                    f"write which one with its path, e.g. ![[{found[0]}]]",
                )
                return ""
            path = found[0]
        alt = alt.strip() or PurePosixPath(target).stem
        style = ""
        if size is not None:
            style = f"width: {size.group('width')}px"
            if size.group("height"):
                style += f"; height: {size.group('height')}px"
            style = f'{{: style="{style}" }}'
        return f"![{_escape(alt)}](<{path}>){style}"

    def error(self, message: str, hint: str) -> None:
        if self.context is not None:
            self.context.problems.error(Location(self.context.path, self.line), message, hint)


def _escape(text: str) -> str:
    return re.sub(r"([\\\[\]])", r"\\\1", text)


class CalloutProcessor(BlockProcessor):
    """`> [!type] Title` (`+` or `-` after the type folds it in Obsidian) and its `>` lines: a blockquote whose
    first line is the title in bold (the type, capitalised, when no title is given)."""

    RE = re.compile(r"(^|\n)[ ]{0,3}>[ ]?\[!(?P<kind>[^\]\s]+)\][+-]?[ \t]*(?P<title>[^\n]*)")
    _QUOTED = re.compile(r"^[ ]{0,3}>[ ]?(.*)$")

    def test(self, parent: etree.Element, block: str) -> bool:
        found = self.RE.search(block)
        return bool(found) and _before_is_quote_free(block[: found.start()]) if found else False

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        block = blocks.pop(0)
        found = self.RE.search(block)
        assert found is not None
        before = block[: found.start()]
        if before:
            self.parser.parseBlocks(parent, [before])
        body = "\n".join(self._clean(line) for line in block[found.end() :].split("\n")[1:])
        kind = found.group("kind")
        quote_element = etree.SubElement(parent, "blockquote", {"class": "callout", "data-callout": kind.lower()})
        title = etree.SubElement(quote_element, "p", {"class": "callout-title"})
        strong = etree.SubElement(title, "strong")
        strong.text = found.group("title").strip() or kind[:1].upper() + kind[1:].lower()
        self.parser.state.set("blockquote")
        self.parser.parseChunk(quote_element, body)
        self.parser.state.reset()

    def _clean(self, line: str) -> str:
        found = self._QUOTED.match(line)
        if line.strip() == ">":
            return ""
        return found.group(1) if found else line


def _before_is_quote_free(before: str) -> bool:
    """A callout inside a quote that started above it is left to the blockquote processor (it reads it again)."""
    return not any(line.lstrip(" ").startswith(">") for line in before.split("\n"))


def resolve_links(notes: list[Note], problems: Problems) -> list[Note]:
    """Each note with its wiki links made links to the question they name (by file name or question), or their text.

    A target no note of the deck has is a warning at the link's line.
    """
    if not any(LINK_MARK in _html_of(note) for note in notes):
        return notes
    by_name: dict[str, Note] = {}
    for note in sorted(notes, key=lambda note: note.number, reverse=True):
        by_name[_key(note.question)] = note
    for note in sorted(notes, key=lambda note: note.number, reverse=True):
        by_name[_key(note.location.path.stem)] = note
    resolved = []
    for note in notes:
        if LINK_MARK not in _html_of(note):
            resolved.append(note)
            continue
        reported: set[tuple[int, str]] = set()

        def link(found: re.Match[str], note: Note = note, reported: set[tuple[int, str]] = reported) -> str:
            target = unquote(found.group("target"))
            linked = by_name.get(_key(target)) if target else note
            if linked is not None:
                return f'<a href="#q{linked.number}">{found.group("text")}</a>'
            line = int(found.group("line")) or note.location.line
            if (line, target) not in reported:
                reported.add((line, target))
                problems.warn(
                    Location(note.location.path, line),
                    f"[[{target}]] links to no note of this deck: it shows as plain text",
                    "link another note by its file name (without .md) or by its question",
                )
            return found.group("text")

        resolved.append(
            replace(
                note,
                key_points_html=_LINK_HTML.sub(link, note.key_points_html),
                answer_html=_LINK_HTML.sub(link, note.answer_html),
                clozes=tuple(replace(item, html=_LINK_HTML.sub(link, item.html)) for item in note.clozes),
            )
        )
    return resolved


def _html_of(note: Note) -> str:
    return note.key_points_html + note.answer_html + "".join(item.html for item in note.clozes)


def _key(name: str) -> str:
    return " ".join(html.unescape(name).split()).casefold()
