"""Highlighted code in the booklet: token spans no rule styles are left out of the HTML, and nothing on the page moves.

`fragments.print_code` unwraps the spans Pygments puts around names and punctuation (its light style colours
neither): fewer elements for WeasyPrint to style, lay out, draw and tag. Proof that it changes nothing a reader
sees: the same note's booklet pages, with and without it, hold the same glyphs in the same places.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from generator import build as pipeline
from generator import fragments, pdfengine
from generator.writers import booklet
from tests import pdfread
from tests.conftest import CONTENT

CODE = (
    '<p>Before <span class="n">not_code</span>.</p>'
    '<div class="highlight"><pre><span></span><span class="n">boxes</span> <span class="o">=</span> '
    '<span class="n">np</span><span class="p">.</span><span class="n">array</span><span class="p">([</span>'
    '<span class="mi">1</span><span class="p">])</span>  <span class="c1"># a &lt;comment&gt;</span>\n'
    "</pre></div>"
)


def test_spans_no_rule_names_are_unwrapped_in_code_blocks_only() -> None:
    printed = fragments.print_code(CODE, fragments.light_code_css())
    # Names and punctuation: bare text; operator, number and comment keep their colours; a span outside a code
    # block (not Pygments') is left alone, and so is the empty span Pygments opens a block with.
    assert printed == (
        '<p>Before <span class="n">not_code</span>.</p>'
        '<div class="highlight"><pre><span></span>boxes <span class="o">=</span> np.array(['
        '<span class="mi">1</span>])  <span class="c1"># a &lt;comment&gt;</span>\n'
        "</pre></div>"
    )


def test_a_class_the_stylesheet_names_keeps_its_spans() -> None:
    """A deck's own booklet.css may colour names: then they keep their spans (a comment naming one does not)."""
    styled = fragments.light_code_css() + "\n.highlight .n { color: #a00; }\n/* .p is not styled here */"
    printed = fragments.print_code(CODE, styled)
    assert printed.count('<span class="n">') == 4
    assert '<span class="p">' not in printed


def test_a_fragment_without_code_is_returned_as_it_is() -> None:
    fragment = '<p>A <span class="n">span</span> of its own.</p>'
    assert fragments.print_code(fragment, fragments.light_code_css()) is fragment


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils absent (pdftoppm)")
def test_the_booklet_pages_of_a_note_with_code_draw_the_same_glyphs_in_the_same_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every glyph at the same place (within 0.02 pt: one shaped run and a run of spans sum their advances in a
    different order, 0.009 pt apart at most on this page), so the pages differ at most in a few anti-aliased
    pixels at glyph edges."""
    deck = pipeline.check(CONTENT).deck
    context = pipeline.context_for(deck, pipeline.BuildOptions(CONTENT))
    (note,) = [note for note in deck.notes if note.number == 54]  # non-maximum suppression: a Python block
    unwrapped = booklet.part_html(deck, (note,), context)
    with monkeypatch.context() as patch:
        patch.setattr(fragments, "print_code", lambda fragment, stylesheet: fragment)
        wrapped = booklet.part_html(deck, (note,), context)
    spans = len(re.findall(r"<span\b", wrapped)) - len(re.findall(r"<span\b", unwrapped))
    assert spans >= 30, f"only {spans} spans left out: the note's code is not what this test expects"

    def printed(document: str, name: str) -> tuple[list[list[tuple[str, float, float]]], list[Image.Image]]:
        pdf = tmp_path / f"{name}.pdf"
        pdfengine.write(document, CONTENT, context.pdf_roots(CONTENT), pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "100", str(pdf), str(tmp_path / name)], check=True)
        glyphs = [
            [(char["text"], char["x0"], char["top"]) for char in page.chars if char["text"].strip()]
            for page in pdfread.read(pdf)
        ]
        return glyphs, [Image.open(png).convert("L") for png in sorted(tmp_path.glob(f"{name}-*.png"))]

    (glyphs_before, images_before), (glyphs_after, images_after) = printed(wrapped, "wrapped"), printed(unwrapped, "b")
    assert len(glyphs_before) == len(glyphs_after) >= 2
    for number, (before, after) in enumerate(zip(glyphs_before, glyphs_after, strict=True), start=1):
        assert [text for text, _, _ in before] == [text for text, _, _ in after], f"page {number}: other text"
        moved = max((max(abs(a[1] - b[1]), abs(a[2] - b[2])) for a, b in zip(before, after, strict=True)), default=0)
        assert moved < 0.02, f"page {number}: a glyph moved {moved:.3f} pt"
    for number, (before, after) in enumerate(zip(images_before, images_after, strict=True), start=1):
        histogram = ImageChops.difference(before, after).histogram()
        differing = sum(histogram[1:])
        assert differing <= before.width * before.height // 2000, f"page {number}: {differing} pixels differ"
