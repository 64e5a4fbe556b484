"""The offline study page: one self-contained HTML file, math as inline SVG, images as data URIs.

The math engine hands over each formula's glyph outlines apart from the drawing that places them
with <use>. On the page each glyph is defined once, in one hidden SVG at the end, and every formula keeps
only its <use>s: a few hundred glyphs serve thousands of formulas, and the page is a fraction of
the size it would be with each formula carrying its own glyph outlines.

Each note's two fragments (key points, full answer), once made self-contained, are kept under the cache folder
(`page/`, one file per deck) by the hash of everything that makes them: a rebuild after a one-note edit makes
only that note's fragments again, and takes the others as they were (see `Fragments`).

A page with Chinese, Japanese or Korean text carries the CJK font cut to its characters (`fonts.web_font`): the
device that shows it may have no CJK font, and the page loads nothing from outside itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pygments.formatters import HtmlFormatter
from pygments.style import Style
from pygments.styles import get_style_by_name

from generator import fonts, fragments, mathrender, stamps, templating
from generator.context import BuildContext
from generator.errors import Problem
from generator.markup import MathMatch, replace_math
from generator.model import Deck, Note
from generator.writers import Writer, WriteResult

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
# MathJax draws a character its own font lacks (Chinese in \text{…}) as an SVG <text> whose font-family attribute
# names system CJK fonts and a generic family, and not the page's embedded font; this rule gives it the stack of the
# text around the formula, which does. Added only to a page that embeds the font.
_MATH_TEXT_CSS = ".math text { font-family: inherit; }\n"


class Glyphs:
    """The glyph outlines the page's formulas share, each defined once (by the id the math engine gives it)."""

    def __init__(self) -> None:
        self.symbols: dict[str, str] = {}
        # While a fragment is made for the cache: the glyphs its formulas share, and whether one of its formulas
        # kept its own outlines because an id already named another outline on this page (a clash). Such a
        # fragment depends on what came before it on the page, so it is not kept.
        self._taken: dict[str, str] | None = None
        self._clashed = False

    def formula(self, found: MathMatch) -> str:
        rendered = mathrender.render(found.tex, found.display)
        glyphs = dict(rendered.glyphs)
        if not rendered.view_box:
            # No shared form: this formula keeps its own (whatever came before it).
            image = fragments.math_image(rendered)
        elif any(self.symbols.get(key, text) != text for key, text in glyphs.items()):
            # An id that already names another outline: this formula keeps its own.
            self._clashed = True
            image = fragments.math_image(rendered)
        else:
            self.symbols.update(glyphs)
            if self._taken is not None:
                self._taken.update(glyphs)
            image = (
                f'<svg class="math" role="img" aria-label="{html.escape(rendered.label)}" '
                f'viewBox="{rendered.view_box}" style="{fragments.math_style(rendered)}">{rendered.body}</svg>'
            )
        return f'<div class="math-display">{image}</div>' if found.display else image

    def fragment(self, source: str, note: Note, kept: Fragments) -> str:
        """`source` (one section of `note`) made self-contained: from `kept` when it was made before, else made.

        A kept fragment is the one made afresh here as long as none of its glyph ids names another outline on
        the page so far: then each of its formulas takes the shared form, as when it was kept, and its glyphs
        join the page's. Otherwise (a clash) it is made afresh against this page's glyphs, and not kept.
        """
        key = kept.key(source, note)
        cached = kept.get(key)
        if cached is not None:
            if not any(self.symbols.get(glyph, text) != text for glyph, text in cached.glyphs):
                self.symbols.update(cached.glyphs)
                return cached.html
            return _self_contained(source, note, self)
        self._taken, self._clashed = {}, False
        try:
            made = _self_contained(source, note, self)
            if not self._clashed:
                kept.put(key, _Fragment(made, tuple(self._taken.items())))
        finally:
            self._taken = None
        return made

    def definitions(self) -> str:
        """One hidden SVG holding every glyph used so far (the page puts it after the last note)."""
        return (
            '<svg class="math-glyphs" aria-hidden="true" focusable="false" width="0" height="0">'
            + "".join(self.symbols[key] for key in sorted(self.symbols))
            + "</svg>"
        )


@dataclass(frozen=True)
class _Fragment:
    """A note's section as the page shows it, and the shared glyphs (id, outline) its formulas use."""

    html: str
    glyphs: tuple[tuple[str, str], ...]


# Bumped when what a kept fragment holds, or how it is made, changes in a way the code's stamp would not show.
_FRAGMENT_FORMAT = 1


class Fragments:
    """The page's fragments an earlier build made, in one file per deck under the cache folder (`page/`).

    A fragment's key is the hash of its section's HTML as read (the note's content), the note's folder and
    language, each file the note loads by path, time and size (its images are inlined), and what every fragment
    of the page shares (`shared`): studykit's code and libraries (`stamps.environment`), the math engine and its
    version, the page's template and stylesheet, and the deck's language. Only the fragments this build used are
    written back, so the file does not grow with every edit. Without `file` nothing is kept.
    """

    def __init__(self, file: Path | None, shared: str, content_dir: Path) -> None:
        self.file, self.shared, self.content_dir = file, shared, content_dir
        self._shared = hashlib.sha256(shared.encode("utf-8"))  # every key starts from it
        self._loads: dict[Path, bytes] = {}  # each note's folder, language and loaded files, for its keys
        self._stored: dict[str, _Fragment] = {}
        self._used: dict[str, _Fragment] = {}
        self._changed = False
        if file is not None:
            with contextlib.suppress(Exception):  # missing, damaged, or from another Python: make them afresh
                stored = pickle.loads(file.read_bytes())
                if isinstance(stored, dict):
                    self._stored = stored

    def key(self, source: str, note: Note) -> str:
        # Hashed here rather than by stamps.digest: that writes each part as its repr, a copy of the whole section
        # with its quotes escaped (3 MB of HTML at 1,000 notes). Each part is preceded by its length, so that no two
        # different lists of parts hash alike.
        loads = self._loads.get(note.path)
        if loads is None:  # once per note, not per section
            stamped = []
            for relative in note.media:
                try:
                    info = (self.content_dir / relative).stat()
                    stamped.append((relative.as_posix(), info.st_mtime_ns, info.st_size))
                except OSError:
                    stamped.append((relative.as_posix(), -1, -1))
            loads = self._loads[note.path] = repr((str(note.path.parent), note.language, stamped)).encode("utf-8")
        hashed = self._shared.copy()
        for part in (loads, source.encode("utf-8", "surrogatepass")):
            hashed.update(len(part).to_bytes(8, "little"))
            hashed.update(part)
        return hashed.hexdigest()

    def get(self, key: str) -> _Fragment | None:
        found = self._stored.get(key)
        if found is not None:
            self._used[key] = found
        return found

    def put(self, key: str, fragment: _Fragment) -> None:
        self._used[key] = fragment
        self._changed = True

    def save(self) -> None:
        if self.file is None or (not self._changed and self._used.keys() == self._stored.keys()):
            return
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            self.file.parent.mkdir(parents=True, exist_ok=True)
            # The same glyph serves hundreds of fragments: one object for each (id, outline), which pickle then
            # writes once and refers back to (a third of the file's size, and of its reading, at 1,000 notes).
            shared: dict[tuple[str, str], tuple[str, str]] = {}
            used = {
                key: _Fragment(fragment.html, tuple(shared.setdefault(pair, pair) for pair in fragment.glyphs))
                for key, fragment in self._used.items()
            }
            temporary = self.file.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(pickle.dumps(used, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(temporary, self.file)


def kept_fragments(deck: Deck, context: BuildContext) -> Fragments:
    """The fragments kept for `deck`'s page under the build's cache folder."""
    engine = mathrender.engine()
    shared = stamps.digest(
        [
            _FRAGMENT_FORMAT,
            stamps.environment(),
            engine.NAME,
            engine.VERSION,
            context.template_text("page.html.j2"),
            context.template_text("page.css"),
            deck.language,
        ]
    )
    name = stamps.digest([str(deck.content_dir.resolve()), deck.slug])[:32]
    return Fragments(context.cache_dir / "page" / f"{name}.pickle", shared, deck.content_dir)


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

    def __init__(self, note: Note, glyphs: Glyphs, kept: Fragments) -> None:
        self.note, self.glyphs, self.kept = note, glyphs, kept
        self.id, self.number, self.tags = note.id, note.number, note.tags
        self.language = note.language

    @property
    def question(self) -> str:
        return fragments.shown_question(self.note, lambda source: self.glyphs.fragment(source, self.note, self.kept))

    @property
    def key_points(self) -> str:
        return self.glyphs.fragment(self.note.key_points_html, self.note, self.kept)

    @property
    def answer(self) -> str:
        return self.glyphs.fragment(self.note.answer_html, self.note, self.kept)


def _page_texts(deck: Deck, context: BuildContext) -> Iterator[str]:
    """Every text the page is made of, for the characters its font must have: the deck's, the notes' (the HTML of
    both sections, whose formulas keep their TeX as labels and MathJax's <text>), and the templates' (a deck's own
    template or script may carry words of its language)."""
    yield deck.title
    yield deck.credit
    yield from context.text.page_words()
    for name in ("page.html.j2", "page.css", "page.js"):
        yield context.template_text(name)
    for note in deck.notes:
        yield note.question
        yield from note.tags
        yield note.key_points_html
        yield note.answer_html


def _css(deck: Deck, context: BuildContext) -> tuple[str, fonts.WebFont | None, list[Problem]]:
    """The page's stylesheet, the CJK font it embeds (if any), and a warning when it should embed one but cannot."""
    css = context.template_text("page.css") + "\n" + code_css()
    try:
        font = fonts.web_font(_page_texts(deck, context), deck.language, context.cache_dir)
    except fonts.FontMissing as missing:
        message, _, hint = str(missing).partition("\n    hint: ")
        warning = Problem(
            deck.location,
            f"{message}: the page's CJK text shows only on devices that have a CJK font of their own",
            hint,
            severity="warning",
        )
        return css, None, [warning]
    return (css if font is None else font.css(css + _MATH_TEXT_CSS)), font, []


def write(deck: Deck, target: Path, context: BuildContext) -> WriteResult:
    """Stream the page to `target` note by note: a bank of thousands of notes is hundreds of MB of HTML."""
    glyphs = Glyphs()
    kept = kept_fragments(deck, context)
    css, font, warnings = _css(deck, context)
    with target.open("w", encoding="utf-8") as out:
        templating.stream(
            context.templates,
            "page.html.j2",
            out,
            deck=deck,
            notes=[_PageNote(note, glyphs, kept) for note in deck.notes],
            glyphs=glyphs,
            tags=sorted({tag for note in deck.notes for tag in note.tags}),
            css=css,
            text=context.text,
            web_font=font,  # its script loads it first thing; the Content-Security-Policy lets a data: font load
            script=context.template_text("page.js"),
        )
    kept.save()
    return WriteResult(warnings=warnings)


WRITER = Writer("html", "html", "offline study page: one self-contained HTML file, search and tag filters", write)
