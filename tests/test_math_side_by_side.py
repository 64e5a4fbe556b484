"""Thirty real formulas as studykit prints them (PDF page to PNG) beside Anki's MathJax in Chromium.

The formulas are picked from the corpus (tests/corpus/formulas) by a hash, so the set is varied and fixed. Both
pictures are kept in tests/artifacts/math/ to look at; the test checks that every formula drew on both sides and
that studykit's widths agree with those MathJax itself gives the formulas in the browser (up to one common
scale factor: MathJax sizes math in ex of the surrounding text).
"""

from __future__ import annotations

import csv
import hashlib
import html
import shutil
import subprocess
from pathlib import Path

import pytest

from generator import mathrender
from tests.browser import SharedTab, needs_chromium
from tests.conftest import ROOT

CORPUS = ROOT / "tests" / "corpus" / "formulas" / "formulas.tsv"
MATHJAX = ROOT / "tools" / "node_modules" / "mathjax" / "es5" / "tex-svg.js"
ARTIFACTS = ROOT / "tests" / "artifacts" / "math"
COUNT = 30


def thirty() -> list[tuple[str, bool]]:
    with CORPUS.open(encoding="utf-8") as rows:
        formulas = [
            (row["tex"].replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\"), row["display"] == "1")
            for row in csv.DictReader(rows, delimiter="\t")
        ]

    # Varied: half inline, half display, chosen by a hash of the TeX among those of a readable length that draw.
    def key(item: tuple[str, bool]) -> str:
        return hashlib.sha256(item[0].encode("utf-8")).hexdigest()

    def first_drawn(candidates: list[tuple[str, bool]], count: int) -> list[tuple[str, bool]]:
        """The first `count` that draw, in hash order (drawn one by one: the corpus holds well over a thousand)."""
        chosen = []
        for tex, display in sorted(candidates, key=key):
            if len(chosen) == count:
                break
            try:
                mathrender.render(tex, display)
            except mathrender.MathRenderError:
                continue
            chosen.append((tex, display))
        return chosen

    inline = first_drawn([f for f in formulas if not f[1] and 8 <= len(f[0]) <= 120], COUNT // 2)
    display = first_drawn([f for f in formulas if f[1] and 20 <= len(f[0]) <= 160], COUNT - len(inline))
    return inline + display


@pytest.fixture(scope="module")
def formulas() -> list[tuple[str, bool]]:
    chosen = thirty()
    assert len(chosen) == COUNT
    return chosen


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils absent (pdftoppm)")
def test_studykit_prints_each_formula(formulas: list[tuple[str, bool]], tmp_path: Path) -> None:
    from generator import fragments, pdfengine

    rows = "".join(
        f'<tr><td class="n">{number}</td><td>{fragments.svg_math(_span(tex, display))}</td></tr>'
        for number, (tex, display) in enumerate(formulas, start=1)
    )
    document = (
        "<html><head><style>@page { size: A4; margin: 10mm } body { font: 11pt 'DejaVu Serif', serif }"
        " td { padding: 2mm; border-bottom: 0.3pt solid #ccc } .n { color: #888 }</style></head>"
        f"<body><h3>studykit (MathJax in V8, printed by WeasyPrint)</h3><table>{rows}</table></body></html>"
    )
    target = tmp_path / "formulas.pdf"
    pdfengine.write(document, tmp_path, [tmp_path], target)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "90", str(target), str(ARTIFACTS / "studykit")], check=True)
    pages = sorted(ARTIFACTS.glob("studykit*.png"))
    assert pages, "no page rendered"
    drawn = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True, check=True).stdout
    assert all(str(number) in drawn for number in range(1, COUNT + 1))


def _span(tex: str, display: bool) -> str:
    escaped = html.escape(tex, quote=False)
    return (
        f'<div class="arithmatex">\\[{escaped}\\]</div>'
        if display
        else f'<span class="arithmatex">\\({escaped}\\)</span>'
    )


@needs_chromium
@pytest.mark.skipif(not MATHJAX.is_file(), reason="MathJax not installed: run `npm ci --prefix tools` (.ci/run does)")
def test_anki_mathjax_in_chromium_gives_the_same_widths(formulas: list[tuple[str, bool]], tab: SharedTab) -> None:
    rows = "".join(
        f'<tr><td class="n">{number}</td><td class="f" id="f{number}">{_anki(tex, display)}</td></tr>'
        for number, (tex, display) in enumerate(formulas, start=1)
    )
    page = (
        "<html><head><meta charset='utf-8'><style>body { font: 16px serif } td { padding: 6px;"
        " border-bottom: 1px solid #ccc } .n { color: #888 }</style>"
        "<script>window.MathJax = { svg: { fontCache: 'global', scale: 1, matchFontHeight: false } };</script>"
        f"<script src='{MATHJAX.as_uri()}'></script></head>"
        f"<body><h3>Anki's MathJax 3 in Chromium</h3><table>{rows}</table></body></html>"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    source = ARTIFACTS / "mathjax.html"
    source.write_text(page, encoding="utf-8")
    page = tab.open(source.as_uri(), {"width": 900, "height": 800})
    page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("MathJax.startup.promise")
    widths = page.evaluate(
        "[...document.querySelectorAll('td.f > mjx-container > svg')].map(s => s.getBoundingClientRect().width / 16)"
    )
    page.screenshot(path=str(ARTIFACTS / "mathjax.png"), full_page=True)
    assert len(widths) == COUNT and all(width > 0 for width in widths)
    # MathJax sizes its SVG in ex of the text around it (so that math matches the card's font), studykit in em of
    # the math font: the same drawings differ by one factor for every formula, which is what is checked.
    ratios = [
        browser_width / mathrender.render(tex, display).width_em
        for (tex, display), browser_width in zip(formulas, widths, strict=True)
    ]
    spread = max(ratios) / min(ratios)
    assert spread < 1.02, sorted(zip(ratios, (tex[:50] for tex, _ in formulas), strict=True))


def _anki(tex: str, display: bool) -> str:
    escaped = html.escape(tex, quote=False)
    return f"\\[{escaped}\\]" if display else f"\\({escaped}\\)"
