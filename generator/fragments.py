"""Turn a note's generic HTML into what one output needs: math form and resource references.

The reader's HTML keeps formulas as arithmatex spans and images as paths relative to the
content folder. Anki wants `\\(…\\)` and flat media names; the PDF and the page want vector SVG
and, for the page, images inlined as data URIs.
"""

from __future__ import annotations

import base64
import functools
import html
import mimetypes
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

from markupsafe import Markup
from pygments.formatters import HtmlFormatter

from generator import cloze, mathrender
from generator.markup import DISPLAY_MATH, INLINE_MATH, MathMatch, replace_math
from generator.model import Note

_IMG_TAG = re.compile(r"<img\b", re.IGNORECASE)
_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")', re.IGNORECASE)


def tex_math(fragment: str, cloze_safe: bool = False) -> str:
    """Math in the delimiters Anki's MathJax reads; `<` and `&` escaped so Anki's editor keeps them.

    With `cloze_safe`, a `}}` inside math that does not close a deletion is spaced out.
    """
    if not cloze_safe:
        # arithmatex already wrote the TeX escaped and in MathJax's delimiters: only the wrappers
        # change, and a template substitution does that without a Python call per formula.
        if '<span class="arithmatex">' in fragment:
            fragment = INLINE_MATH.sub(r"\\(\g<tex>\\)", fragment)
        if '<div class="arithmatex">' in fragment:
            fragment = DISPLAY_MATH.sub(r'<div class="math-display">\\[\g<tex>\\]</div>', fragment)
        return fragment

    def delimit(found: MathMatch) -> str:
        tex = html.escape(cloze.safe_tex(found.tex), quote=False)
        # Display math keeps a wrapper so that a wide formula scrolls instead of widening the card.
        return f'<div class="math-display">\\[{tex}\\]</div>' if found.display else f"\\({tex}\\)"

    return replace_math(fragment, delimit)


def shown_question(note: Note, convert: Callable[[str], str]) -> str:
    """A note's question as a template shows it: its text, which the template escapes, or, when it holds math, its
    HTML with each formula made what the output needs by `convert`, marked safe. (A question without math is the text
    it always was, so that its outputs keep their bytes.)"""
    if '<span class="arithmatex">' not in note.question_html:
        return note.question
    return Markup(convert(note.question_html))


def print_question(note: Note) -> str:
    """A note's question as the PDFs show it: its math drawn as `svg_math` draws the body's."""
    return shown_question(note, svg_math)


def svg_math(fragment: str, max_display_em: float | None = None) -> str:
    """Math for the PDFs: SVG drawings sized in em and sitting on the text's baseline, the TeX as text over them.

    A display formula wider than `max_display_em` is shrunk to that width: its SVG is sized in em, so a
    smaller font size on its block scales it without distortion.
    """

    def draw(found: MathMatch) -> str:
        rendered = mathrender.render(found.tex, found.display)
        image = print_math(rendered)
        if not found.display:
            return image
        # The width as the style writes it, so that the ratio is the one the drawing's size shows.
        shown_width = float(f"{rendered.width_em:.3f}")
        if max_display_em is not None and shown_width > max_display_em:
            return f'<div class="math-display" style="font-size:{max_display_em / shown_width:.3f}em">{image}</div>'
        return f'<div class="math-display">{image}</div>'

    return replace_math(fragment, draw)


def display_formula(tex: str, max_display_em: float | None = None) -> str:
    """One display formula, from its TeX, drawn as `svg_math` draws it in a fragment."""
    return svg_math(f'<div class="arithmatex">\\[{html.escape(tex, quote=False)}\\]</div>', max_display_em)


def math_style(rendered: mathrender.RenderedMath) -> str:
    """The formula's size in em, and its baseline on the text's."""
    return (
        f"width:{rendered.width_em:.3f}em;height:{rendered.height_em:.3f}em;vertical-align:{-rendered.depth_em:.3f}em"
    )


def math_image(rendered: mathrender.RenderedMath) -> str:
    """The formula as an <img> holding its own SVG; its TeX is the alt text."""
    label = html.escape(rendered.label)
    return f'<img class="math" role="math" src="{rendered.data_uri}" alt="{label}" style="{math_style(rendered)}">'


# The text layer's font, DejaVu Sans Mono (fonts-dejavu-core, which the code already prints in): every glyph is
# 1233/2048 em wide, so the width of the TeX is known without laying it out; a character of a double-width script
# (a CJK \text{}) falls back to a font about 1 em wide and is counted as two glyphs.
_MONO_ADVANCE = 1233 / 2048
# Its ascent and descent (1901 and 483 of 2048 units): on a line 0 high, the baseline lies this far below the
# line's top, in the font's em.
_MONO_BASELINE = (1901 - 483) / 2 / 2048
# The most the text is stretched upright. Poppler (pdftotext, evince) drops a glyph drawn less than a tenth of
# the font size after the same glyph (its test for fake bold), so "\\" or "mm" would lose a character if a
# long TeX were squeezed narrow at full height; at 4 the glyphs stand 0.15 of their height apart.
_MAX_STRETCH = 4.0


def _mono_cells(text: str) -> int:
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def print_math(rendered: mathrender.RenderedMath) -> str:
    """The formula for a PDF: its SVG drawn as the background of a box sized as `math_image`'s, the TeX as text on it.

    The text layer is what an OCR'd scan has: invisible text laid over the picture, so that copying,
    searching and screen readers get the TeX. WeasyPrint still writes transparent text to the page
    (at zero opacity), and tags it as text; the background is drawn as an artifact, so the formula
    is read once, as its TeX, where it stands in the sentence. The text is set in a monospaced font at the
    size that makes it exactly as wide as the drawing, then stretched upright to the surrounding text's size
    (at most `_MAX_STRETCH` times), its baseline on the formula's: text extractors see it on the line of the
    words around it. It is absolutely
    positioned inside the box and takes no room, so lines break as they did with `math_image`.
    """
    tex = " ".join(rendered.tex.split())
    box = f"display:inline-block;{math_style(rendered)};background:url({rendered.data_uri}) 0 0/100% 100% no-repeat"
    cells = _mono_cells(tex)
    if not cells or rendered.width_em <= 0:
        return f'<span class="math" role="math" style="{box}"></span>'
    # In the formula's em; of the width as the box's style writes it, so that the text never reaches past the box.
    size = float(f"{rendered.width_em:.3f}") / (_MONO_ADVANCE * cells)
    # Lengths below are in the text's own em (`size` of the formula's). The box is not positioned: the text
    # sits at its static position, the box's top left corner, and is moved down to put its baseline on the formula's.
    text = (
        f"position:absolute;margin:{(rendered.height_em - rendered.depth_em) / size - _MONO_BASELINE:.5g}em 0 0;"
        f"font:{size:.5g}em/0 'DejaVu Sans Mono',monospace;white-space:nowrap;color:transparent;"
        "text-indent:0;letter-spacing:0;word-spacing:0;text-transform:none;"
        f"transform:scaleY({min(1 / size, _MAX_STRETCH):.5g});transform-origin:0 {_MONO_BASELINE:.4f}em"
    )
    return (
        f'<span class="math" role="math" style="{box}">'
        f'<span class="math-tex" style="{text}">{html.escape(tex, quote=False)}</span></span>'
    )


def rewrite_images(fragment: str, rewrite: Callable[[str], str]) -> str:
    """Apply `rewrite` to every image path; data URIs and fragment links are left as they are."""

    if not _IMG_TAG.search(fragment):  # most fragments have no image: skip the substitution's copy
        return fragment

    def substitute(match: re.Match[str]) -> str:
        source = html.unescape(match.group(2))
        if source.startswith(("data:", "#")):
            return match.group(0)
        return match.group(1) + html.escape(rewrite(source)) + match.group(3)

    return _IMG_SRC.sub(substitute, fragment)


def data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


CODE_STYLE_LIGHT = "friendly"
CODE_STYLE_DARK = "monokai"


# Highlighted code as Pygments writes it: a block, and a span per token naming its token class.
_CODE_BLOCK = re.compile(r'(<div class="highlight[^"]*"><pre>)(.*?)(</pre></div>)', re.DOTALL)
_TOKEN = re.compile(r'<span class="([\w-]+)">([^<]*)</span>')
_CSS_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def print_code(fragment: str, stylesheet: str) -> str:
    """Highlighted code for a PDF: each token span whose class no rule of `stylesheet` names, as its bare text.

    Pygments wraps every token, but its light style colours only some: in a typical block two spans in five
    (names and punctuation) draw exactly as their text would. WeasyPrint styles, lays out, draws and tags each
    span as an element of its own: a code-heavy page takes a tenth longer with them. Code is set in a monospaced
    font, which neither kerns nor joins glyphs, so the text shapes the same whether or not it is split.
    `stylesheet`: every rule that applies to the document (a class it names anywhere keeps its spans).
    """
    if '<div class="highlight' not in fragment:
        return fragment
    styled = _styled_classes(stylesheet)

    def unwrap(token: re.Match[str]) -> str:
        return token.group(0) if token.group(1) in styled else token.group(2)

    def block(found: re.Match[str]) -> str:
        return found.group(1) + _TOKEN.sub(unwrap, found.group(2)) + found.group(3)

    return _CODE_BLOCK.sub(block, fragment)


@functools.lru_cache(maxsize=8)
def _styled_classes(stylesheet: str) -> frozenset[str]:
    return frozenset(_CSS_CLASS.findall(_CSS_COMMENT.sub("", stylesheet)))


def total_written_in(stylesheet: str, pages: int, count: int | None) -> str:
    """A printed stylesheet for a piece of a page-number overlay (`count` pages of `pages`): the pages' total
    written in, since `counter(pages)` would count the piece's own. The whole overlay's stylesheet as it is."""
    return stylesheet if count is None else stylesheet.replace("counter(pages)", f'"{pages}"')


@functools.cache
def light_code_css() -> str:
    """Pygments' light colours for `.highlight`: what print uses."""
    return str(HtmlFormatter(style=CODE_STYLE_LIGHT).get_style_defs(".highlight"))  # type: ignore[no-untyped-call]


def code_css(dark_scopes: list[str]) -> str:
    """Pygments colours for `.highlight`, light by default and dark inside each of `dark_scopes`."""
    light = light_code_css()
    dark_selectors = [f"{scope} .highlight" for scope in dark_scopes]
    dark = HtmlFormatter(style=CODE_STYLE_DARK).get_style_defs(dark_selectors)  # type: ignore[no-untyped-call]
    return f"{light}\n{dark}"
