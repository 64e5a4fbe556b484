"""The study page: self-contained, math as SVG, and working in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from generator import build as pipeline
from tests.browser import SharedTab, needs_chromium


@pytest.fixture(scope="module")
def page_html(outputs: dict[str, Path]) -> str:
    return outputs["html"].read_text(encoding="utf-8")


def test_fifteen_questions(page_html: str, built: pipeline.BuildReport) -> None:
    articles = re.findall(r'<article class="note" id="q(\d+)"', page_html)
    assert [int(n) for n in articles] == [note.number for note in built.deck.notes] == list(range(51, 66))


def test_math_is_svg_with_tex_labels(page_html: str) -> None:
    formulas = re.findall(r'<svg class="math"[^>]*>', page_html)
    assert len(formulas) > 100
    for formula in formulas:
        assert 'role="img"' in formula and re.search(r'aria-label="[^"]+"', formula), formula
    assert '<img class="math"' not in page_html, "every formula's glyphs went into the shared set"
    assert "arithmatex" not in page_html
    assert "\\(" not in re.sub(r"<script>.*?</script>", "", page_html, flags=re.DOTALL)


def test_glyphs_are_defined_once_and_every_use_finds_its_glyph(page_html: str) -> None:
    # The glyph definitions the math engine hands over: one element with an id each, in the hidden SVG at the end.
    glyph_set = re.search(r'<svg class="math-glyphs"[^>]*>(.*?)</svg>', page_html, re.DOTALL)
    assert glyph_set, "no shared glyph set"
    defined = re.findall(r'<(?:symbol|path)\b[^>]*\bid="([^"]+)"', glyph_set.group(1))
    used = set(re.findall(r'<use href="#([^"]+)"', page_html))
    assert len(defined) == len(set(defined)), "a glyph defined twice"
    assert used == set(defined), (used - set(defined), set(defined) - used)
    formulas = len(re.findall(r'<svg class="math"', page_html))
    assert len(defined) < formulas, "glyphs are shared between formulas"
    assert 'fill="black"' not in page_html, "formulas take the text colour (dark mode)"


def test_nothing_refers_outside_the_file(page_html: str) -> None:
    for attribute, url in re.findall(r'\b(src|href)="([^"]*)"', page_html):
        assert url.startswith(("#", "data:")) or (attribute == "href" and url.startswith("https://")), url
    assert "@import" not in page_html and not re.search(r"url\((?!data:)", page_html)


def test_an_english_page_carries_no_font(page_html: str) -> None:
    """No CJK character, no embedded font: the page is what it was before pages could carry one."""
    assert "@font-face" not in page_html and "font-src" not in page_html and "document.fonts" not in page_html
    assert '"studykit CJK"' not in page_html


@pytest.fixture
def page(tab: SharedTab, outputs: dict[str, Path]) -> Any:
    page = tab.open(outputs["html"].as_uri())
    page.requests = tab.requests
    return page


def visible_numbers(page: Any) -> list[int]:
    return [int(x[1:]) for x in page.eval_on_selector_all("article.note:not([hidden])", "els => els.map(e => e.id)")]


@needs_chromium
def test_no_request_leaves_the_file(page: Any, outputs: dict[str, Path]) -> None:
    page.wait_for_load_state("networkidle")
    outside = [url for url in page.requests if not url.startswith("data:") and url != outputs["html"].as_uri()]
    assert outside == []


@needs_chromium
def test_every_formula_is_drawn(page: Any) -> None:
    # Each formula has a size, and each glyph it places resolves to an outline that has one.
    empty = page.eval_on_selector_all(
        "svg.math",
        """els => els.filter(svg => {
            const box = svg.getBoundingClientRect();
            const uses = [...svg.querySelectorAll('use')];
            return box.width <= 0 || box.height <= 0 || uses.length === 0 || !uses.some(u => u.getBBox().width > 0);
        }).map(svg => svg.getAttribute('aria-label'))""",
    )
    assert empty == []


@needs_chromium
def test_search_narrows_the_list(page: Any) -> None:
    assert len(visible_numbers(page)) == 15
    page.fill("#search", "selective search")
    shown = visible_numbers(page)
    assert 53 in shown and len(shown) < 15
    page.fill("#search", "zzzz-no-such-words")
    assert visible_numbers(page) == []
    assert page.is_visible("#empty")
    page.fill("#search", "")
    assert len(visible_numbers(page)) == 15


@needs_chromium
def test_tag_filter(page: Any, built: pipeline.BuildReport) -> None:
    page.check('input[name="tag"][value="rnn"]')
    expected = [note.number for note in built.deck.notes if "rnn" in note.tags]
    assert visible_numbers(page) == expected and expected


@needs_chromium
def test_quiz_mode_hides_and_reveals_by_click_and_keyboard(page: Any) -> None:
    answer = "#a51"
    assert page.is_visible(answer)
    page.check("#quiz")
    assert not page.is_visible(answer)
    page.click("#q51 button.reveal")
    assert page.is_visible(answer)
    page.click("#hide-all")
    assert not page.is_visible(answer)
    page.focus("#q51 button.reveal")
    page.keyboard.press("Enter")
    assert page.is_visible(answer)
    page.click("#reveal-all")
    assert page.is_visible("#a65")


@needs_chromium
def test_known_marks_survive_a_reload(page: Any) -> None:
    page.check("#q52 .known-box")
    page.reload()
    assert page.is_checked("#q52 .known-box")
    page.check("#hide-known")
    assert 52 not in visible_numbers(page)


@needs_chromium
def test_dark_mode_follows_the_system(tab: SharedTab, outputs: dict[str, Path]) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        page = tab.open(outputs["html"].as_uri(), color_scheme=scheme)
        colours[scheme] = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert colours["light"] != colours["dark"]
    assert colours["dark"] in ("rgb(23, 24, 27)",)
