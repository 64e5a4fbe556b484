"""Markdown to HTML, with math kept out of Markdown's way.

`pymdownx.arithmatex` in generic mode protects `$…$`, `$$…$$`, `\\(…\\)` and `\\[…\\]` from
Markdown (so `_`, `*` and `\\\\` inside math survive) and leaves each formula in the HTML as
`<span class="arithmatex">\\(…\\)</span>` or `<div class="arithmatex">\\[…\\]</div>`. Writers find
formulas with `MATH_SPAN`, never by re-parsing Markdown.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import markdown

    from generator import obsidian, obsidianext

MARKDOWN_EXTENSIONS = [
    "pymdownx.arithmatex",
    "pymdownx.highlight",
    "pymdownx.superfences",
    "tables",
    "attr_list",
    "sane_lists",
    "pymdownx.mark",
]
MARKDOWN_CONFIG: dict[str, dict[str, Any]] = {
    "pymdownx.arithmatex": {"generic": True},
    "pymdownx.highlight": {"use_pygments": True, "guess_lang": False, "css_class": "highlight"},
}

MATH_SPAN = re.compile(
    r'<span class="arithmatex">\\\((?P<inline>.*?)\\\)</span>'
    r'|<div class="arithmatex">\\\[(?P<display>.*?)\\\]</div>',
    re.DOTALL,
)
# The two halves of MATH_SPAN, display math without the blank lines arithmatex puts around it.
INLINE_MATH = re.compile(r'<span class="arithmatex">\\\((?P<tex>.*?)\\\)</span>', re.DOTALL)
DISPLAY_MATH = re.compile(r'<div class="arithmatex">\\\[\s*(?P<tex>.*?)\s*\\\]</div>', re.DOTALL)
# `<!-- key -->`: the display formula right after it is one of the note's key formulas (cards, cheat sheet).
# In the HTML the mark is followed by white space and the formula's `<div>`; in the source it has a line of its own.
KEY_MARK = re.compile(r"<!--\s*key\s*-->", re.IGNORECASE)
KEY_MARK_LINE = re.compile(r"^[ \t>]*<!--\s*key\s*-->[ \t]*$", re.IGNORECASE | re.MULTILINE)
DISPLAY_MATH_START = re.compile(r'\s*(?=<div class="arithmatex">)')
# A formula in a Markdown table row, `$…$` (not `\$`), paired from the left as arithmatex pairs them.
TABLE_ROW_FORMULA = re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$")
# Blocks nested deeper than this are refused: far beyond any real note, well within what every output can lay out.
MAX_NESTING = 48
_BLOCK_TAG = re.compile(r"<(/?)(?:blockquote|ul|ol|li|div|table)\b[^>]*>", re.IGNORECASE)
_CODE_BLOCK = re.compile(r"<pre\b.*?</pre>|<code\b.*?</code>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# A dollar left in the text followed by something that is not a digit or space is almost always
# a formula that never closed; "$5" (money) is fine. A `$$` left over (display math never closed) is one problem.
_STRAY_DOLLAR = re.compile(r"\${2,}|\$(?=[^\s\d.,$])")


# Math in a question (one line of plain text, not Markdown): `\\(…\\)`, and `$…$` paired from the left as
# arithmatex pairs it (not `$$`, not `\\$`, no space just inside either dollar once `delimiters.inline` has taken
# the spaces out of `$ x $`); inline code is left as it is written.
_QUESTION_MATH = re.compile(r"\\\((?P<paren>.+?)\\\)|(?<![\\$])\$(?![\s$])(?P<dollar>[^$]*?[^\s\\$])\$(?!\$)")
_INLINE_CODE = re.compile(r"(`+).*?\1")


@dataclass(frozen=True)
class MathMatch:
    tex: str
    display: bool


@dataclass(frozen=True)
class StrayDollar:
    snippet: str  # the prose around the `$`, to show
    after: str  # the prose right after it, to find it in the source
    display: bool = False  # `$$`: display math that never closed


class Converter:
    """Python-Markdown set up for notes, reused from note to note; it adds up the time it spends.

    Python-Markdown (and Pygments, which it highlights code with) is loaded by the first note converted: a
    rebuild that finds every note read before loads neither.
    """

    def __init__(self) -> None:
        self._markdown: markdown.Markdown | None = None
        self._obsidian: obsidianext.Obsidian | None = None
        self.seconds = 0.0

    def html(self, text: str, context: obsidian.Context | None = None) -> str:
        """The text as HTML; `TooDeep` when it nests blocks deeper than any output can lay out.

        `context`: the note and line the text comes from, to find the images Obsidian embeds and report problems at
        their lines (`generator.obsidian`); without it, embedded images are taken as paths and nothing is reported.
        """
        started = time.perf_counter()
        if self._markdown is None or self._obsidian is None:
            import markdown

            from generator.d2lroles import D2lRoles
            from generator.delimiters import MathDelimiters
            from generator.obsidianext import Obsidian

            self._obsidian = Obsidian()
            self._markdown = markdown.Markdown(
                extensions=[*MARKDOWN_EXTENSIONS, MathDelimiters(), D2lRoles(), self._obsidian],
                extension_configs=MARKDOWN_CONFIG,
            )
        self._obsidian.context = context
        self._markdown.reset()
        try:
            converted = self._markdown.convert(text)
        except RecursionError as error:  # Python-Markdown parses nested blocks recursively
            # A parse abandoned halfway leaves the instance's state behind (its parser stacks, stashed HTML):
            # the next note would be read wrongly (a `<!-- key -->` mark no longer next to its formula), so the
            # next note gets a new one.
            self._markdown = None
            raise TooDeep(None) from error
        finally:
            self.seconds += time.perf_counter() - started
        depth = nesting_depth(converted)
        if depth > MAX_NESTING:
            raise TooDeep(depth)
        return converted


class TooDeep(Exception):
    """Blocks (quotes, lists) nested deeper than MAX_NESTING; `depth` is None when Markdown itself gave up."""

    def __init__(self, depth: int | None) -> None:
        super().__init__(depth)
        self.depth = depth


def nesting_depth(fragment: str) -> int:
    """How deep block elements nest in a fragment of HTML (a browser, WeasyPrint and Anki lay them out recursively)."""
    depth = deepest = 0
    for tag in _BLOCK_TAG.finditer(fragment):
        depth += -1 if tag.group(1) else 1
        deepest = max(deepest, depth)
    return deepest


def new_converter() -> Converter:
    return Converter()


def iter_math(fragment: str) -> Iterator[MathMatch]:
    for match in MATH_SPAN.finditer(fragment):
        if match.group("inline") is not None:
            yield MathMatch(html.unescape(match.group("inline")), display=False)
        else:
            yield MathMatch(html.unescape(match.group("display")).strip(), display=True)


def replace_math(fragment: str, render: Callable[[MathMatch], str]) -> str:
    """Replace every formula of an HTML fragment by what `render` returns for it."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("inline") is not None:
            found = MathMatch(html.unescape(match.group("inline")), display=False)
        else:
            found = MathMatch(html.unescape(match.group("display")).strip(), display=True)
        return render(found)

    return MATH_SPAN.sub(substitute, fragment)


def question_html(question: str) -> str:
    """The question as HTML: its text escaped (as the Anki fields always had it), each formula written as the
    reader writes one in a note's body (`MATH_SPAN`), so that every writer turns it into what its output needs.

    A question is a title, not Markdown: only its math is read (the ways of writing it that `delimiters` accepts in
    a paragraph), and `\\$` is a dollar sign, as in the body.
    """
    from generator import delimiters

    if "$" not in question and "\\(" not in question:
        return html.escape(question, quote=False)
    text = delimiters.inline(question)
    pieces = []
    position = 0
    code = [(found.start(), found.end()) for found in _INLINE_CODE.finditer(text)]
    for found in _QUESTION_MATH.finditer(text):
        if any(start <= found.start() < end for start, end in code):
            continue
        pieces.append(_question_text(text[position : found.start()]))
        tex = found.group("paren") if found.group("paren") is not None else found.group("dollar")
        pieces.append(f'<span class="arithmatex">\\({html.escape(tex, quote=False)}\\)</span>')
        position = found.end()
    pieces.append(_question_text(text[position:]))
    return "".join(pieces)


def _question_text(text: str) -> str:
    return html.escape(text.replace("\\$", "$"), quote=False)


def visible_text(fragment: str) -> str:
    """The prose of a fragment: no math, no code, no tags."""
    without_math = MATH_SPAN.sub(" ", fragment)
    without_code = _CODE_BLOCK.sub(" ", without_math)
    return html.unescape(_TAG.sub(" ", without_code))


def stray_dollars(fragment: str) -> list[StrayDollar]:
    """Every `$` (or `$$`) in the prose that looks like the start of a formula that was never closed."""
    text = visible_text(fragment)
    return [
        StrayDollar(
            text[max(0, m.start() - 10) : m.start() + 20].strip(), text[m.end() : m.end() + 40], m.end() - m.start() > 1
        )
        for m in _STRAY_DOLLAR.finditer(text)
    ]
