"""generator/fragments.py: a note's HTML turned into what each output needs (Anki's TeX, images, formula size)."""

from __future__ import annotations

import pytest

from generator.fragments import math_image, math_style, rewrite_images, tex_math
from generator.mathrender import RenderedMath

INLINE = '<p>Let <span class="arithmatex">\\(a &lt; b_1\\)</span> hold.</p>'
DISPLAY = '<div class="arithmatex">\\[\n\\sum_i x_i \\\\ y\n\\]</div>'


@pytest.mark.parametrize("cloze_safe", [False, True])
def test_tex_math_keeps_mathjax_delimiters_and_escapes(cloze_safe: bool) -> None:
    assert tex_math(INLINE, cloze_safe) == "<p>Let \\(a &lt; b_1\\) hold.</p>"
    # Display math loses arithmatex's blank lines and keeps a wrapper that scrolls on a narrow card.
    assert tex_math(DISPLAY, cloze_safe) == '<div class="math-display">\\[\\sum_i x_i \\\\ y\\]</div>'


def test_tex_math_leaves_a_fragment_without_math_alone() -> None:
    fragment = "<p>No math, just \\(text\\) written by hand and a <span>span</span>.</p>"
    assert tex_math(fragment) == fragment
    assert tex_math(fragment, cloze_safe=True) == fragment


def test_tex_math_escapes_an_ampersand_for_anki() -> None:
    fragment = '<span class="arithmatex">\\(\\begin{pmatrix} a &amp; b \\end{pmatrix}\\)</span>'
    expected = "\\(\\begin{pmatrix} a &amp; b \\end{pmatrix}\\)"
    assert tex_math(fragment) == expected
    assert tex_math(fragment, cloze_safe=True) == expected


def test_cloze_safe_math_spaces_out_every_brace_pair_but_the_deletions_end() -> None:
    fragment = '<span class="arithmatex">\\({{c1::\\frac{a}{b^{2}}}} + {y^{2}}\\)</span>'
    assert tex_math(fragment, cloze_safe=True) == "\\({{c1::\\frac{a}{b^{2} } }} + {y^{2} }\\)"
    # Without cloze_safe the TeX is left exactly as written.
    assert tex_math(fragment) == "\\({{c1::\\frac{a}{b^{2}}}} + {y^{2}}\\)"


def test_rewrite_images_rewrites_paths_only() -> None:
    fragment = (
        '<p><img alt="a" src="figures/a.svg"> <IMG class="x" SRC="figures/b&amp;c.png">'
        ' <img src="data:image/gif;base64,R0lG" alt="d"> <img src="#top" alt="e"></p>'
    )
    seen: list[str] = []

    def flatten(path: str) -> str:
        seen.append(path)
        return path.replace("/", "-")

    assert rewrite_images(fragment, flatten) == (
        '<p><img alt="a" src="figures-a.svg"> <IMG class="x" SRC="figures-b&amp;c.png">'
        ' <img src="data:image/gif;base64,R0lG" alt="d"> <img src="#top" alt="e"></p>'
    )
    assert seen == ["figures/a.svg", "figures/b&c.png"], "the rewrite sees the path unescaped"


def test_rewrite_images_escapes_what_it_writes_back() -> None:
    assert rewrite_images('<img src="a.svg">', lambda _: 'x"y<z>.svg') == '<img src="x&quot;y&lt;z&gt;.svg">'


def test_rewrite_images_without_an_image_returns_the_fragment_itself() -> None:
    fragment = "<p>source: images are in figures/a.svg</p>"
    assert rewrite_images(fragment, lambda _: pytest.fail("no image to rewrite")) is fragment


def rendered(width: float, height: float, depth: float, tex: str = "a < b") -> RenderedMath:
    return RenderedMath(
        tex=tex,
        display=False,
        svg="<svg/>",
        view_box="0 0 1 1",
        body="",
        glyphs=(),
        width_em=width,
        height_em=height,
        depth_em=depth,
    )


@pytest.mark.parametrize(
    ("sizes", "style"),
    [
        ((1.23456, 2.0, 0.25), "width:1.235em;height:2.000em;vertical-align:-0.250em"),
        ((10.0, 0.9994, 0.3336), "width:10.000em;height:0.999em;vertical-align:-0.334em"),
        # A formula that rises above the baseline (negative depth) is shifted up.
        ((0.5, 0.5, -0.1), "width:0.500em;height:0.500em;vertical-align:0.100em"),
    ],
)
def test_math_style_sizes_in_em_with_the_baseline_on_the_texts(sizes: tuple[float, float, float], style: str) -> None:
    assert math_style(rendered(*sizes)) == style


def test_math_image_holds_its_svg_and_its_tex_as_alt_text() -> None:
    assert math_image(rendered(1.0, 1.5, 0.5, tex='a < b & "c"')) == (
        '<img class="math" role="math" src="data:image/svg+xml;base64,PHN2Zy8+"'
        ' alt="a &lt; b &amp; &quot;c&quot;" style="width:1.000em;height:1.500em;vertical-align:-0.500em">'
    )
