"""The Markdown side of `generator.obsidian`: Obsidian's syntax made what studykit already reads, every line kept.

Registered below the fenced-code stash (fenced code is a placeholder by then and never rewritten) and above
`delimiters`. See `generator.obsidian` for what each form becomes; `CalloutProcessor` is a block processor.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from pathlib import PurePosixPath
from urllib.parse import quote

from markdown import Markdown
from markdown.blockprocessors import BlockProcessor
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

from generator.errors import Location
from generator.obsidian import IMAGE_SUFFIXES, LINK_MARK, NOTE_SUFFIXES, Context

# Between the fenced-code stash (25) and the math delimiters (22).
PRIORITY = 23
# Above the fenced-code stash: only notes the lines as they were, to tell which line each later one was.
_RECORD_PRIORITY = 26
# Above Python-Markdown's blockquote (20).
_CALLOUT_PRIORITY = 21
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
