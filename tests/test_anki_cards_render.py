"""Cards as Anki shows them: rendered by the real collection, typeset by MathJax, drawn in headless Chromium.

The card HTML comes from `card.question()` / `card.answer()` of a real Anki collection; MathJax 3
(the engine Anki ships, here from tools/node_modules) typesets it from a local file. The page sits in a
folder holding the collection's media files, as a card does in Anki, so its figures load. Each render
is saved under tests/artifacts/cards/ so a person can look at it, and checked: math typeset, every
figure loaded and drawn (not blank in the screenshot), nothing wider than the screen, text legible on
its background in light and night mode.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from PIL import Image, ImageStat

from generator.writers import anki as anki_writer
from tests.browser import SharedTab, needs_chromium
from tests.conftest import ROOT

MATHJAX = ROOT / "tools" / "node_modules" / "mathjax" / "es5" / "tex-svg.js"
ARTIFACTS = ROOT / "tests" / "artifacts" / "cards"
WIDTHS = {"phone": 390, "desktop": 1024}
MODES = ("light", "night")

needs_mathjax = pytest.mark.skipif(
    not MATHJAX.is_file(), reason="MathJax not installed: run `npm ci --prefix tools` (.ci/run does)"
)


@pytest.fixture(scope="module")
def collection(outputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collection]:
    folder = tmp_path_factory.mktemp("collection")
    col = Collection(str(folder / "collection.anki2"))
    col.import_anki_package(
        ImportAnkiPackageRequest(package_path=str(outputs["apkg"]), options=ImportAnkiPackageOptions())
    )
    yield col
    col.close()


@pytest.fixture(scope="module")
def cards(collection: Collection) -> dict[str, str]:
    """The HTML of a basic card's front and back and a cloze card's front and back, from a real collection."""
    basic = collection.get_card(collection.find_cards(f'"note:{anki_writer.NOTE_TYPE_NAME}" Number:63')[0])
    cloze = collection.get_card(collection.find_cards(f'"note:{anki_writer.CLOZE_TYPE_NAME}" Number:63')[0])
    return {
        "front": basic.question(),
        "back": basic.answer(),
        "cloze-front": cloze.question(),
        "cloze-back": cloze.answer(),
    }


@pytest.fixture(scope="module")
def page_folder(collection: Collection, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a copy of the collection's media files, where the card pages are written.

    Anki shows a card from its media folder, so `<img src="softmax-….svg">` finds the file beside it.
    """
    folder = tmp_path_factory.mktemp("cards-page")
    media = Path(collection.media.dir())
    names = [p.name for p in media.iterdir() if p.is_file()]
    assert names, "the collection has no media files"
    for name in names:
        shutil.copy2(media / name, folder / name)
    return folder


def card_page() -> str:
    """The page a card is shown in: MathJax loaded once, as Anki's reviewer loads it once for every card."""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>window.MathJax = {{ svg: {{ fontCache: "global" }}, startup: {{ typeset: false }} }};</script>
<script src="{MATHJAX.as_uri()}"></script></head>
<body class="card card1"></body></html>"""


# Like Anki's reviewer: put the card's HTML in the body, set the night-mode classes, typeset, and wait for the
# figures to load (or fail).
SHOW_CARD = """async ([html, night]) => {
    document.body.className = night ? "card card1 nightMode night_mode" : "card card1";
    document.body.innerHTML = html;
    MathJax.typesetClear();
    await MathJax.typesetPromise([document.body]);
    await Promise.all([...document.images].map(image => image.complete ? null
        : new Promise(done => { image.onload = done; image.onerror = done; })));
    window.scrollTo(0, 0);
}"""


@pytest.fixture(scope="module")
def reviewer(_shared_tab: SharedTab, page_folder: Path) -> Iterator[SharedTab]:
    """The worker's tab, showing one card after another, with MathJax loaded once (about a second); each test sets
    the screen width it draws at."""
    page_file = page_folder / "reviewer.html"
    page_file.write_text(card_page(), encoding="utf-8")
    tab = _shared_tab.open(page_file.as_uri())
    tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
    tab.evaluate("MathJax.startup.promise")
    yield _shared_tab
    _shared_tab.leave()


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
def test_card_renders(reviewer: SharedTab, cards: dict[str, str], side: str, mode: str, width_name: str) -> None:
    width = WIDTHS[width_name]
    tab = reviewer.tab
    tab.set_viewport_size({"width": width, "height": 900})
    tab.evaluate(SHOW_CARD, [cards[side], mode == "night"])

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = tab.screenshot(path=str(ARTIFACTS / f"{side}-{mode}-{width_name}.png"), full_page=True)

    # Every figure loaded, and drew something: its box in the screenshot is not one flat colour.
    figures = tab.evaluate(
        """[...document.images].map(image => {
            const box = image.getBoundingClientRect();
            return {src: image.getAttribute('src'), complete: image.complete, naturalWidth: image.naturalWidth,
                    x: box.left + window.scrollX, y: box.top + window.scrollY, width: box.width, height: box.height};
        })"""
    )
    assert len(figures) == len(re.findall(r"<img\b", cards[side])), figures
    if side == "back":
        assert figures, "the back of note 63 shows the softmax figure"
    shot = Image.open(io.BytesIO(screenshot)).convert("L")
    for figure in figures:
        assert figure["complete"] and figure["naturalWidth"] > 0, f"{figure['src']} did not load"
        assert figure["width"] >= 100 and figure["height"] >= 50, figure
        region = shot.crop(
            (
                round(figure["x"]),
                round(figure["y"]),
                round(figure["x"] + figure["width"]),
                round(figure["y"] + figure["height"]),
            )
        )
        low, high = region.getextrema()
        assert high - low > 100 and ImageStat.Stat(region).stddev[0] > 10, f"{figure['src']} drew nothing: {figure}"

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
    outside = [url for url in reviewer.requests if not url.startswith(("file://", "data:"))]
    assert outside == []
