"""The PDF engine's own behaviour: replaying recorded SVG paths draws exactly what WeasyPrint draws."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from generator import fragments, pdfengine, pdfjoin

# Formulas that share glyphs (x, the sum sign, the fraction bar) so that most paths are replayed.
FORMULAS = [r"x^2 + y^2", r"\sum_{i=1}^{n} x_i", r"\frac{x}{\sum_i e^{x_i}}", r"\sqrt{x^2 + 1} = \sum x"]


def _document() -> str:
    body = "".join(f'<div class="arithmatex">\\[{tex}\\]</div>' for tex in FORMULAS * 3)
    return f"<html><body>{fragments.svg_math(body)}</body></html>"


def test_replayed_paths_give_the_bytes_weasyprint_draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weasy_svg = importlib.import_module("weasyprint.svg")
    original = importlib.import_module("weasyprint.svg.path").path
    replaying = weasy_svg.TAGS["path"]
    assert replaying is not original, "the path replay is not installed: WeasyPrint's SVG module changed shape"
    document = _document()
    options = {"uncompressed_pdf": True}  # readable streams, so that a difference is a difference of operators
    replayed_pdf, plain_pdf = tmp_path / "replayed.pdf", tmp_path / "plain.pdf"
    base, roots = str(tmp_path) + "/", [str(tmp_path)]
    assert pdfengine.write_atomically(document, base, roots, str(replayed_pdf), options) is None
    monkeypatch.setitem(weasy_svg.TAGS, "path", original)
    assert pdfengine.write_atomically(document, base, roots, str(plain_pdf), options) is None
    replayed, plain = replayed_pdf.read_bytes(), plain_pdf.read_bytes()
    assert b" c\n" in plain or b" c " in plain, "the formulas drew no curves: the test draws nothing"
    assert replayed == plain


def test_ctrl_c_while_a_formula_is_drawn_stops_the_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint catches every exception an SVG image raises while drawing, Ctrl-C too: it must not be lost."""
    import signal

    weasy_svg = importlib.import_module("weasyprint.svg")
    drawing = weasy_svg.TAGS["path"]
    calls = 0

    def interrupted_once(svg: object, node: object, font_size: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            signal.raise_signal(signal.SIGINT)  # as a Ctrl-C would, in the middle of the first formula
        drawing(svg, node, font_size)

    monkeypatch.setitem(weasy_svg.TAGS, "path", interrupted_once)
    # Formulas this process drew before are replayed, not drawn: drawn here, so that the interrupt comes mid-drawing.
    svg_image = importlib.import_module("weasyprint.images").SVGImage
    monkeypatch.setattr(svg_image, "draw", svg_image.draw.__wrapped__)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            pdfengine.write_atomically(_document(), str(tmp_path) + "/", [str(tmp_path)], str(tmp_path / "x.pdf"), {})
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not (tmp_path / "x.pdf").exists(), "nothing written"
    assert calls >= 1


def _sized_document() -> str:
    """Each formula twice at each of three type sizes, inline and displayed, and one with text (drawn as it is)."""
    formulas = [*FORMULAS, r"\text{dropout } p = 0.5", r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}"]
    body = "".join(
        f'<div style="font-size:{size}pt"><div class="arithmatex">\\[{tex}\\]</div>'
        f'<p>so <span class="arithmatex">\\({tex}\\)</span> holds</p></div>'
        for size in (7, 10, 13.5)
        for tex in formulas * 2
    )
    return f"<html><body>{fragments.svg_math(body)}</body></html>"


def _svg_walks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every formula drawn afresh from now on, one entry each: a walk of its SVG tree (WeasyPrint's own drawing), or
    its drawing worked out by the converter (`formuladraw`), which stands for the walk; clear it to count afresh."""
    svg_document = importlib.import_module("weasyprint.svg").SVG
    walk = svg_document.draw
    convert = pdfengine._converted
    walks: list[object] = []

    def counted(*args: object) -> None:
        walks.append(None)
        walk(*args)

    def converted(svg: object) -> object:
        entry = convert(svg)
        if entry is not None:
            walks.append(None)
        return entry

    monkeypatch.setattr(svg_document, "draw", counted)
    monkeypatch.setattr(pdfengine, "_converted", converted)
    return walks


def test_replayed_formulas_give_the_bytes_weasyprint_draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A formula drawn before, at any size and in any document of the process, is replayed: same bytes as drawn."""
    svg_image = importlib.import_module("weasyprint.images").SVGImage
    original = getattr(svg_image.draw, "__wrapped__", None)
    assert original is not None, "the formula replay is not installed: WeasyPrint's image module changed shape"
    walks = _svg_walks(monkeypatch)
    document = _sized_document()
    boxes = document.count('class="math"')
    options = {"uncompressed_pdf": True}
    base, roots = str(tmp_path) + "/", [str(tmp_path)]
    first, again, plain = tmp_path / "first.pdf", tmp_path / "again.pdf", tmp_path / "plain.pdf"
    assert pdfengine.write_atomically(document, base, roots, str(first), options) is None
    walks.clear()
    assert pdfengine.write_atomically(document, base, roots, str(again), options) is None
    assert len(walks) < boxes / 2, f"{len(walks)} of {boxes} formulas drawn again: the replay does not work"
    monkeypatch.setattr(svg_image, "draw", original)
    walks.clear()
    assert pdfengine.write_atomically(document, base, roots, str(plain), options) is None
    assert len(walks) == boxes, "WeasyPrint itself drew fewer formulas than the document holds"
    assert b" c\n" in plain.read_bytes(), "the formulas drew no curves: the test draws nothing"
    assert first.read_bytes() == plain.read_bytes()
    assert again.read_bytes() == plain.read_bytes()


def test_a_formula_drawn_by_an_earlier_process_is_replayed_from_the_cache_with_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drawings a build recorded are kept in the cache folder; a later process (here: this one, its memory of
    them cleared) replays them without walking a formula's SVG, and a damaged file is drawn again."""
    walks = _svg_walks(monkeypatch)
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(tmp_path / "cache"))
    memory = pdfengine._RECORDED_FORMULAS
    saved = dict(memory)  # what this process has drawn, put back at the end
    document = _sized_document()
    options = {"uncompressed_pdf": True}
    base, roots = str(tmp_path) + "/", [str(tmp_path)]

    def drawn_afresh(name: str) -> bytes:
        """The document written by a process that has drawn nothing yet (an empty memory, the cache as it is)."""
        memory.clear()
        walks.clear()
        assert pdfengine.write_atomically(document, base, roots, str(tmp_path / name), options) is None
        return (tmp_path / name).read_bytes()

    try:
        first = drawn_afresh("first.pdf")
        walked_first = len(walks)
        kept = sorted((tmp_path / "cache" / "drawn").rglob("*.json"))
        assert walked_first >= 8 and len(kept) >= 8, "the formulas were drawn, each once, and kept"
        again = drawn_afresh("again.pdf")
        assert len(walks) <= walked_first - len(kept), f"{len(walks)} walked again though {len(kept)} were kept"
        assert again == first
        kept[0].write_text('{"before": ["q"], "after": [7], "states": {}}', encoding="utf-8")  # not operators
        kept[1].write_bytes(b"\xff not json")
        damaged = drawn_afresh("damaged.pdf")
        assert len(walks) == walked_first - len(kept) + 2, "the two damaged drawings were walked again, and only they"
        assert damaged == first
    finally:
        memory.clear()
        memory.update(saved)


def test_page_references_built_once_give_the_bytes_of_pydyf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tagged document of several pages: its structure tree names each element's page, from the kept tuple."""
    pdf_class = importlib.import_module("pydyf").PDF
    kept = pdf_class.page_references.fget
    original = getattr(kept, "__wrapped__", None)
    assert original is not None, "the page references are not kept: pydyf changed shape"
    paragraphs = "".join(f"<h2>Question {n}</h2><p>{'Words on a page. ' * 60}</p>" for n in range(12))
    document = f"<html lang='en'><head><title>t</title></head><body>{paragraphs}</body></html>"
    base, roots = str(tmp_path) + "/", [str(tmp_path)]
    options = {**pdfengine.PDF_OPTIONS, "uncompressed_pdf": True}
    assert pdfengine.write_atomically(document, base, roots, str(tmp_path / "kept.pdf"), options) is None
    monkeypatch.setattr(pdf_class, "page_references", property(original))
    assert pdfengine.write_atomically(document, base, roots, str(tmp_path / "plain.pdf"), options) is None
    assert (pdfjoin.pages_in(tmp_path / "plain.pdf") or 0) >= 3, "one page: every element is on the first"
    assert (tmp_path / "kept.pdf").read_bytes() == (tmp_path / "plain.pdf").read_bytes()


_NUMBERS = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 1e-300, 1e300]),
)
_ROWS = st.lists(_NUMBERS, min_size=3, max_size=3)


@given(left=st.lists(_ROWS, min_size=1, max_size=3), right=st.lists(_ROWS, min_size=3, max_size=3))
@example(left=[[1.0, 1e16, -1e16]], right=[[1, 0, 0], [1, 0, 0], [1, 0, 0]])  # summed in another order: 1.0, not 0.0
def test_matrix_products_are_weasyprints_to_the_last_bit(left: list[list[float]], right: list[list[float]]) -> None:
    matrix = importlib.import_module("weasyprint.matrix").Matrix
    original = getattr(matrix.__matmul__, "__wrapped__", None)
    assert original is not None, "the faster product is not installed: WeasyPrint's matrices changed shape"
    fast, plain = matrix(matrix=left) @ matrix(matrix=right), original(matrix(matrix=left), matrix(matrix=right))
    assert type(fast) is type(plain)
    assert repr(fast) == repr(plain)  # repr tells -0.0 from 0.0, and an int from a float


_URLS = [
    "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=",
    "  spaced.svg  ",
    "a b.svg",
    "'quoted.svg'",
    '"double.svg"',
    "esc\\)aped.svg",
    "bad(url.svg",
    "tab\there.svg",
    "ctrl\x01.svg",
    "form\x0cfeed\r.svg",
    "",
    "fig.svg) no-repeat, url(other.svg",
]


@pytest.mark.parametrize("url", _URLS)
@pytest.mark.parametrize("closed", [True, False])
def test_css_urls_read_as_tinycss2_reads_them(url: str, closed: bool) -> None:
    """Each `url(...)` tokenizes to what tinycss2's own character-by-character reading gives, the error included."""
    tokenizer = importlib.import_module("tinycss2.tokenizer")
    css = f"background: url({url}{')' if closed else ''}) 0 0 / 100% no-repeat; color: red"
    fast = tokenizer.parse_component_value_list(css)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(tokenizer, "_consume_url", tokenizer._consume_url.__wrapped__)
        patched.setattr(tokenizer, "serialize_url", tokenizer.serialize_url.__wrapped__)
        plain = tokenizer.parse_component_value_list(css)
    assert [(type(token), getattr(token, "value", None), token.serialize()) for token in fast] == [
        (type(token), getattr(token, "value", None), token.serialize()) for token in plain
    ]


@given(st.text(alphabet=st.sampled_from("ab/:;,=+ \t\n\r\x0c\x00\x01\x7f\\\"'()é"), max_size=24))
def test_any_css_url_reads_as_tinycss2_reads_it(url: str) -> None:
    test_css_urls_read_as_tinycss2_reads_them(url, True)


def test_weasyprints_libraries_are_found_in_the_linker_cache_without_a_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """While WeasyPrint loads, a library name is answered from one listing of the linker's cache, as ctypes' own first
    step answers it: no gcc or ld run per name (22 names, 280 ms of every PDF build's start)."""
    import ctypes.util
    import shutil
    import subprocess

    if not (shutil.which("ldconfig") or Path("/sbin/ldconfig").exists()):
        pytest.skip("no ldconfig: not a Linux machine, where nothing changes")
    names = ["pango-1.0", "harfbuzz", "fontconfig", "pangoft2-1.0", "pango-1.0-0", "libpango-1.0-0", "no-such-lib"]
    original = ctypes.util.find_library
    expected = {name: original(name) for name in names}
    assert expected["pango-1.0"] and expected["pango-1.0-0"] is None
    started: list[Any] = []
    real_popen = subprocess.Popen

    class CountedPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, *arguments: Any, **options: Any) -> None:
            started.append(arguments[0])
            super().__init__(*arguments, **options)

    monkeypatch.setattr(subprocess, "Popen", CountedPopen)
    with pdfengine._libraries_found_in_the_linker_cache():
        assert {name: ctypes.util.find_library(name) for name in names} == expected
    assert len(started) == 1, started  # ldconfig -p, once
    assert ctypes.util.find_library is original


_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>'


@pytest.mark.parametrize(
    "url",
    [
        fragments.mathrender.render("x^2", False).data_uri,
        "data:image/svg+xml;base64," + __import__("base64").b64encode(_SVG.encode()).decode(),
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/svg+xml;charset=utf-8;base64,PHN2Zy8+",  # a parameter: urllib's way
        "data:image/svg+xml,%3Csvg%2F%3E",  # not base64: urllib's way
    ],
)
def test_a_data_uri_reads_as_weasyprints_own_fetcher_reads_it(url: str) -> None:
    """The fetcher's quick way with studykit's data: URIs gives what WeasyPrint's fetcher (urllib) gives."""
    from weasyprint.urls import URLFetcher

    fetcher = pdfengine.ContentOnlyFetcher([Path(".")])
    ours, theirs = (
        (response.read(), response.content_type, response.charset, response.url, response.status)
        for response in (fetcher.fetch(url), URLFetcher.fetch(fetcher, url))
    )
    assert ours == theirs and ours[0]


def test_a_broken_data_uri_fails_as_weasyprints_own_fetcher_fails() -> None:
    from weasyprint.urls import URLFetcher

    fetcher = pdfengine.ContentOnlyFetcher([Path(".")])
    with pytest.raises(ValueError):
        URLFetcher.fetch(fetcher, "data:image/png;base64,abc")
    with pytest.raises(ValueError):
        fetcher.fetch("data:image/png;base64,abc")


def test_a_pdf_cut_short_does_not_end_whole(tmp_path: Path) -> None:
    whole = tmp_path / "whole.pdf"
    pdfengine.write("<p>one page</p>", tmp_path, [tmp_path], whole)
    assert pdfjoin.ends_whole(whole) and pdfjoin.pages_in(whole) == 1
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole.read_bytes()[:-10])
    assert not pdfjoin.ends_whole(cut) and not pdfjoin.ends_whole(tmp_path / "missing.pdf")
