"""Math in a question's title: real notes put it there ("3.8.4 用 $ 1/\\sqrt n $ 校准方差" in
DeepLearning-500-questions, "6.1.2 $n$元语法" in Dive-into-DL-PyTorch, tests/corpus/notes). Every output must
draw it as it draws the body's math, never show the dollars, and a formula that does not draw is an error at the
question's line.

The expected formulas are written by hand from the rules (README: "Math in notes"), not taken from the code.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator import build as pipeline
from generator import markup
from generator.errors import BuildFailed

QUESTION_FORMULAS = {
    "spaced dollars (Typora, Chinese notes)": ("3.8.4 用 $ 1/\\sqrt n $ 校准方差", ["1/\\sqrt n"]),
    "plain dollars": ("Why divide by $\\sqrt{d_k}$ in attention?", ["\\sqrt{d_k}"]),
    "two formulas": ("Is $x_1$ ever larger than $x_2$?", ["x_1", "x_2"]),
    "parentheses (Anki, MathJax)": ("When is \\(a < b\\)?", ["a < b"]),
    "inline $$ (GitBook)": ("What is $$\\mu$$ here?", ["\\mu"]),
    "money": ("Why does it cost $5 and $10?", []),
    "escaped dollar": ("What does a \\$ sign mean?", []),
    "inline code": ("What does `echo $HOME$` print?", []),
}


@pytest.mark.parametrize("name", sorted(QUESTION_FORMULAS))
def test_question_formulas_are_found_as_in_the_body(name: str) -> None:
    question, expected = QUESTION_FORMULAS[name]
    found = markup.question_html(question)
    assert [formula.tex for formula in markup.iter_math(found)] == expected, found
    assert not re.search(r"<(?!/?span\b)", found), "only the formula spans are markup"


def test_question_text_is_escaped_and_an_escaped_dollar_is_a_dollar() -> None:
    assert markup.question_html('Is <b> & "c" bold?') == html.escape('Is <b> & "c" bold?', quote=False)
    assert markup.question_html("What does a \\$ sign mean?") == "What does a $ sign mean?"
    assert "&lt;" in markup.question_html("When is \\(a < b\\)?")


QUESTION = "Why does $\\sigma(x) = \\frac{1}{1+e^{-x}}$ squash its input?"


@pytest.fixture
def math_question_deck(content_copy: Path) -> Path:
    """Two notes of the shipped deck, the second asking a question with a formula in it."""
    for note in content_copy.glob("*.md"):
        if not note.name.startswith(("51-", "52-")):
            note.unlink()
    note = next(content_copy.glob("52-*.md"))
    text = note.read_text(encoding="utf-8")
    note.write_text(re.sub(r"(?m)^question: .*$", lambda _: f"question: '{QUESTION}'", text, count=1), "utf-8")
    return content_copy


def test_a_question_with_math_is_drawn_in_every_output(math_question_deck: Path, tmp_path: Path, col: Any) -> None:
    report = pipeline.build(math_question_deck, tmp_path / "out", ("apkg", "html", "pdf", "tsv"))
    outputs = {path.name.split(".", 1)[1]: path for path in report.written}
    note = next(note for note in report.deck.notes if note.number == 52)
    assert [formula.tex for formula in note.formulas][-1:] == ["\\sigma(x) = \\frac{1}{1+e^{-x}}"]

    # Anki: the question field holds the formula in the delimiters Anki's MathJax draws, in a real collection.
    from anki.collection import ImportAnkiPackageOptions, ImportAnkiPackageRequest

    col.import_anki_package(
        ImportAnkiPackageRequest(package_path=str(outputs["apkg"]), options=ImportAnkiPackageOptions())
    )
    fronts = [col.get_note(identifier)["Question"] for identifier in col.find_notes("")]
    assert any("\\(\\sigma(x) = \\frac{1}{1+e^{-x}}\\)" in front for front in fronts), fronts
    assert not any("$" in front for front in fronts), fronts
    assert "\\(\\sigma(x)" in outputs["tsv"].read_text(encoding="utf-8")

    # The page: the heading and the contents entry each draw it as SVG, with no dollar left.
    page = outputs["html"].read_text(encoding="utf-8")
    heading = re.search(r'<h2 class="question"><span class="number">52</span>(.*?)</h2>', page, re.DOTALL)
    entry = re.search(r'<span class="toc-number">52</span> <span class="toc-question">(.*?)</span></a>', page, re.S)
    assert heading is not None and entry is not None
    for shown in (heading.group(1), entry.group(1)):
        assert '<svg class="math"' in shown and "$" not in shown and "squash its input?" in shown, shown[:300]

    # The cheat sheet: the formula is drawn (its TeX is the invisible text over the drawing), no dollar is printed.
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils absent: the cheat sheet is not read back (.ci/run installs it)")
    text = subprocess.run(
        ["pdftotext", "-layout", str(outputs["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "$" not in text
    assert re.search(r"Why does\s+\\sigma\(x\) = \\frac\{1\}\{1\+e\^\{-x\}\}\s+squash", text), text[:2000]


def test_a_question_formula_that_does_not_draw_is_an_error_at_the_question_line(math_question_deck: Path) -> None:
    note = next(math_question_deck.glob("52-*.md"))
    text = note.read_text(encoding="utf-8").replace(QUESTION, "Why does $\\frac{1}{$ fail?")
    note.write_text(text, encoding="utf-8")
    with pytest.raises(BuildFailed) as failure:
        pipeline.check(math_question_deck)
    (problem,) = failure.value.problems
    lines = text.split("\n")
    assert problem.location.path.name == note.name
    assert lines[problem.location.line - 1].startswith("question:"), (problem.location.line, problem.message)
