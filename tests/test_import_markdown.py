"""`studykit import NOTES.md`: real chapters (tests/corpus/markdown, see its SOURCES.md) made into a deck that checks.

In-process (click's CliRunner), no PDF: the import, then `check` of what it wrote.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from generator.cli import cli

CORPUS = Path(__file__).parent / "corpus"
DL500 = CORPUS / "markdown" / "dl500"
CH01 = DL500 / "第一章_数学基础.md"
CH05 = DL500 / "第五章_卷积神经网络(CNN).md"
ENGLISH = CORPUS / "markdown" / "ajit" / "linear_regression_and_regularization.md"


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def notes(folder: Path) -> list[tuple[dict[str, object], str, str]]:
    """Each note's front matter, key points and full answer, in file order."""
    found = []
    for path in sorted(folder.glob("*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        key_points, answer = body.split("\n## Full answer\n\n")
        found.append((yaml.safe_load(front), key_points.removeprefix("\n## Key points\n\n").strip(), answer.strip()))
    return found


def sections(note: Path) -> tuple[str, str]:
    """A hand-made corpus note's key points and full answer."""
    body = note.read_text(encoding="utf-8").split("---\n", 2)[2]
    key_points, answer = body.split("\n## Full answer\n\n")
    return key_points.removeprefix("\n## Key points\n\n").strip(), answer.strip()


def test_real_chinese_chapters_make_a_deck_that_checks(tmp_path: Path) -> None:
    into = tmp_path / "deck"
    result = invoke("import", DL500, "--into", into)
    assert result.exit_code == 0, result.output
    assert "imported 5 notes and 1 images" in result.output
    assert "第一章_数学基础.md: level 3" in result.output and "第五章_卷积神经网络(CNN).md: level 2" in result.output
    assert f"studykit check --content {into}" in result.output

    deck = yaml.safe_load((into / "deck.yaml").read_text(encoding="utf-8"))
    assert deck["language"] == "zh-Hans" and deck["title"] == "dl500" and (1 << 30) <= deck["id"] < (1 << 62)
    written = notes(into)
    assert [front["question"] for front, _, _ in written] == [
        "1.1.1 标量、向量、矩阵、张量之间的联系",
        "1.1.2 张量与矩阵的区别",
        "1.1.3 矩阵和向量相乘结果",
        "5.1 卷积神经网络的组成层",
        "5.22 NetVLAD池化 （贡献者：熊楚原-中国人民大学）",
    ]
    assert [front["number"] for front, _, _ in written] == [1, 2, 3, 4, 5]
    assert written[0][0]["tags"] == ["1-1-向量和矩阵"] and written[3][0]["tags"] == ["第五章-卷积神经网络-cnn"]
    # 1.1.3 is one paragraph split at its line boundary outside `$$`: the corpus note made by hand from it.
    assert written[2][1:] == sections(CORPUS / "notes" / "dl500" / "01-ch01-l39.md")
    # 5.1's own ### sub-questions stay inside its answer, as ### (they were ### under a ## question).
    assert re.findall(r"^###? .*", written[3][2], flags=re.MULTILINE)[:2] == ["### 5.1.1 输入层", "### 5.1.2 卷积层"]

    check = invoke("check", "--content", into, "-j", "1")
    assert check.exit_code == 0, check.output
    assert "ok: dl500: 5 notes" in check.output and "0 warnings" in check.output


def test_real_english_chapter(tmp_path: Path) -> None:
    into = tmp_path / "en"
    result = invoke("import", ENGLISH, "--into", into)
    assert result.exit_code == 0, result.output
    assert "imported 4 notes" in result.output
    deck = yaml.safe_load((into / "deck.yaml").read_text(encoding="utf-8"))
    assert deck["language"] == "en" and deck["title"] == "Linear Methods For Regression"
    first, _, _, fourth = notes(into)
    assert first[0]["question"] == "Q: What is linear regression, and how does it work?"
    assert first[0]["tags"] == ["linear-regression"]
    # <details>/<summary> wrappers out; first paragraph = key points; the rest, down to the last bullet, = answer.
    assert first[1] == (
        "Linear regression is a statistical model that assumes the regression function $E(Y|X)$  is linear or "
        "nearly linear."
    )
    assert first[2].startswith("It takes the following form:\n\n$$f(X) = \\beta_{0}")
    assert first[2].endswith("as a estimation method to calculate the values of coefficients.")
    assert "<details>" not in first[2] and "Show Answer" not in first[2]
    # Math in a question is kept; the "Back to Main Index" line closing the file is no part of the last answer.
    assert fourth[0]["question"].startswith("Q: Suppose a model takes form of $f(X) = \\beta_{0}")
    assert "README" not in fourth[2] and "Back to" not in fourth[2]
    check = invoke("check", "--content", into, "-j", "1")
    assert check.exit_code == 0, check.output
    assert "0 warnings" in check.output


def test_ids_are_stable_and_the_deck_id_fresh(tmp_path: Path) -> None:
    for name in ("one", "two"):
        assert invoke("import", DL500, "--into", tmp_path / name).exit_code == 0
    one, two = notes(tmp_path / "one"), notes(tmp_path / "two")
    assert [front["id"] for front, _, _ in one] == [front["id"] for front, _, _ in two]
    assert len({front["id"] for front, _, _ in one}) == 5
    assert sorted(p.name for p in (tmp_path / "one").glob("*.md")) == sorted(
        p.name for p in (tmp_path / "two").glob("*.md")
    )
    decks = [yaml.safe_load((tmp_path / n / "deck.yaml").read_text(encoding="utf-8"))["id"] for n in ("one", "two")]
    assert decks[0] != decks[1]


def test_images_copied_and_remote_ones_reported(tmp_path: Path) -> None:
    into = tmp_path / "deck"
    result = invoke("import", CH05, "--into", into)
    assert result.exit_code == 0, result.output
    assert (into / "figures" / "convolution.png").read_bytes() == (
        DL500 / "img" / "ch5" / "convolution.png"
    ).read_bytes()
    written = notes(into)
    assert "![conv-same](figures/convolution.png)" in written[0][2]
    assert f"{CH05}:74: warning: remote image http://www.ecohnoch.cn/img/netvlad.jpeg left as a link" in result.output
    assert "[image](http://www.ecohnoch.cn/img/netvlad.jpeg)" in written[1][2]
    assert "2 images" not in result.output and "3 warnings" in result.output


def test_level_overrides_and_text_left_out_is_reported(tmp_path: Path) -> None:
    result = invoke("import", CH05, "--into", tmp_path / "deck", "--level", "3")
    assert result.exit_code == 0, result.output
    assert [front["question"] for front, _, _ in notes(tmp_path / "deck")] == [
        "5.1.1 输入层",
        "5.1.2 卷积层",
        "5.1.3 激活层",
        "5.1.4 池化层",
        "5.1.5 全连接层",
    ]
    assert f"{CH05}:54: warning: the text under `## 5.22" in result.output and "pass --level 2" in result.output


def test_html_wrappers_local_images_and_one_paragraph_sections(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "img").mkdir(parents=True)
    (source / "img" / "a b.png").write_bytes((DL500 / "img" / "ch5" / "convolution.png").read_bytes())
    (source / "other").mkdir()
    (source / "other" / "a b.png").write_bytes(b"\x89PNG second")
    (source / "notes.md").write_text(
        "# Title\n\n## Basics\n\n### What is $x$? ###\n\nOne line.\n\n"
        "### Two lines {#two}\n\nFirst line.\nSecond line.\n\n"
        "### Image only twice\n\n![same](img/a%20b.png) ![other](other/a%20b.png)\n"
        '<center>\n<img src="img/a b.png" width="50%">\n</center>\n\n'
        "### Missing\n\nSee ![gone](img/missing.png) and [the next chapter](ch2.md).\n\n"
        "### Empty\n\n---\n\n### What is $x$? ###\n\n- a list\n- of two\n",
        encoding="utf-8",
    )
    into = tmp_path / "deck"
    result = invoke("import", source / "notes.md", "--into", into)
    assert result.exit_code == 0, result.output
    written = notes(into)
    assert [front["question"] for front, _, _ in written] == [
        "What is $x$?",
        "Two lines",
        "Image only twice",
        "Missing",
        "What is $x$?",
    ]
    assert written[0][0]["id"] != written[4][0]["id"]  # the same heading twice: told apart by its occurrence
    assert written[0][1:] == ("One line.", "One line.")
    assert written[1][1:] == ("First line.", "Second line.")
    # The <center> wrapper goes; its <img> becomes a Markdown image of the same (once copied) file.
    assert written[2][1:] == ("![same](figures/a-b.png) ![other](figures/a-b-2.png)", "![](figures/a-b.png)")
    assert written[3][1] == "See gone and the next chapter."
    assert written[4][1:] == ("- a list\n- of two", "- a list\n- of two")
    assert f"{source / 'notes.md'}:23: warning: image img/missing.png: not found" in result.output
    assert f"{source / 'notes.md'}:23: warning: link to ch2.md left as its text" in result.output
    assert sorted(p.name for p in (into / "figures").iterdir()) == ["a-b-2.png", "a-b.png"]


def test_apkg_still_goes_to_the_anki_importer(tmp_path: Path) -> None:
    package = tmp_path / "x.apkg"
    package.write_bytes(b"not a zip")
    result = invoke("import", package, "--into", tmp_path / "deck")
    assert result.exit_code == 1 and "not an Anki package" in result.output
    assert invoke("import", package, "--level", "2").exit_code == 2


@pytest.mark.parametrize("case", ["missing", "no-heading-at-level", "no-heading", "not-empty", "not-utf8", "txt"])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path: Path, case: str) -> None:
    into = tmp_path / "deck"
    args: list[str | Path] = []
    if case == "missing":
        source, expected = tmp_path / "nope.md", f"{tmp_path / 'nope.md'}: no such file or folder"
    elif case == "no-heading-at-level":
        source, expected = CH01, f"{CH01}: no level-4 heading (####); its headings are at level 1, 2, 3"
        args = ["--level", "4"]
    elif case == "no-heading":
        source = tmp_path / "flat.md"
        source.write_text("Just text.\n\nMore text.\n", encoding="utf-8")
        expected = f"{source}: no heading"
    elif case == "not-empty":
        into.mkdir()
        (into / "keep.txt").write_text("mine", encoding="utf-8")
        source, expected = CH01, f"{into}: already holds files"
    elif case == "not-utf8":
        # The real chapter as an editor on a Chinese Windows saves it: GB18030.
        source = tmp_path / "gbk.md"
        source.write_bytes(CH01.read_text(encoding="utf-8").replace("\u200b", "").encode("gb18030"))
        expected = f"{source}:6: not UTF-8 (byte 0xb5"
    else:
        source = tmp_path / "notes.txt"
        source.write_text("# A\n\ntext\n", encoding="utf-8")
        expected = f"{source}: not a Markdown file (.md) or an Anki package (.apkg)"
    result = invoke("import", source, "--into", into, *args)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # click's own error exit
    if case == "no-heading-at-level":
        assert "hint: pass --level 3" in result.output
    assert not into.exists() or [p.name for p in into.iterdir()] == (["keep.txt"] if case == "not-empty" else [])
    assert not list(tmp_path.glob(".studykit-import-*"))
