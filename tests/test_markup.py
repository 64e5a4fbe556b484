"""generator/markup.py: Markdown to HTML with math kept out of Markdown's way, and unclosed dollars found."""

from __future__ import annotations

import pytest

from generator.markup import Converter, MathMatch, TooDeep, iter_math, replace_math, stray_dollars, visible_text


@pytest.fixture(scope="module")
def convert() -> Converter:
    return Converter()


def test_underscores_and_stars_inside_inline_math_are_not_emphasis(convert: Converter) -> None:
    # Outside math, `_1 * y_2$ and $a_i *` would turn into <em>…</em>.
    assert convert.html("A $x_1 * y_2$ and $a_i * b_i$.") == (
        '<p>A <span class="arithmatex">\\(x_1 * y_2\\)</span> and <span class="arithmatex">\\(a_i * b_i\\)</span>.</p>'
    )
    assert convert.html("Both _x_ and *y* outside.") == "<p>Both <em>x</em> and <em>y</em> outside.</p>"


def test_a_double_backslash_inside_math_stays_double(convert: Converter) -> None:
    # Markdown reads `\\` in prose as an escaped backslash, one `\`; a matrix row break needs both.
    assert convert.html("$a \\\\ b$") == '<p><span class="arithmatex">\\(a \\\\ b\\)</span></p>'
    assert convert.html("a \\\\ b") == "<p>a \\ b</p>"


def test_paren_delimiters_are_math_too(convert: Converter) -> None:
    assert convert.html("so \\(a_1 * b_1\\) here") == '<p>so <span class="arithmatex">\\(a_1 * b_1\\)</span> here</p>'


def test_a_display_block_is_one_formula_outside_any_paragraph(convert: Converter) -> None:
    html = convert.html("Before.\n\n$$\n\\frac{a_1}{b_2} * c_3 \\\\ d\n$$\n\nAfter.")
    assert html.startswith('<p>Before.</p>\n<div class="arithmatex">\\[')
    assert html.endswith("\\]</div>\n<p>After.</p>")
    assert list(iter_math(html)) == [MathMatch("\\frac{a_1}{b_2} * c_3 \\\\ d", display=True)]
    assert "<em>" not in html


def test_an_escaped_dollar_stays_a_dollar(convert: Converter) -> None:
    html = convert.html("It costs \\$5, or \\$x and \\$y.")
    assert html == "<p>It costs $5, or $x and $y.</p>"
    assert list(iter_math(html)) == []


def test_html_special_characters_in_math_are_escaped_and_read_back(convert: Converter) -> None:
    html = convert.html("If $a < b$ & more")
    assert '<span class="arithmatex">\\(a &lt; b\\)</span>' in html
    assert list(iter_math(html)) == [MathMatch("a < b", display=False)]


def test_replace_math_hands_over_each_formula_in_order() -> None:
    fragment = (
        '<p>x <span class="arithmatex">\\(a &amp; b\\)</span> y</p>\n<div class="arithmatex">\\[\n  z^2\n\\]</div>'
    )
    seen: list[MathMatch] = []

    def render(found: MathMatch) -> str:
        seen.append(found)
        return f"[{'D' if found.display else 'I'}:{found.tex}]"

    assert replace_math(fragment, render) == "<p>x [I:a & b] y</p>\n[D:z^2]"
    assert seen == [MathMatch("a & b", False), MathMatch("z^2", True)]


def test_visible_text_drops_math_code_and_tags() -> None:
    fragment = '<p>Say <span class="arithmatex">\\(x\\)</span> and <code>$y</code>, &amp; <b>bold</b></p>'
    assert visible_text(fragment).split() == ["Say", "and", ",", "&", "bold"]


def test_an_unclosed_dollar_is_found_with_its_surroundings(convert: Converter) -> None:
    (stray,) = stray_dollars(convert.html("Oops $x + y here and $5 fine."))
    assert stray.snippet == "Oops $x + y here and $5 f"
    assert stray.after == "x + y here and $5 fine. "


@pytest.mark.parametrize(
    ("markdown", "count"),
    [
        ("It costs $5, or $ 3, US$ 7, $.50 and $,", 0),  # money and lone dollars are fine
        ("Closed $x$ and $$y$$ here.", 0),
        ("An open $x here.", 1),
        ("Display never closed:\n\n$$\nz = x + y\n\nThe end.", 1),  # `$$` is one problem, not two
        ("Three $$$ in a row", 1),
        ("Code `$x` is not prose.", 0),
        ("Escaped \\$x is meant.", 1),  # the author asked for a dollar before a letter: still suspicious
    ],
)
def test_stray_dollars(convert: Converter, markdown: str, count: int) -> None:
    assert len(stray_dollars(convert.html(markdown))) == count, convert.html(markdown)


def test_a_note_too_deep_for_markdown_does_not_spoil_the_next_one() -> None:
    """Python-Markdown gives up on deep nesting halfway through; the next note must convert as on a fresh start."""
    text = "- A step:\n\n    <!-- key -->\n    $$\n    x^2\n    $$\n\n- Another step.\n"
    expected = Converter().html(text)
    converter = Converter()
    with pytest.raises(TooDeep):
        converter.html("\n".join("    " * level + "- item" for level in range(400)))
    assert converter.html(text) == expected
