"""Math delimiters as Typora, Obsidian, VS Code, Jupyter and GitBook users write them, made what arithmatex reads.

A Python-Markdown preprocessor (registered below the fenced-code stash, so code is never touched). Each rule
is a decision documented in README.md ("Math in notes"), beside the editors' own conventions:

- `$$` on its own line directly under (or over) a line of text: a display block. Markdown would make it part
  of the paragraph; Typora, Obsidian and GitHub show it as display math. Accepted: blank lines are put around.
- Blank lines inside a `$$` block: Markdown would end the paragraph there; every editor keeps the block
  whole and MathJax ignores the empty lines. Accepted: they are dropped.
- `$ x $` with spaces inside the dollars: Pandoc and Obsidian read text, Jupyter, Typora's MathJax and most
  web pages read math, and people writing in Chinese use it everywhere. Accepted when both dollars are in one
  paragraph and the inside does not read as prose (`It costs $5 and $10` stays text): the spaces are dropped.
- `$$x$$` inside a line of text (GitBook, Notion): inline math, as those tools show it. A `$$x$$` alone on its
  line stays display math.
- `\\begin{equation}` … `\\end{equation}` (or align, gather, multline, eqnarray, and their starred forms) as a
  block of its own, without dollars: display math (arithmatex reads it), also directly under text.
"""

from __future__ import annotations

import re

from markdown import Markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

# Below the fenced-code stash (25): fenced code is a placeholder by then and never rewritten.
PRIORITY = 22
_DISPLAY_FENCE = re.compile(r"^(?P<indent>\s*)\$\$(?P<rest>.*)$")
_ENVIRONMENT_START = re.compile(r"^\s*\\begin\{(?P<name>equation|align|alignat|gather|multline|flalign|eqnarray)\*?\}")
_INLINE_CODE = re.compile(r"(`+).*?\1")
# An inline `$…$` within a paragraph (not `$$`, not `\$`), paired from the left as arithmatex pairs them.
_INLINE_FORMULA = re.compile(r"(?<![\\$])\$(?!\$)(?P<inside>[^$]+?)(?<!\\)\$(?!\$)")
# `$$…$$` with text around it in a paragraph.
_INLINE_DISPLAY = re.compile(r"(?<![\\$])\$\$(?P<inside>[^$]+?)\$\$(?!\$)")
# Prose: two words of three or more letters in a row with no TeX in sight.
_PROSE = re.compile(r"[A-Za-z]{3,}\s+[A-Za-z]{3,}")
_TEX_SIGN = re.compile(r"[\\^_{}=]")
# Only spaces are taken from a formula's ends: a line break stays, so every line of the note keeps its number.
_SPACES = " \t"


class MathDelimiters(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(DelimiterPreprocessor(md), "studykit_math_delimiters", PRIORITY)


class DelimiterPreprocessor(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return normalise(lines)


def normalise(lines: list[str]) -> list[str]:
    """The note's lines with each accepted way of writing math turned into the one arithmatex reads."""
    out: list[str] = []
    paragraph: list[str] = []  # lines of running text, whose inline math may span lines

    def flush() -> None:
        if paragraph:
            out.extend(inline("\n".join(paragraph)).split("\n"))
            paragraph.clear()

    index = 0
    while index < len(lines):
        line = lines[index]
        block_end = _display_block_end(lines, index)
        if block_end is not None or _ENVIRONMENT_START.match(line) or not line.strip():
            flush()
        if block_end is not None:
            block = [text for text in lines[index : block_end + 1] if text.strip()]  # blank lines inside dropped
            if out and out[-1].strip():
                out.append("")
            out.extend(block)
            if block_end + 1 < len(lines) and lines[block_end + 1].strip():
                block.append("")
                out.append("")
            index = block_end + 1
            continue
        environment = _ENVIRONMENT_START.match(line)
        if environment:
            end = _environment_end(lines, index, environment.group("name"))
            if end is not None:
                if out and out[-1].strip():
                    out.append("")
                out.extend(lines[index : end + 1])
                if end + 1 < len(lines) and lines[end + 1].strip():
                    out.append("")
                index = end + 1
                continue
        if line.strip():
            paragraph.append(line)
        else:
            out.append(line)
        index += 1
    flush()
    return out


def _display_block_end(lines: list[str], start: int) -> int | None:
    """Where the `$$` display block opening at `start` closes; None when `start` opens none."""
    fence = _DISPLAY_FENCE.match(lines[start])
    if fence is None:
        return None
    rest = fence.group("rest").strip()
    if rest.endswith("$$") and len(rest) > 2:
        return start  # `$$x = 1$$` alone on its line
    if "$" in rest:
        return None  # `$$x$$ and more` on one line: inline, left to `inline`
    for end in range(start + 1, min(len(lines), start + 200)):
        if lines[end].strip().endswith("$$"):
            return end
    return None


def _environment_end(lines: list[str], start: int, name: str) -> int | None:
    closing = re.compile(r"\\end\{" + name + r"\*?\}\s*$")
    for end in range(start, min(len(lines), start + 200)):
        if closing.search(lines[end]):
            return end
    return None


def inline(line: str) -> str:
    """Inline math in a paragraph: `$$x$$` in text becomes `$x$`, `$ x $` becomes `$x$`; inline code untouched.

    Line breaks inside a formula stay where they are, so every line of the note keeps its number.
    """
    if "$" not in line:
        return line
    pieces = []
    position = 0
    for code in _INLINE_CODE.finditer(line):
        pieces.append(_inline_text(line[position : code.start()]))
        pieces.append(code.group(0))
        position = code.end()
    pieces.append(_inline_text(line[position:]))
    return "".join(pieces)


def _inline_text(text: str) -> str:
    text = _INLINE_DISPLAY.sub(lambda found: "$" + found.group("inside").strip(_SPACES) + "$", text)
    return _INLINE_FORMULA.sub(_unspaced, text)


def _unspaced(found: re.Match[str]) -> str:
    inside = found.group("inside")
    if inside == inside.strip(_SPACES):
        return found.group(0)
    if _PROSE.search(inside) and not _TEX_SIGN.search(inside):
        return found.group(0)  # "costs $ 5 and $": money in prose, not a formula
    if inside.strip()[:1].isdigit() and not _TEX_SIGN.search(inside) and " " in inside.strip():
        return found.group(0)
    return "$" + inside.strip(_SPACES) + "$"
