"""The full-answer booklet: a title page, a contents page with page numbers, then every note's full answer.

One column on A4 (or Letter), each question on a page of its own, so a heading is never parted from its
answer. Math is vector SVG, code keeps its Pygments colours, images load from the content folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from generator import fragments
from generator.context import PAPERS, BuildContext
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
# Pygments' dark colours are scoped to a class the booklet never uses: print is always light.
_NO_DARK_SCOPE = ".studykit-dark-never"


def _figures(fragment: str) -> str:
    def wrap(found: re.Match[str]) -> str:
        caption = found.group("caption")
        figcaption = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f'<figure class="figure">{found.group("image")}{figcaption}</figure>'

    return _FIGURE.sub(wrap, fragment)


def _for_print(fragment: str) -> str:
    return fragments.svg_math(_figures(fragment), max_display_em=MAX_FORMULA_EM)


def html_of(deck: Deck, context: BuildContext) -> str:
    notes = [
        {
            "number": note.number,
            "question": note.question,
            "language": note.language,
            "tags": note.tags,
            "key_points": _for_print(note.key_points_html),
            "answer": _for_print(note.answer_html),
        }
        for note in deck.notes
    ]
    # Pygments' rules first, so that the booklet's own `pre` rules win.
    css = fragments.code_css([_NO_DARK_SCOPE]) + "\n" + context.print_css("booklet.css")
    return context.render(
        "booklet.html.j2", deck=deck, notes=notes, css=css, page_size=PAPERS[context.paper], created=context.created
    )


def write(deck: Deck, target: Path, context: BuildContext) -> None:
    # Here, not at the top: WeasyPrint takes a second to load, and a build without this output skips it.
    from generator import pdfengine

    pdfengine.write(html_of(deck, context), deck.content_dir, context.pdf_roots(deck.content_dir), target)


WRITER = Writer("full", "full.pdf", "full-answer booklet: title page, contents with page numbers, every answer", write)
