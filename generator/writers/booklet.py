"""The full-answer booklet: a title page, a contents page with page numbers, then every note's full answer.

One column on A4 (or Letter); a question follows on from the one before unless less than about a third of
the page is left, and its heading is never parted from its first lines. A code block is kept on one page
unless it is longer than a page. Math is vector SVG, code keeps its Pygments colours, images load from the
content folder.
"""

from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path

from generator import fragments
from generator.context import PAPERS, BuildContext
from generator.errors import OutputError
from generator.model import Deck
from generator.writers import Writer

# The text block is 170 mm wide on A4 (175.9 mm on Letter): 48 em of the 10 pt body; display formulas
# get a little less, so that they also fit inside a list item.
MAX_FORMULA_EM = 44.0
# A paragraph holding nothing but an image is a figure; an all-emphasis paragraph right after it is its
# caption. (The image's alt text is its description for screen readers, not a caption.)
_FIGURE = re.compile(
    r"<p>\s*(?P<image><img\b[^>]*>)\s*</p>(?:\s*<p>\s*<em>(?P<caption>(?:(?!</?p\b).)*?)</em>\s*</p>)?", re.DOTALL
)
# A code block's line is 7.8 pt on 1.38 leading (3.8 mm) and holds characters of DejaVu Sans Mono 0.602 em
# wide (1.66 mm); the text block is 170 x 255 mm on A4, 175.9 x 237.4 mm on Letter, and the block's padding
# and border take 6.4 mm of its width and 4.4 mm of its height.
_CODE_LINE_MM = 7.8 * 1.38 * 25.4 / 72
_CODE_CHAR_MM = 0.602 * 7.8 * 25.4 / 72
_TEXT_BLOCK_MM = {"a4": (170.0, 255.0), "letter": (175.9, 237.4)}
_CODE_BLOCK = re.compile(r'<div class="highlight"><pre>(?P<code>.*?)</pre></div>', re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
# Pygments' dark colours are scoped to a class the booklet never uses: print is always light.
_NO_DARK_SCOPE = ".studykit-dark-never"


def _figures(fragment: str) -> str:
    def wrap(found: re.Match[str]) -> str:
        caption = found.group("caption")
        figcaption = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f'<figure class="figure">{found.group("image")}{figcaption}</figure>'

    return _FIGURE.sub(wrap, fragment)


def _code_lines(code: str, columns: int) -> int:
    """The lines a code block's text takes once its long lines wrap (a wide character takes two columns)."""
    lines = 0
    for line in code.rstrip("\n").split("\n"):
        width = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)
        lines += max(1, -(-width // columns))
    return lines


def _long_code(fragment: str, paper: str) -> str:
    """Mark the code blocks longer than a page `long`: the booklet splits those where they stand.

    The others are kept on one page (break-inside: avoid). One longer than a page kept whole would be moved
    to the top of the next page and split there anyway, taking the heading before it along and leaving that
    alone on a page of its own. Lines wrap at spaces, so a block may take a line or two more than counted:
    a block within two lines of a page is counted long.
    """

    width, height = _TEXT_BLOCK_MM[paper]
    columns = int((width - 6.4) / _CODE_CHAR_MM) - 3  # 3 fewer: a block inside a list item is 1.3 em narrower
    page = int((height - 4.4) / _CODE_LINE_MM)

    def mark(found: re.Match[str]) -> str:
        code = html.unescape(_TAG.sub("", found.group("code")))
        if _code_lines(code, columns) < page - 2:
            return found.group(0)
        return found.group(0).replace('<div class="highlight">', '<div class="highlight long">', 1)

    return _CODE_BLOCK.sub(mark, fragment)


def _for_print(fragment: str, paper: str) -> str:
    return _long_code(fragments.svg_math(_figures(fragment), max_display_em=MAX_FORMULA_EM), paper)


def html_of(deck: Deck, context: BuildContext, dated: bool = True) -> str:
    """The booklet as one HTML document; without `dated`, no dates (they are set on the PDF after layout)."""
    notes = [
        {
            "number": note.number,
            "question": note.question,
            "language": note.language,
            "tags": note.tags,
            "key_points": _for_print(note.key_points_html, context.paper),
            "answer": _for_print(note.answer_html, context.paper),
        }
        for note in deck.notes
    ]
    # Pygments' rules first, so that the booklet's own `pre` rules win.
    css = fragments.code_css([_NO_DARK_SCOPE]) + "\n" + context.print_css("booklet.css")
    return context.render(
        "booklet.html.j2",
        deck=deck,
        notes=notes,
        css=css,
        page_size=PAPERS[context.paper],
        created=context.created if dated else None,
    )


def write(deck: Deck, target: Path, context: BuildContext) -> None:
    """Lay the booklet out, or take it from the cache when nothing it shows has changed; then date it.

    The contents page numbers every question, so the booklet is laid out as one document. It is kept by the
    hash of its undated HTML, its images and fonts: a build with nothing changed (or another checkout's, or
    the tests') only sets the keywords and dates on a copy.
    """
    # Here, not at the top: WeasyPrint takes a second to load, and a build without this output skips it.
    from generator import pdfengine, pdfjoin, rendercache

    document = html_of(deck, context, dated=False)
    prefix = rendercache.prefix_for(deck.slug, context.paper, WRITER.name)
    with rendercache.opened(context.cache_dir, prefix, pdfengine.PDF_OPTIONS) as cache:
        path = cache.path_for(document, rendercache.loads_of(deck, deck.notes, context))
        if pdfjoin.pages_in(path) is None:
            roots = context.pdf_roots(deck.content_dir)
            base_url = str(deck.content_dir.resolve()) + "/"
            if errors := rendercache.render_all([(path, lambda: document)], base_url, roots, pdfengine.PDF_OPTIONS, 1):
                raise OutputError(f"{target.name}: {errors[0]}")
        rendercache.join_dated([path], target, deck, context)
        cache.keep_only([path])


WRITER = Writer("full", "full.pdf", "full-answer booklet: title page, contents with page numbers, every answer", write)
