"""Cards as Anki shows them: rendered by the real collection, typeset by MathJax, drawn in headless Chromium.

The card HTML comes from `card.question()` / `card.answer()` of a real Anki collection; MathJax 3
(the engine Anki ships, here from tools/node_modules) typesets it from a local file. Each render is
saved under tests/artifacts/cards/ so a person can look at it, and checked: math typeset, nothing
wider than the screen, text legible on its background in light and night mode.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

from generator.writers import anki as anki_writer
from tests.browser import chromium_browser, needs_chromium
from tests.conftest import ROOT

MATHJAX = ROOT / "tools" / "node_modules" / "mathjax" / "es5" / "tex-svg.js"
ARTIFACTS = ROOT / "tests" / "artifacts" / "cards"
WIDTHS = {"phone": 390, "desktop": 1024}
MODES = ("light", "night")

needs_mathjax = pytest.mark.skipif(
    not MATHJAX.is_file(), reason="MathJax not installed: run `npm ci --prefix tools` (.ci/run does)"
)


@pytest.fixture(scope="module")
def cards(outputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The HTML of a basic card's front and back and a cloze card's front and back, from a real collection."""
    folder = tmp_path_factory.mktemp("collection")
    col = Collection(str(folder / "collection.anki2"))
    col.import_anki_package(
        ImportAnkiPackageRequest(package_path=str(outputs["apkg"]), options=ImportAnkiPackageOptions())
    )
    basic = col.get_card(col.find_cards(f'"note:{anki_writer.NOTE_TYPE_NAME}" Number:63')[0])
    cloze = col.get_card(col.find_cards(f'"note:{anki_writer.CLOZE_TYPE_NAME}" Number:63')[0])
    yield {
        "front": basic.question(),
        "back": basic.answer(),
        "cloze-front": cloze.question(),
        "cloze-back": cloze.answer(),
    }
    col.close()


def card_page(card_html: str, night: bool) -> str:
    classes = "card card1 nightMode night_mode" if night else "card card1"
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>window.MathJax = {{ svg: {{ fontCache: "global" }}, startup: {{ typeset: true }} }};</script>
<script src="{MATHJAX.as_uri()}"></script></head>
<body class="{classes}">{card_html}</body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as instance:
        yield instance


def luminance(rgb: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@needs_chromium
@needs_mathjax
@pytest.mark.parametrize("side", ["front", "back", "cloze-front", "cloze-back"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("width_name", sorted(WIDTHS))
def test_card_renders(
    browser: Any, cards: dict[str, str], side: str, mode: str, width_name: str, tmp_path: Path
) -> None:
    width = WIDTHS[width_name]
    page_file = tmp_path / f"{side}.html"
    page_file.write_text(card_page(cards[side], night=mode == "night"), encoding="utf-8")
    context = browser.new_context(viewport={"width": width, "height": 900})
    tab = context.new_page()
    requests: list[str] = []
    tab.on("request", lambda request: requests.append(request.url))
    tab.goto(page_file.as_uri())
    tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
    tab.evaluate("MathJax.startup.promise")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{side}-{mode}-{width_name}.png"), full_page=True)

    text = tab.evaluate("document.body.innerText")
    assert "\\(" not in text and "\\[" not in text, "MathJax left TeX untypeset"
    if "\\(" in cards[side] or "\\[" in cards[side]:
        assert tab.evaluate("document.querySelectorAll('mjx-container').length") > 0
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{side} is {overflow}px wider than a {width}px screen"
    colours = tab.evaluate(
        "(() => { const s = getComputedStyle(document.body); return [s.color, s.backgroundColor]; })()"
    )
    assert contrast(*colours) >= 7, colours
    if side.startswith("cloze"):
        assert ("[...]" in cards[side]) == side.endswith("front")
    outside = [url for url in requests if not url.startswith(("file://", "data:"))]
    assert outside == []
    context.close()
