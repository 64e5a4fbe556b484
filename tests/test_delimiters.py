"""Math delimiters as Typora, Obsidian, VS Code, Jupyter and GitBook users write them (README: "Math in notes").

Each accepted style is shown with the formula it must give; each rejected one with the line its error points at.
The expected outputs are written by hand from the rules, not taken from the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import build as pipeline
from generator import markup
from generator.errors import BuildFailed

ACCEPTED = {
    "display under text (Typora, Obsidian)": (
        "Some text:\n$$\nx = 1\n$$\nafter",
        [("x = 1", True)],
    ),
    "display over text": ("$$\ny = 2\n$$\nfollowed directly", [("y = 2", True)]),
    "one-line display under text": ("Text:\n$$x = 1$$\nafter", [("x = 1", True)]),
    "blank lines inside display": ("$$\na = b\n\nc = d\n$$", [("a = b\nc = d", True)]),
    "spaces inside inline (Jupyter, Typora)": ("the value $ x^2 $ here and $x $ too", [("x^2", False), ("x", False)]),
    "spaced inline before Chinese punctuation": (
        "损失函数 $ L(\\theta) $，其中 $\\theta$ 是参数。",
        [("L(\\theta)", False), ("\\theta", False)],
    ),
    "inline $$ in a sentence (GitBook)": ("the mean $$\\mu$$ is used", [("\\mu", False)]),
    "inline formula over two lines": (
        "a piecewise $ f(x) = \\left\\{\nx \\right. $ here",
        [("f(x) = \\left\\{\nx \\right.", False)],
    ),
    "lone equation block": (
        "Text\n\\begin{equation}\nx = 1\n\\end{equation}\nafter",
        [("\\begin{equation}\nx = 1\n\\end{equation}", True)],
    ),
    "lone align* block": ("\\begin{align*}\na &= b\n\\end{align*}", [("\\begin{align*}\na &= b\n\\end{align*}", True)]),
    "plain inline": ("$a$ and $b_1$", [("a", False), ("b_1", False)]),
}

STAYS_TEXT = {
    "money": "It costs $5 and $10.",
    "money with spaces": "It costs $ 5 and $ 10 in total.",
    "escaped dollar": "a price of \\$3",
    "inline code": "run `echo $ HOME $` first",
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_styles_give_the_formula(name: str) -> None:
    source, expected = ACCEPTED[name]
    html = markup.new_converter().html(source)
    assert [(found.tex, found.display) for found in markup.iter_math(html)] == expected, html
    assert not markup.stray_dollars(html), html


@pytest.mark.parametrize("name", sorted(STAYS_TEXT))
def test_dollars_that_are_not_math_stay_text(name: str) -> None:
    html = markup.new_converter().html(STAYS_TEXT[name])
    assert list(markup.iter_math(html)) == [], html


def test_every_line_keeps_its_number() -> None:
    from generator.delimiters import normalise

    lines = ["text", "$$", "a", "", "b", "$$", "more $ x $", "end"]
    out = normalise(lines)
    # Blank lines go around the display block and the one inside goes: the lines of text keep their order.
    assert [line for line in out if line.strip()] == ["text", "$$", "a", "b", "$$", "more $x$", "end"]


def note_with(content: Path, body: str) -> tuple[Path, list[str]]:
    note = next(content.glob("51-*.md"))
    text = note.read_text(encoding="utf-8")
    head, tail = text.split("## Full answer\n", 1)
    note.write_text(f"{head}## Full answer\n\n{body}\n\n{tail}", encoding="utf-8")
    return note, note.read_text(encoding="utf-8").split("\n")


def only_problem(content: Path) -> tuple[int, str, str]:
    with pytest.raises(BuildFailed) as failure:
        pipeline.check(content)
    (problem,) = failure.value.problems
    return problem.location.line, problem.message, problem.hint


def test_display_math_never_closed_points_at_its_opening_line(content_copy: Path) -> None:
    _, lines = note_with(content_copy, "Before.\n\n$$\nx = 1\n\nThe end of the answer.")
    line, message, hint = only_problem(content_copy)
    assert lines[line - 1] == "$$", (line, message)
    assert "`$$`" in message and "$$" in hint


def test_inline_never_closed_points_at_its_line(content_copy: Path) -> None:
    _, lines = note_with(content_copy, "First line.\n\nThe rate $\\alpha is never closed.")
    line, message, hint = only_problem(content_copy)
    assert "$\\alpha" in lines[line - 1] and "never closes" in message and "\\$" in hint


def test_corpus_notes_check_clean() -> None:
    """Real notes in these styles (tests/corpus/notes, SOURCES.md: 61 notes from five repositories) check with no
    error at all: no delimiter error, and every formula, eqnarray included, drawn by Anki's MathJax. The only warnings
    are the Obsidian notes' links to notes left out of their deck (tests/test_obsidian.py)."""
    corpus = Path(__file__).parent / "corpus" / "notes"
    folders = sorted(path.parent for path in corpus.glob("*/deck.yaml"))
    assert [folder.name for folder in folders] == ["d2l-en", "d2l-zh", "dive-into-dl-pytorch", "dl500", "obsidian"]
    read = {folder.name: pipeline.check(folder) for folder in folders}
    notes = [len(result.deck.notes) for result in read.values()]
    assert sum(notes) >= 60, notes
    warnings = [warning.message for result in read.values() for warning in result.warnings]
    assert len(warnings) == 4 and all("links to no note of this deck" in message for message in warnings), warnings
