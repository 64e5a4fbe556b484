"""The PDF engine's own behaviour: replaying recorded SVG paths draws exactly what WeasyPrint draws."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from generator import fragments, pdfengine

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
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            pdfengine.write_atomically(_document(), str(tmp_path) + "/", [str(tmp_path)], str(tmp_path / "x.pdf"), {})
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not (tmp_path / "x.pdf").exists(), "nothing written"
    assert calls >= 1
