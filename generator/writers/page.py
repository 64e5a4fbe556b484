"""The offline study page: one self-contained HTML file, math as inline SVG, images as data URIs.

The math engine hands over each formula's glyph outlines apart from the drawing that places them
with <use>. On the page each glyph is defined once, in one hidden SVG at the end, and every formula keeps
only its <use>s: a few hundred glyphs serve thousands of formulas, and the page is a fraction of
the size it would be with each formula carrying its own glyph outlines.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from pygments.formatters import HtmlFormatter
from pygments.style import Style
from pygments.styles import get_style_by_name

from generator import fragments, mathrender, templating
from generator.context import BuildContext
from generator.markup import MathMatch, replace_math
from generator.model import Deck, Note
from generator.writers import Writer

# The page's code colours: Pygments' own styles, each colour nudged until it reads (WCAG AA).
CODE_STYLE_LIGHT = "friendly"
CODE_STYLE_DARK = "monokai"
MIN_CONTRAST = 4.6  # WCAG AA asks 4.5:1 for normal text; a little headroom for rounding
_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# A header cell with nothing in it (the corner of a table) is an ordinary empty cell to a screen reader.
_EMPTY_HEADER_CELL = re.compile(r"<th(\s[^>]*)?>\s*</th>")
# Punctuation right after an inline formula stays on the formula's line.
# (One formula only: its body may not run past its own </svg>.)
_MATH_THEN_PUNCTUATION = re.compile(r'(<svg class="math"[^>]*>(?:(?!</svg>).)*</svg>[.,;:!?)\]]+)', re.DOTALL)


class Glyphs:
    """The glyph outlines the page's formulas share, each defined once (by the id the math engine gives it)."""

    def __init__(self) -> None:
        self.symbols: dict[str, str] = {}

    def formula(self, found: MathMatch) -> str:
        rendered = mathrender.render(found.tex, found.display)
        glyphs = dict(rendered.glyphs)
        if not rendered.view_box or any(self.symbols.get(key, text) != text for key, text in glyphs.items()):
            # No shared form, or an id that already names another outline: this formula keeps its own.
            image = fragments.math_image(rendered)
        else:
            self.symbols.update(glyphs)
            image = (
                f'<svg class="math" role="img" aria-label="{html.escape(rendered.label)}" '
                f'viewBox="{rendered.view_box}" style="{fragments.math_style(rendered)}">{rendered.body}</svg>'
            )
        return f'<div class="math-display">{image}</div>' if found.display else image

    def definitions(self) -> str:
        """One hidden SVG holding every glyph used so far (the page puts it after the last note)."""
        return (
            '<svg class="math-glyphs" aria-hidden="true" focusable="false" width="0" height="0">'
            + "".join(self.symbols[key] for key in sorted(self.symbols))
            + "</svg>"
        )


def _self_contained(fragment: str, note: Note, glyphs: Glyphs) -> str:
    with_images = fragments.rewrite_images(fragment, lambda src: fragments.data_uri(note.path.parent / src))
    with_cells = _EMPTY_HEADER_CELL.sub(lambda m: f"<td{m.group(1) or ''}></td>", with_images)
    with_math = replace_math(with_cells, glyphs.formula)
    return _MATH_THEN_PUNCTUATION.sub(r'<span class="math-nowrap">\1</span>', with_math)


def _rgb(colour: str) -> tuple[float, float, float]:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16) / 255, int(digits[2:4], 16) / 255, int(digits[4:6], 16) / 255)


def _luminance(rgb: tuple[float, float, float]) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two `#rrggbb` colours."""
    light, dark = sorted((_luminance(_rgb(first)), _luminance(_rgb(second))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable(colour: str, background: str, minimum: float = MIN_CONTRAST) -> str:
    """`colour`, moved towards black (on a light background) or white (on a dark one) until it reads."""
    target = 0.0 if _luminance(_rgb(background)) > 0.18 else 1.0
    start = _rgb(colour)
    for step in range(21):
        share = step / 20
        mixed = tuple(c + (target - c) * share for c in start)
        candidate = "#" + "".join(f"{round(c * 255):02x}" for c in mixed)
        if contrast(candidate, background) >= minimum:
            return candidate
    return "#000000" if target == 0.0 else "#ffffff"


def readable_style(name: str) -> type[Style]:
    """A Pygments style whose every token colour reaches `MIN_CONTRAST` on its background."""
    base = get_style_by_name(name)
    background = base.background_color or "#ffffff"
    styles = {}
    for token, definition in base.styles.items():
        words = definition.split()
        token_background = next((w[3:] for w in words if w.startswith("bg:") and _HEX_COLOUR.match(w[3:])), background)
        words = [readable(w, token_background) if _HEX_COLOUR.match(w) else w for w in words]
        styles[token] = " ".join(words)
    return type(f"Readable{base.__name__}", (base,), {"styles": styles})


def code_css() -> str:
    """Code colours: the light style on screens in light mode and in print, the dark one in dark mode."""

    def rules(style: str) -> str:
        formatter = HtmlFormatter(style=readable_style(style))
        defs: str = formatter.get_style_defs(".highlight")  # type: ignore[no-untyped-call]
        return "\n".join(line for line in defs.splitlines() if line.startswith(".highlight"))

    return (
        f"@media print, (prefers-color-scheme: light) {{\n{rules(CODE_STYLE_LIGHT)}\n}}\n"
        f"@media screen and (prefers-color-scheme: dark) {{\n{rules(CODE_STYLE_DARK)}\n}}\n"
    )


class _PageNote:
    """A note as the page template reads it; its HTML is made when the template reaches it, then let go."""

    def __init__(self, note: Note, glyphs: Glyphs) -> None:
        self.note, self.glyphs = note, glyphs
        self.id, self.number, self.question, self.tags = note.id, note.number, note.question, note.tags
        self.language = note.language

    @property
    def key_points(self) -> str:
        return _self_contained(self.note.key_points_html, self.note, self.glyphs)

    @property
    def answer(self) -> str:
        return _self_contained(self.note.answer_html, self.note, self.glyphs)


def write(deck: Deck, target: Path, context: BuildContext) -> None:
    """Stream the page to `target` note by note: a bank of thousands of notes is hundreds of MB of HTML."""
    glyphs = Glyphs()
    with target.open("w", encoding="utf-8") as out:
        templating.stream(
            context.templates,
            "page.html.j2",
            out,
            deck=deck,
            notes=[_PageNote(note, glyphs) for note in deck.notes],
            glyphs=glyphs,
            tags=sorted({tag for note in deck.notes for tag in note.tags}),
            css=context.template_text("page.css") + "\n" + code_css(),
            script=context.template_text("page.js"),
        )


WRITER = Writer("html", "html", "offline study page: one self-contained HTML file, search and tag filters", write)
