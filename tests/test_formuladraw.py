"""The formula converter (generator/formuladraw.py) records, for every SVG it accepts, exactly what WeasyPrint's walk
records: the same operator bytes, the same opacity states, compared as `pdfengine` keeps them (`repr`, so that an int
is not taken for a float). The walk's entry is the one pdfengine's formula replay records when it walks the SVG."""

from __future__ import annotations

import base64
import hashlib
import importlib
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest

from generator import formuladraw, mathrender, pdfengine
from tests.test_mathjax_engine import _corpus

# Corpus formulas compared, picked by a hash of their TeX (varied, and the same each run): about 3 s with the
# formulas to render, the walks taking most of it.
SAMPLE = 100
# The share of them the converter must take: those it leaves (\text in a script MathJax has no glyphs for, drawn as
# <text>) are walked as before.
MIN_ACCEPTED = 0.95

Entry = tuple[list[Any], list[Any], dict[str, dict[str, Any]]]


def _image(svg: str) -> tuple[str, Any]:
    url = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    svg_image = importlib.import_module("weasyprint.images").SVGImage
    return url, svg_image(ElementTree.fromstring(svg.encode("utf-8")), url, None, None)


@pytest.fixture
def walked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """What pdfengine's replay records when it walks an SVG (the converter, and the kept drawings, out of its way)."""
    memory = pdfengine._RECORDED_FORMULAS
    saved = dict(memory)
    monkeypatch.setattr(pdfengine._KEPT_DRAWINGS, "load", lambda url: None)
    monkeypatch.setattr(pdfengine._KEPT_DRAWINGS, "save", lambda url, entry: None)
    converted = pdfengine._converted

    def walk(svg: str) -> Entry | None:
        url, image = _image(svg)
        memory.pop(url, None)
        monkeypatch.setattr(pdfengine, "_converted", lambda svg: None)
        try:
            found = formuladraw.engine()
            assert found is not None
            # A fresh stream in its starting state, as the group a formula is drawn on as a background.
            image.draw(found.scratch(), 123.5, 17.25, None)
        finally:
            monkeypatch.setattr(pdfengine, "_converted", converted)
        return memory.pop(url, None)

    try:
        yield walk
    finally:
        memory.clear()
        memory.update(saved)


def _converted(svg: str) -> Entry | None:
    return pdfengine._converted(_image(svg)[1]._svg)


def _sample() -> list[str]:
    """The sample's SVGs, as MathJax draws them for the PDFs (through the math cache, as a build reads them)."""
    chosen = sorted(_corpus(), key=lambda formula: hashlib.sha256(formula[0].encode("utf-8")).hexdigest())[:SAMPLE]
    mathrender.prerender(chosen, 1)
    drawn = []
    for tex, display in chosen:
        try:
            drawn.append(mathrender.render(tex, display).svg)
        except mathrender.MathRenderError:
            continue
    return drawn


def test_the_converter_records_what_the_walk_records_for_corpus_formulas(walked: Any) -> None:
    assert formuladraw.engine() is not None, "the converter is off: WeasyPrint's SVG code changed shape"
    sample = _sample()
    assert len(sample) >= SAMPLE * 0.9, "most of the sample draws"
    accepted = 0
    for svg in sample:
        converted = _converted(svg)  # first: the walk memoizes each path, the converter must work without it too
        if converted is None:
            continue
        accepted += 1
        assert repr(converted) == repr(walked(svg)), f"the converter draws this otherwise than WeasyPrint:\n{svg}"
    share = accepted / len(sample)
    print(f"converter accepted {accepted} of {len(sample)} corpus formulas ({share:.1%})")
    assert share >= MIN_ACCEPTED, f"the converter took only {share:.1%} of the corpus formulas"


_HEAD = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 -800 2000 1000">'
_GLYPH = '<path id="g" d="M10 20L300 -40Q400 100 500 20T600 0H700V-50C10 20 30 40 50 60S1 2 3 4Z"/>'
_DOT = '<path id="dot" d="m 5,5 h 10 v 10 h -10 z m 20 0 l 5 5 z"/>'


def _formula(body: str, defs: str = _GLYPH + _DOT) -> str:
    group = '<g stroke="currentColor" fill="currentColor" stroke-width="0" transform="scale(1,-1)">'
    return f"{_HEAD}<defs>{defs}</defs>{group}{body}</g></svg>"


# Variations on MathJax's output the converter takes: each must give the walk's entry.
ACCEPTED = [
    _formula('<use href="#g"/>'),
    _formula('<g transform="translate(10,20) scale(0.707)"><use href="#g" transform="translate(5 0)"/></g>'),
    _formula('<use href="#g" x="12.5" y="-3"/><use href="#dot" x="1e2"/>'),
    _formula('<g transform="rotate(30) skewX(10) matrix(1 0.5 0 1 3 4)"><use href="#g"/></g>'),
    _formula('<g transform="scale(0)"><use href="#g"/></g><g transform="translate(1em, 10%)"><use href="#dot"/></g>'),
    _formula('<g></g><g><g><title>x</title><desc>y</desc></g></g><use href="#g"/>'),
    _formula('<rect width="300" height="60" x="0" y="220"/><rect width="0" height="5"/><rect width="5" height="-1"/>'),
    _formula('<rect width="300" height="60" rx="10"/><rect width="30%" height="2em" ry="3" x="1" y="1"/>'),
    _formula('<g fill="red" stroke="#00ff00" stroke-width="12"><use href="#g"/><rect width="9" height="9"/></g>'),
    _formula('<g color="blue"><use href="#g" fill="currentColor"/></g><g fill="none"><use href="#dot"/></g>'),
    _formula(
        '<g fill="rgb(10,20,30)" fill-opacity="0.5" stroke="black" stroke-opacity="50%" stroke-width="3">'
        '<use href="#g"/></g><use href="#g" fill-rule="evenodd"/>'
    ),
    _formula(
        '<g stroke="black" stroke-width="2" stroke-dasharray="4 2" stroke-dashoffset="-1"'
        ' stroke-linecap="round" stroke-linejoin="bevel" stroke-miterlimit="2"><use href="#g"/></g>'
    ),
    _formula(
        '<g display="none"><use href="#g"/></g><g visibility="hidden"><use href="#g"/><g visibility="visible">'
        '<use href="#dot"/></g></g><use href="#g" display="none"/>'
    ),
    _formula(
        '<svg width="667" height="1802" y="-651" x="0" viewBox="0 450.5 667 1802"><use href="#g"'
        ' transform="scale(1,4.49)"/></svg><rect width="10%" height="5"/>'
    ),
    _formula(
        '<svg width="60" height="80" viewBox="0 0 30 40" preserveAspectRatio="xMinYMax slice"><svg x="1"'
        ' width="5" height="5"><rect width="50%" height="1"/></svg><rect width="50%" height="1"/></svg>'
    ),
    _formula(
        '<line x1="0" y1="0" x2="100" y2="50" stroke="black" stroke-width="5"/>'
        '<polyline points="0,0 10,10 20,0"/><polygon points="0 0 10 10 20 0" fill="teal"/>'
    ),
    _formula('<path d="M0 0L10 10"/><path d="M 0 0 A 10 20 30 1 1 50 50"/><use href="#g" stroke-width="1em"/>'),
]

# What it must leave to the walk: text, styles, opacity groups, clips, xlink, a <use> of other than a path, ...
DECLINED = [
    _formula('<text font-size="884px">漢</text>'),
    _formula('<use href="#g" style="fill:red"/>'),
    _formula('<use href="#g" class="x"/>'),
    _formula('<g opacity="0.5"><use href="#g"/></g>'),
    _formula('<use href="#g" clip-path="url(#c)"/>'),
    _formula('<use href="#g" fill="url(#grad)"/>'),
    _formula('<use href="#g" fill="context-stroke"/>'),
    _formula('<use href="#g" fill="inherit"/>'),
    _formula('<use xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="#g"/>'),
    _formula('<use href="#nothing"/>'),
    _formula('<use href="#h"/>', defs='<g id="h"><use href="#g"/></g>' + _GLYPH),
    _formula('<use href="#g" font-size="2"/>'),
    _formula('<circle r="5"/>'),
    _formula('<rect width="5" height="5"><title>t</title></rect>'),
    _formula('<svg x="1"><use href="#g"/></svg>'),
    _formula('<path d="M 1 2 L 3"/>'),
    _formula('<use href="#g" data-mml-node="mi"/>'),
    '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L1 1"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1" transform="scale(2)"><path d="M0 0L1 1"/></svg>',
]


@pytest.mark.parametrize("svg", ACCEPTED)
def test_the_converter_takes_these_and_draws_them_as_the_walk_does(svg: str, walked: Any) -> None:
    converted = _converted(svg)
    assert converted is not None, "the converter declined it"
    assert repr(converted) == repr(walked(svg))


@pytest.mark.parametrize("svg", DECLINED)
def test_the_converter_leaves_these_to_the_walk(svg: str) -> None:
    assert _converted(svg) is None


def test_a_document_drawn_with_the_converter_is_the_document_weasyprint_draws(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end, in a fresh process's state (nothing recorded, nothing kept): formulas at two sizes, inline and
    displayed, a matrix (a nested <svg> for each bracket), a colour: the PDF is byte for byte WeasyPrint's own."""
    from generator import fragments

    formulas = [r"\sum_{i=1}^{n} x_i^2", r"\begin{bmatrix} a & b \\ c & d \end{bmatrix}", r"\color{red}{\sqrt{x}}"]
    body = "".join(
        f'<div style="font-size:{size}pt"><div class="arithmatex">\\[{tex}\\]</div>'
        f'<p>so <span class="arithmatex">\\({tex}\\)</span> holds</p></div>'
        for size in (7, 13.5)
        for tex in formulas
    )

    memory = pdfengine._RECORDED_FORMULAS
    saved = dict(memory)
    monkeypatch.setattr(pdfengine._KEPT_DRAWINGS, "load", lambda url: None)
    monkeypatch.setattr(pdfengine._KEPT_DRAWINGS, "save", lambda url, entry: None)
    convert = pdfengine._converted
    conversions: list[object] = []

    def counted(svg: object) -> Entry | None:
        entry = convert(svg)
        conversions.append(entry)
        return entry

    monkeypatch.setattr(pdfengine, "_converted", counted)
    document, options = f"<html><body>{fragments.svg_math(body)}</body></html>", {"uncompressed_pdf": True}
    base, roots = str(tmp_path) + "/", [str(tmp_path)]
    try:
        memory.clear()
        assert pdfengine.write_atomically(document, base, roots, str(tmp_path / "converted.pdf"), options) is None
        svg_image = importlib.import_module("weasyprint.images").SVGImage
        monkeypatch.setattr(svg_image, "draw", svg_image.draw.__wrapped__)
        assert pdfengine.write_atomically(document, base, roots, str(tmp_path / "walked.pdf"), options) is None
    finally:
        memory.clear()
        memory.update(saved)
    assert sum(entry is not None for entry in conversions) >= 4, "the converter drew the formulas"
    assert (tmp_path / "converted.pdf").read_bytes() == (tmp_path / "walked.pdf").read_bytes()
