"""The Chinese edition, built as a user would: every PDF prints real glyphs, the page reads on a phone, Anki takes it.

No system CJK font is needed: the CJK font comes from pip (noto-cjk-sans-otc). A character drawn with no font
would be a .notdef box; in WeasyPrint's PDFs such a character is missing from every font's ToUnicode map, which is
what these tests read back (pdftotext alone is fooled: the tagged PDF carries the text anyway).
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from anki.collection import Collection

from generator import build as pipeline
from generator import fonts
from generator.errors import BuildFailed
from tests.browser import SharedTab, needs_chromium
from tests.conftest import CONTENT_ROOT, ROOT, session_cache
from tests.test_anki_deck import import_package

ZH = CONTENT_ROOT / "dl-interview-51-65-zh"
SLUG = "dl-interview-51-65-zh"
ARTIFACTS = ROOT / "tests" / "artifacts"
# A line of Chinese text never starts with these (GB/T 15834, JIS X 4051 kinsoku).
NO_LINE_START = "，。、；：？！）》」』】"


@pytest.fixture(scope="module")
def zh_build(tmp_path_factory: pytest.TempPathFactory) -> pipeline.BuildReport:
    # In the workers' shared cache: the formulas the English build drew there are drawn already.
    with pytest.MonkeyPatch.context() as patch, session_cache(patch):
        return pipeline.build(ZH, tmp_path_factory.mktemp("zh"), ("apkg", "pdf", "html", "full"))


def output(report: pipeline.BuildReport, suffix: str) -> Path:
    return next(path for path in report.written if path.name == f"{SLUG}.{suffix}")


def glyph_targets(pdf_path: Path) -> set[str]:
    """Every character some embedded font draws with a real glyph (its ToUnicode maps a glyph other than 0 to it)."""
    found: set[str] = set()
    with pikepdf.open(pdf_path) as pdf:
        for page in pdf.pages:
            for _, font in page.Resources.get("/Font", {}).items():
                to_unicode = font.get("/ToUnicode")
                if to_unicode is None:
                    continue
                cmap = to_unicode.read_bytes().decode("latin-1")
                for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.DOTALL):
                    for glyph, text in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                        if int(glyph, 16) != 0:
                            found.update(bytes.fromhex(text).decode("utf-16-be", "replace"))
    return found


def pdf_text(path: Path, *options: str) -> str:
    return subprocess.run(["pdftotext", *options, str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_the_deck_reads_as_chinese(zh_build: pipeline.BuildReport) -> None:
    deck = zh_build.deck
    assert deck.language == "zh-Hans" and deck.slug == SLUG and len(deck.notes) == 15
    assert [note.number for note in deck.notes] == list(range(51, 66))
    assert all(re.search(r"[\u4e00-\u9fff]", note.question) for note in deck.notes)
    english = pipeline.check(CONTENT_ROOT / "dl-interview-51-65").deck
    assert deck.id != english.id and not {n.id for n in deck.notes} & {n.id for n in english.notes}
    assert "julyedu" in deck.credit and re.search(r"[\u4e00-\u9fff]", deck.credit) and "Questions" in deck.credit


@pytest.mark.parametrize("suffix", ["pdf", "full.pdf"])
def test_every_character_prints_with_a_real_glyph(zh_build: pipeline.BuildReport, suffix: str) -> None:
    drawn = glyph_targets(output(zh_build, suffix))
    used = {c for note in zh_build.deck.notes for c in note.question if not c.isspace()}
    assert {"批", "归", "一", "化", "非", "极", "大", "值"} <= used
    missing = sorted(used - drawn)
    assert not missing, f"drawn without a glyph (empty boxes) in {suffix}: {''.join(missing)}"


def test_cheat_sheet_questions_in_order_and_extractable(zh_build: pipeline.BuildReport) -> None:
    text = re.sub(r"\s+", "", pdf_text(output(zh_build, "pdf")))
    positions = [text.find(re.sub(r"\s+", "", note.question)) for note in zh_build.deck.notes]
    assert -1 not in positions, "a question is not in the cheat sheet's text"
    # Two columns interleave in plain text; the outline gives the reading order, each entry the question as printed.
    with pikepdf.open(output(zh_build, "pdf")) as pdf, pdf.open_outline() as outline:
        titles = [item.title for item in outline.root]
    assert titles == [f"{note.number} {note.question}" for note in zh_build.deck.notes]


@pytest.mark.parametrize("suffix", ["pdf", "full.pdf"])
def test_no_line_starts_with_closing_punctuation(zh_build: pipeline.BuildReport, suffix: str) -> None:
    """A line whose first glyph is `，`, `。` … and which starts at a text edge of its column.

    Formulas are drawn as curves, not text, so a comma right after a formula looks like a line's first glyph: a
    real offender starts at a text edge (where three or more lines of the page start) with nothing drawn before it.
    """
    import collections

    from tests import pdfread

    offenders = []
    if True:  # one page at a time, as read by PDFium (pdfplumber takes 10 s on this booklet)
        for page in pdfread.read(output(zh_build, suffix), graphics=True):
            lines: dict[tuple[int, bool], list[Any]] = {}
            for char in page.chars:
                if char["text"].strip():
                    right_column = char["x0"] > page.width / 2 and suffix == "pdf"
                    lines.setdefault((round(char["top"]), right_column), []).append(char)
            firsts = [min(chars, key=lambda char: char["x0"]) for chars in lines.values()]
            edges = [x for x, count in collections.Counter(round(c["x0"]) for c in firsts).items() if count >= 3]
            drawn = [item for item in page.graphics if item["kind"] == "path"]
            for first in firsts:
                at_edge = any(abs(round(first["x0"]) - edge) <= 1 for edge in edges)
                after_drawing = any(
                    first["x0"] - 15 <= d["x1"] <= first["x0"] + 1
                    and d["top"] < first["bottom"]
                    and d["bottom"] > first["top"]
                    for d in drawn
                )
                if first["text"] in NO_LINE_START and at_edge and not after_drawing:
                    offenders.append((page.page_number, first["text"], round(first["x0"]), round(first["top"])))
    assert not offenders, f"lines starting with closing punctuation: {offenders[:10]}"


def test_pdf_language_is_the_decks(zh_build: pipeline.BuildReport) -> None:
    for suffix in ("pdf", "full.pdf"):
        with pikepdf.open(output(zh_build, suffix)) as pdf:
            assert str(pdf.Root.Lang) == "zh-Hans"


def test_anki_fields_are_chinese(zh_build: pipeline.BuildReport, tmp_path: Path) -> None:
    col = Collection(str(tmp_path / "collection.anki2"))
    try:
        counts = import_package(col, output(zh_build, "apkg"))
        assert counts["new"] == 15 + sum(len(note.clozes) for note in zh_build.deck.notes)
        note = col.get_note(col.find_notes('"Number:59"')[0])
        assert "批归一化" in note["Question"] and "\\(" in note["Key points"] + note["Full answer"]
        # The note types are shared with the English deck: the language travels in the fields.
        assert note["Question"].startswith('<span lang="zh-Hans">')
        assert note["Key points"].startswith('<div lang="zh-Hans">')
    finally:
        col.close()


@needs_chromium
@pytest.mark.parametrize("width", [390, 1280])
def test_page_in_chromium(zh_build: pipeline.BuildReport, tab: SharedTab, width: int) -> None:
    page = tab.open(output(zh_build, "html").as_uri(), {"width": width, "height": 900})
    assert page.evaluate("document.documentElement.lang") == "zh-Hans"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "scrolls sideways"
    assert "批归一化" in page.inner_text("body")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"zh-page-{width}.png"))


@needs_chromium
def test_page_speaks_chinese_around_the_notes(zh_build: pipeline.BuildReport, tab: SharedTab) -> None:
    """The page's own words (search, buttons, headings, the count of questions shown) are the deck's language, and
    stay so when the page's script rewrites them."""
    page = tab.open(output(zh_build, "html").as_uri())
    assert page.get_attribute("#search", "placeholder") == "搜索题目和解答"
    assert page.inner_text("#q51 .key-points h3") == "要点"
    assert page.inner_text("#status") == "显示 15 / 15 道题。"
    page.fill("#search", "批归一化")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('显示 1 ')")
    page.check("#quiz")  # every answer hidden: each button offers to show it
    assert page.inner_text("#q59 button.reveal") == "显示解答"
    for element in (".skip", ".lead", "#toc-title", "legend", ".buttons", "#q51 .full-answer summary", ".credit p + p"):
        assert not re.search("[A-Za-z]{3,}", page.inner_text(element).replace("studykit", "")), element


def test_pdfs_speak_chinese_around_the_notes(zh_build: pipeline.BuildReport) -> None:
    """The booklet's title page, contents, page headers and footers, and the cheat sheet's, in the deck's language."""
    # The title page, the contents and the first question's page, then the last page (pdftotext reads the whole
    # booklet's CJK text in ~4 s: only these are read).
    path = output(zh_build, "full.pdf")
    with pikepdf.open(path) as pdf:
        pages = len(pdf.pages)
    booklet = pdf_text(path, "-l", "3") + pdf_text(path, "-f", str(pages), "-l", str(pages))
    assert "目录" in booklet and "第 51 题" in booklet and "要点" in booklet
    assert f"第 {pages} 页，共 {pages} 页" in booklet
    sheet = pdf_text(output(zh_build, "pdf"))
    assert "studykit 速查表" in sheet and "速查表：15 道题的要点" in sheet and "第 1 页，共" in sheet
    for english in ("Contents", "Key points", "Question 5", "page 1 of", "cheat sheet", "Licence:", "full credit"):
        assert english not in booklet + sheet, english


# What the page's title, first contents entry, first question and first heading of a full answer show: each is the
# first text of its size and weight laid out, where Chromium kept empty boxes when the CJK font came late.
FIRST_LAID_OUT = (".top h1", ".toc li:first-child a", "#q51 .question", "#q51 .full-answer h3")
# Each CJK character of an element's text replaced by a private-use one, which no font has: that element drawn with
# empty boxes where its Chinese is. (An empty box is the same whatever the character, so a page whose Chinese is
# drawn as boxes looks exactly like this.)
AS_BOXES = """selectors => {
    for (const selector of selectors) {
        const walker = document.createTreeWalker(document.querySelector(selector), NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            node.data = node.data.replace(/[\\u2e80-\\uffef]/g, "\\ue000");
        }
    }
}"""
# Each element's text and where it is in the window.
PLACED = """selectors => selectors.map(selector => {
    const element = document.querySelector(selector), box = element.getBoundingClientRect();
    return [element.textContent, {x: box.x, y: box.y, width: box.width, height: box.height}];
})"""


def _regions(png: bytes, boxes: Iterable[dict[str, float]]) -> list[bytes]:
    """The pixels of each box (in CSS pixels of the viewport) of a screenshot."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        pixels = image.convert("RGB")
        edges = [(box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]) for box in boxes]
        return [
            pixels.crop((round(left), round(top), round(right), round(bottom))).tobytes()
            for left, top, right, bottom in edges
        ]


@needs_chromium
def test_page_draws_chinese_with_its_own_font(zh_build: pipeline.BuildReport, tab: SharedTab) -> None:
    """This machine has no CJK font (fc-list): every Chinese character the page draws comes from the font it carries."""
    page = tab.open(output(zh_build, "html").as_uri())
    texts, boxes = zip(*page.evaluate(PLACED, list(FIRST_LAID_OUT)), strict=True)
    assert all(re.search(r"[\u4e00-\u9fff]", text) for text in texts)
    drawn = _regions(page.screenshot(), boxes)  # all in the first screen of a desktop window
    page.evaluate(AS_BOXES, list(FIRST_LAID_OUT))
    as_boxes = _regions(page.screenshot(), boxes)
    tofu = [selector for selector, mine, boxed in zip(FIRST_LAID_OUT, drawn, as_boxes, strict=True) if mine == boxed]
    assert not tofu, f"Chinese drawn as empty boxes in {tofu}"
    # Drawn by the font the page carries (the only one on this machine that has them), and nothing fetched for it.
    faces = page.evaluate("() => [...document.fonts].map(face => [face.family.replace(/\"/g, ''), face.status])")
    assert faces == [[fonts.CJK_FAMILY, "loaded"]]
    assert tab.requests == [output(zh_build, "html").as_uri()]


def test_page_font_holds_every_cjk_character_of_the_page_and_no_other(zh_build: pipeline.BuildReport) -> None:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    page = output(zh_build, "html").read_text(encoding="utf-8")
    (embedded,) = re.findall(r"url\(data:font/woff2;base64,([A-Za-z0-9+/=]+)\) format\(\"woff2\"\)", page)
    cut = TTFont(io.BytesIO(base64.b64decode(embedded)))
    rest = page.replace(embedded, "")
    assert set(cut.getBestCmap()) == set(fonts.cjk_code_points([rest])) and len(cut.getBestCmap()) > 900
    assert "font-src data:" in page  # the Content-Security-Policy lets it load


def test_page_without_the_font_package_is_written_with_a_warning(
    zh_build: pipeline.BuildReport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from generator import context
    from generator.writers import page

    def missing() -> Path:
        raise fonts.FontMissing(f"the CJK font is not installed\n    hint: pip install {fonts.CJK_PACKAGE}")

    monkeypatch.setattr(fonts, "cjk_font_path", missing)
    deck = zh_build.deck
    built = context.BuildContext(context.BuildOptions(ZH, tmp_path), deck.language, 0, cache_dir=tmp_path)
    target = tmp_path / "page.html"
    (warning,) = page.write(deck, target, built).warnings
    assert warning.severity == "warning" and "not installed" in warning.message
    assert warning.hint == f"pip install {fonts.CJK_PACKAGE}"
    assert "@font-face" not in target.read_text(encoding="utf-8")


def test_a_character_no_font_has_is_an_error_at_its_line(tmp_path: Path) -> None:
    import shutil

    content = tmp_path / "zh"
    shutil.copytree(ZH, content)
    note = next(content.glob("53-*.md"))
    lines = note.read_text(encoding="utf-8").split("\n")
    at = lines.index("## Full answer") + 2
    lines.insert(at, "私用区字符：\ue000。")
    note.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(BuildFailed) as failure:
        pipeline.check(content)
    (problem,) = failure.value.problems
    assert problem.location.path == note and problem.location.line == at + 1
    assert "U+E000" in problem.message and "font" in problem.hint


def test_figures_are_the_english_decks_drawings() -> None:
    english = CONTENT_ROOT / "dl-interview-51-65" / "figures"
    copies = sorted(path.name for path in (ZH / "figures").glob("*.svg"))
    assert copies == sorted(path.name for path in english.glob("*.svg"))
    for name in copies:  # `make all` copies them when a figure script redraws one
        assert (ZH / "figures" / name).read_bytes() == (english / name).read_bytes(), f"{name}: run make all"


def test_sections_headed_in_chinese_read_as_the_english_ones(tmp_path: Path) -> None:
    """A note written in Chinese heads its sections 要点 / 完整解答 / 填空 (with a full-width colon too): the same."""
    content = tmp_path / "content"
    shutil.copytree(ZH, content)
    english = pipeline.check(content).deck.notes
    for path in content.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        text = text.replace("## Key points\n", "## 要点：\n").replace("## Full answer\n", "## 完整解答\n")
        path.write_text(text.replace("## Cloze\n", "## 填空\n"), encoding="utf-8")
    chinese = pipeline.check(content).deck.notes
    assert any("## 填空\n" in path.read_text(encoding="utf-8") for path in content.glob("*.md"))
    assert [(n.key_points_html, n.answer_html, n.clozes) for n in chinese] == [
        (n.key_points_html, n.answer_html, n.clozes) for n in english
    ]
