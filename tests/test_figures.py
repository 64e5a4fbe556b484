"""The figures: drawn by scripts in content/figures/src, committed as SVG, shown by every output.

Each script writes content/figures/<name>.svg, or the path given as its first argument; the committed SVG must be
exactly what its script draws now. Each figure is referenced from its note and so reaches the Anki package (as
media), the study page (as a data URI) and the cheat sheet (drawn as vectors).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pdfplumber.utils import extract_words
from pypdf import PdfReader

from generator import build as pipeline
from generator.context import BuildOptions
from generator.writers import anki as anki_writer
from generator.writers import sheet as pdf_writer
from tests import pdfread
from tests.conftest import CONTENT, Background

FIGURES_DIR = CONTENT / "figures"
SCRIPTS_DIR = FIGURES_DIR / "src"
# Each figure and the number of the note that shows it.
FIGURES = {
    "bbox_regression": 52,
    "selective_search": 53,
    "nms": 54,
    "anchors": 55,
    "softmax": 63,
    "lstm": 65,
}
MAX_SVG_BYTES = 60_000
MAX_PDF_PAGES = 4
IMAGE = re.compile(r"!\[(?P<alt>[^\]]+)\]\((?P<src>figures/[^)\s]+\.svg)\)\{\.figure\}")

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib (dev dependency) draws the figures"
)


def note_markdown(number: int) -> str:
    for path in sorted(CONTENT.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if re.search(rf"^number:\s*{number}\s*$", text.split("\n---", 1)[0], re.MULTILINE):
            return text
    pytest.fail(f"no note with number {number}")


def caption(name: str) -> str:
    """The sentence after the figure in its note, without Markdown emphasis."""
    text = note_markdown(FIGURES[name])
    found = re.search(rf"\(figures/{name}\.svg\)\{{\.figure\}}\n\n(?P<caption>[^\n]+)", text)
    assert found, f"figure {name}: no caption paragraph right after the image"
    return found["caption"].strip("*_ ")


def svg_path(name: str) -> Path:
    return FIGURES_DIR / f"{name}.svg"


def test_every_script_has_a_committed_figure_and_a_note() -> None:
    scripts = {path.stem for path in SCRIPTS_DIR.glob("*.py")} - {"common"}
    assert scripts == set(FIGURES), "a figure script without an entry in FIGURES, or the other way round"
    committed = {path.stem for path in FIGURES_DIR.glob("*.svg")}
    assert committed == set(FIGURES), "every script's SVG is committed next to it, and nothing else"


def redraw(folder: Path) -> dict[str, tuple[int, str]]:
    """Each script run in a process of its own, all at once, writing its SVG to `folder`: exit code and output."""
    folder.mkdir(parents=True, exist_ok=True)
    running = {
        name: subprocess.Popen(
            [sys.executable, str(SCRIPTS_DIR / f"{name}.py"), str(folder / f"{name}.svg")],
            cwd=folder,  # the script must not depend on the working directory
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in sorted(FIGURES)
    }
    return {
        name: (process.wait(timeout=300), process.communicate()[0].decode(errors="replace"))
        for name, process in running.items()
    }


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory: pytest.TempPathFactory, background: Background) -> dict[str, Path]:
    """The scripts' fresh SVGs, drawn on the background process (which the session's build may have started)."""
    folder = tmp_path_factory.getbasetemp() / "figures"
    results: dict[str, tuple[int, str]] = background.result("tests.test_figures:redraw", folder)
    for name, (returncode, output) in results.items():
        assert returncode == 0, f"{name}.py failed:\n{output}"
    return {name: folder / f"{name}.svg" for name in results}


@needs_matplotlib
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_script_reproduces_the_committed_svg(name: str, redrawn: dict[str, Path]) -> None:
    assert redrawn[name].read_bytes() == svg_path(name).read_bytes(), (
        f"{svg_path(name).relative_to(CONTENT.parent)} is stale: run `make all` (or the script) and commit the SVG"
    )


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_svg_is_small_self_contained_and_on_white(name: str) -> None:
    data = svg_path(name).read_bytes()
    assert len(data) < MAX_SVG_BYTES, f"{name}.svg is {len(data):,} bytes"
    svg = data.decode("utf-8")
    assert "<text" not in svg, "text must be drawn as paths (svg.fonttype 'path'), so no font is needed"
    assert "<image" not in svg, "no raster images inside the figures"
    assert not re.search(r'href="(?!#)', svg), "no references to other files"
    assert "<dc:date>" not in svg, "a date in the file makes it differ on every run"
    assert re.search(r'style="fill: ?#ffffff"', svg), "the figure paints its own white background"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_note_references_its_figure(name: str, built: pipeline.BuildReport) -> None:
    text = note_markdown(FIGURES[name])
    images = [match for match in IMAGE.finditer(text) if match["src"] == f"figures/{name}.svg"]
    assert len(images) == 1, f"note {FIGURES[name]} should show figures/{name}.svg exactly once, with {{.figure}}"
    assert len(images[0]["alt"].split()) >= 8, "the alt text describes the figure"
    assert caption(name), "a one-line caption follows the figure"
    note = next(note for note in built.deck.notes if note.number == FIGURES[name])
    assert Path(f"figures/{name}.svg") in note.media


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_in_the_page_as_a_data_uri(name: str, outputs: dict[str, Path]) -> None:
    page = outputs["html"].read_text(encoding="utf-8")
    article = re.search(rf'<article class="note" id="q{FIGURES[name]}".*?</article>', page, re.DOTALL)
    assert article, f"note {FIGURES[name]} missing from the page"
    encoded = base64.b64encode(svg_path(name).read_bytes()).decode("ascii")
    images = re.findall(r"<img\b[^>]*>", article.group(0))
    figure = [image for image in images if f'src="data:image/svg+xml;base64,{encoded}"' in image]
    assert len(figure) == 1, f"{name}.svg is not inlined in note {FIGURES[name]}"
    assert 'class="figure"' in figure[0]
    assert re.search(r'alt="[^"]{20,}"', figure[0])


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_in_the_anki_media(name: str, outputs: dict[str, Path]) -> None:
    media_name = anki_writer.media_name(Path(f"figures/{name}.svg"))
    with zipfile.ZipFile(outputs["apkg"]) as package:
        media = json.loads(package.read("media"))
        entries = [entry for entry, file_name in media.items() if file_name == media_name]
        assert len(entries) == 1, f"{media_name} not in the package's media: {sorted(media.values())}"
        assert package.read(entries[0]) == svg_path(name).read_bytes()


@pytest.fixture(scope="module")
def sheet_pages(outputs: dict[str, Path]) -> list[tuple[pdfread.Page, list[dict[str, Any]]]]:
    """The cheat sheet read once with PDFium (tests/pdfread.py), paths too: each page and its words."""
    return [(page, extract_words(page.chars)) for page in pdfread.read(outputs["pdf"], graphics=True)]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_in_the_cheat_sheet(
    name: str, built: pipeline.BuildReport, sheet_pages: list[tuple[pdfread.Page, list[dict[str, Any]]]]
) -> None:
    document = pdf_writer.html_of(built.deck, pipeline.context_for(built.deck, BuildOptions(CONTENT)))
    article = re.search(rf'<article class="note" id="q{FIGURES[name]}".*?</article>', document, re.DOTALL)
    assert article, f"note {FIGURES[name]} missing from the cheat sheet"
    images = [image for image in re.findall(r"<img\b[^>]*>", article.group(0)) if f'src="figures/{name}.svg"' in image]
    assert len(images) == 1 and 'class="figure"' in images[0], f"{name}.svg is not in note {FIGURES[name]}'s key points"
    # In the PDF: right above the caption, in the caption's column, the figure is vector paths and no text
    # (WeasyPrint would print the alt text instead of a figure it could not load).
    words = caption(name).split()[:3]
    for page, found in sheet_pages:
        texts = [word["text"] for word in found]
        starts = [i for i in range(len(texts)) if texts[i : i + len(words)] == words]
        if starts:
            first = found[starts[0]]
            middle = page.width / 2
            left, right = (0, middle) if first["x0"] < middle else (middle, page.width)
            top, bottom = max(0, first["top"] - 140), first["top"] - 2
            drawn = page.paths_within(left, top, right, bottom)
            assert len(drawn) >= 50, f"{name}: only {len(drawn)} vector objects above its caption in the PDF"
            text = page.text_within(left, top, right, bottom)
            assert not text, f"{name}: text instead of the figure: {text!r}"
            break
    else:
        pytest.fail(f"{name}: caption {' '.join(words)!r} not found in the PDF")


def test_cheat_sheet_stays_within_its_page_budget(outputs: dict[str, Path]) -> None:
    pages = len(PdfReader(outputs["pdf"]).pages)
    assert pages <= MAX_PDF_PAGES, f"the cheat sheet has {pages} pages, over {MAX_PDF_PAGES}"
