"""The CJK font chain: pip installs a real font, WeasyPrint embeds a subset of it, and Chinese prints and extracts.

A fresh machine has no CJK font; `generator.fonts` points WeasyPrint at the Noto Sans CJK collection that the
`noto-cjk-sans-otc` package installs. These tests render small pages with its @font-face rules and read the PDFs back:
the font is embedded as a subset, Chinese text extracts, no line begins with a full-width comma or full stop, and the
page's language picks the regional glyph forms. The rendered Chinese page is kept as a PNG in tests/artifacts/.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]
from weasyprint import HTML

from generator import fonts

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
POPPLER = pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils absent (pdffonts, pdftotext)")

SENTENCE = "批归一化（Batch Normalization）先用小批量的统计量把每个值标准化，再做缩放和平移。"
# Seven characters to a group and a column six characters wide: a breaker that ignored the rules for CJK
# punctuation would start line after line with "，" or "。".
PUNCTUATION_TRAP = "一二三四五六，七八九十百千。" * 6


def render(language: str, body: str, width: str = "12cm") -> bytes:
    html = f"""<!doctype html><html lang="{language}"><head><meta charset="utf-8"><style>
{fonts.font_face_css(language)}
@page {{ size: A6; margin: 8mm; }}
body {{ font-family: {fonts.font_family_css(language)}; font-size: 10pt; line-height: 1.5; }}
.column {{ width: {width}; }}
</style></head><body>{body}</body></html>"""
    return bytes(HTML(string=html).write_pdf())


@pytest.fixture(scope="module")
def chinese_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    body = (
        f"<h1>第 59 题：批归一化</h1><p>{SENTENCE}</p>"
        f"<p><strong>加粗：</strong>非极大值抑制（NMS）保留得分最高的框，IoU 阈值为 0.5，“引号”……</p>"
        f'<p class="column" style="width: 6em">{PUNCTUATION_TRAP}</p>'
    )
    path = tmp_path_factory.mktemp("fonts") / "zh-Hans.pdf"
    path.write_bytes(render("zh-Hans", body))
    return path


def test_language_tags_pick_the_regional_font() -> None:
    expected = {
        "zh-Hans": "zh-Hans", "zh": "zh-Hans", "zh-CN": "zh-Hans", "zh_SG": "zh-Hans",
        "zh-Hant": "zh-Hant", "zh-TW": "zh-Hant", "zh-Hant-HK": "zh-HK", "zh-HK": "zh-HK",
        "ja": "ja", "ja-JP": "ja", "ko": "ko", "ko-KR": "ko", "en": None, "en-GB": None, "": None,
    }  # fmt: skip
    assert {tag: fonts.cjk_language(tag) for tag in expected} == expected


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "ja", "ko", "en"])
def test_every_chain_ends_with_the_installed_cjk_font(language: str) -> None:
    faces = fonts.chain(language)
    assert faces[-1].family == fonts.CJK_FAMILY
    assert all(path.is_file() for path in fonts.font_files(language))
    css = fonts.font_face_css(language)
    assert fonts.cjk_font_path().as_uri() in css
    assert all(fonts.cjk_font_path().is_relative_to(folder) for folder in fonts.font_dirs())
    assert f'"{fonts.CJK_FAMILY}"' in fonts.font_family_css(language)


def test_uncovered_lists_only_what_no_font_has() -> None:
    assert fonts.uncovered(SENTENCE + "“引号”……\n", "zh-Hans") == []
    assert fonts.uncovered("繁體中文", "zh-Hant") == []
    assert fonts.uncovered("ひらがなとカタカナ", "ja") == []
    assert fonts.uncovered("한국어 문장", "ko") == []
    assert fonts.uncovered("An English note, with 中文 in it.", "en") == []
    # Private-use characters are in no font; each is listed once, in order of first appearance.
    assert fonts.uncovered("a\ue001b\ue000\ue001", "zh-Hans") == ["\ue001", "\ue000"]


@POPPLER
def test_pdf_embeds_a_subset_of_the_cjk_font(chinese_pdf: Path) -> None:
    report = subprocess.run(["pdffonts", str(chinese_pdf)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in report.splitlines() if "studykit" in line]
    assert cjk, report
    for line in cjk:
        name, *_, emb, sub, uni, _obj, _gen = line.split()
        assert re.fullmatch(r"[A-Z]{6}\+.+", name) and (emb, sub, uni) == ("yes", "yes", "yes"), line


@POPPLER
def test_chinese_extracts_and_no_line_starts_with_a_comma_or_full_stop(chinese_pdf: Path) -> None:
    text = subprocess.run(["pdftotext", "-layout", str(chinese_pdf), "-"], capture_output=True, text=True).stdout
    flat = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", SENTENCE) in flat
    assert "非极大值抑制（NMS）" in flat
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert len(lines) > 12  # the narrow column did wrap
    assert not [line for line in lines if line.startswith(("，", "。"))]
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "fonts-zh-Hans"
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(chinese_pdf), str(png)], check=True)
    assert png.with_suffix(".png").stat().st_size > 5_000


def _embedded_cjk_fonts(pdf: bytes) -> list[TTFont]:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return [
            TTFont(io.BytesIO(stream.read_bytes()))
            for stream in document.objects
            if isinstance(stream, pikepdf.Stream) and stream.get("/Subtype") == "/OpenType"
        ]


def _drawn(font: TTFont, glyph: str) -> bool:
    charstrings = font["CFF "].cff.topDictIndex[0].CharStrings
    if glyph not in charstrings:  # past the highest glyph the subset kept
        return False
    charstring = charstrings[glyph]
    charstring.decompile()
    return len(charstring.program) > 1  # a glyph the subset dropped is a bare `endchar`


@pytest.mark.parametrize(("language", "face"), [("zh-Hans", 2), ("ja", 0)])
def test_the_page_language_selects_the_regional_glyphs(language: str, face: int) -> None:
    """直 and 骨 have different Simplified Chinese and Japanese forms: each page prints its own."""
    collection = TTCollection(str(fonts.cjk_font_path()), lazy=True)
    cmaps = {index: collection.fonts[index].getBestCmap() for index in (0, 2)}
    embedded = _embedded_cjk_fonts(render(language, "<p>直骨</p>"))
    assert embedded
    for character in "直骨":
        wanted, other = cmaps[face][ord(character)], cmaps[2 - face][ord(character)]
        assert wanted != other
        assert any(_drawn(font, wanted) for font in embedded)
        assert not any(_drawn(font, other) for font in embedded)


def _plan_by_every_character(text: str, language: str) -> fonts.Plan:
    """fonts.plan as it was written before its regex scan: every distinct character of the text looked at."""
    if fonts.cjk_language(language) is not None:
        return fonts.Plan(language, cjk=fonts._installed())
    latin = [fonts._coverage(face.path, face.index) for face in fonts._latin_faces()]
    needs = any(
        not any(ord(character) in coverage for coverage in latin)
        for character in set(text)
        if character >= "\u0250" and not fonts._ignorable(character)
    )
    return fonts.Plan(language, cjk=needs and fonts._installed())


@pytest.mark.parametrize(
    "text",
    [
        "plain ASCII <b>only</b>",
        "café, naïve, ɏ (U+024F, the last Latin Extended-B)",
        "Greek α β and math ∑ ≤ in an English note",
        "a zero-width joiner \u200d and a line separator \u2028 alone",
        "one Chinese word 归一化 among English",
        "",
    ],
)
def test_the_font_plan_is_the_one_every_character_gives(text: str) -> None:
    for language in ("en", "zh-Hans"):
        assert fonts.plan(text, language) == _plan_by_every_character(text, language), (text, language)
    if any("\u4e00" <= character <= "\u9fff" for character in text):
        assert fonts.plan(text, "en").cjk == fonts._installed()


# The study page's web font: the deck's face of the collection cut to the page's CJK characters, as WOFF2.
PAGE_TEXT = "批归一化（BN），骨直。An English word, Greek α and an arrow →."


@pytest.fixture(scope="module")
def web_font_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, fonts.WebFont]:
    """A cache folder holding one cut (of PAGE_TEXT, Simplified Chinese), and the font it made."""
    cache = tmp_path_factory.mktemp("web-font")
    font = fonts.web_font([PAGE_TEXT], "zh-Hans", cache)
    assert font is not None
    return cache, font


def test_the_web_font_holds_the_pages_cjk_characters_and_no_other(web_font_cache: tuple[Path, fonts.WebFont]) -> None:
    _, font = web_font_cache
    wanted = {ord(character) for character in "批归一化（），骨直。"}
    assert set(font.code_points) == wanted
    cut = TTFont(io.BytesIO(font.woff2))
    assert cut.flavor == "woff2"
    assert set(cut.getBestCmap()) == wanted  # no Latin, Greek or arrow: those are the device's fonts' to draw


def test_the_web_font_is_the_decks_regional_face(web_font_cache: tuple[Path, fonts.WebFont], tmp_path: Path) -> None:
    """骨 and 直 are drawn differently in Simplified and Traditional Chinese: each deck's page carries its own."""
    _, simplified = web_font_cache
    traditional = fonts.web_font(["骨直"], "zh-Hant", tmp_path)
    assert traditional is not None and (simplified.language, traditional.language) == ("zh-Hans", "zh-Hant")
    collection = TTCollection(str(fonts.cjk_font_path()), lazy=True)
    for font, face in ((simplified, 2), (traditional, 3)):
        cmap = collection.fonts[face].getBestCmap()
        cut = TTFont(io.BytesIO(font.woff2)).getBestCmap()
        assert all(cut[ord(character)] == cmap[ord(character)] for character in "骨直")
    sc, tc = (collection.fonts[face].getBestCmap()[ord("骨")] for face in (2, 3))
    assert sc != tc


def test_the_web_font_is_the_same_bytes_on_every_cut(
    web_font_cache: tuple[Path, fonts.WebFont], tmp_path: Path
) -> None:
    _, first = web_font_cache
    again = fonts.web_font([PAGE_TEXT], "zh-Hans", tmp_path)  # another, empty cache: cut afresh
    assert again is not None and again.woff2 == first.woff2
    # head.modified is the collection's own, not the time of the cut.
    collection = TTCollection(str(fonts.cjk_font_path()), lazy=True)
    assert TTFont(io.BytesIO(first.woff2))["head"].modified == collection.fonts[2]["head"].modified


def test_a_cut_made_before_is_read_from_the_cache_without_opening_the_collection(
    web_font_cache: tuple[Path, fonts.WebFont], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, first = web_font_cache
    (kept,) = (cache / "fonts").glob("*.woff2")
    assert kept.read_bytes() == first.woff2
    before = kept.stat().st_mtime_ns

    def opened(*arguments: object, **keywords: object) -> None:
        raise AssertionError("the font collection was opened")

    import fontTools.subset
    import fontTools.ttLib

    monkeypatch.setattr(fontTools.ttLib, "TTCollection", opened)
    monkeypatch.setattr(fontTools.ttLib, "TTFont", opened)
    monkeypatch.setattr(fontTools.subset, "Subsetter", opened)
    again = fonts.web_font(["归一化，批骨直（BN）。"], "zh-Hans", cache)  # the same characters, another text
    assert again is not None and again.woff2 == first.woff2
    assert [path.name for path in (cache / "fonts").iterdir()] == [kept.name] and kept.stat().st_mtime_ns == before


def test_a_page_without_cjk_reads_no_font(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def looked_up() -> Path:
        raise AssertionError("the CJK font was looked up")

    monkeypatch.setattr(fonts, "cjk_font_path", looked_up)
    for language in ("en", "zh-Hans"):
        assert fonts.web_font(["An English note: café, α → β, “quotes” and an em dash —"], language, tmp_path) is None
    assert not (tmp_path / "fonts").exists()
