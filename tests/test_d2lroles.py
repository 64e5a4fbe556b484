"""d2l's roles (`:label:`, `:numref:`, `:eqref:`, `:cite:`, `:eqlabel:`, `:width:`, framework tabs) in notes copied from
Dive into Deep Learning: made plain, never printed as written. Expected lines are written by hand from the rules
(generator/d2lroles.py), not taken from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import build as pipeline
from generator import markup
from generator.d2lroles import plain_line
from generator.errors import BuildFailed

CORPUS = Path(__file__).parent / "corpus" / "notes"

LINES = {
    ":label:`sec_dropout`": "",
    "As shown in :numref:`fig_pacman`.": "As shown in `fig_pacman`.",
    "如 :numref:`sec_prob`中所说": "如 `sec_prob`中所说",
    "Plug it into :eqref:`eq_softmax`, then": "Plug it into (`eq_softmax`), then",
    "translation invariance :cite:`Zhang.ea.1988,Waibel.1989`.": "translation invariance [Zhang.ea.1988, Waibel.1989].",
    "$$ \\hat y = \\mathrm{softmax}(o) $$ :eqlabel:`eq_softmax_y`": "$$ \\hat y = \\mathrm{softmax}(o) $$",
    ":width:`400px`": "",
    ":begin_tab:`pytorch`": "**pytorch**",
    ":end_tab:": "",
    "code `x = d2l.numref` and `:label:` stay": "code `x = d2l.numref` and `:label:` stay",
    "a plain line: with a colon": "a plain line: with a colon",
}


@pytest.mark.parametrize("line", sorted(LINES))
def test_each_role_is_made_plain(line: str) -> None:
    assert plain_line(line) == LINES[line]


@pytest.mark.parametrize("deck", ["d2l-en", "d2l-zh"])
def test_corpus_notes_from_d2l_print_no_role(deck: str) -> None:
    """The corpus's d2l sections (SOURCES.md) hold every role: none is left in any note's HTML."""
    notes = pipeline.check(CORPUS / deck).deck.notes
    html = "".join(note.key_points_html + note.answer_html for note in notes)
    for role in (":label:", ":eqlabel:", ":numref:", ":eqref:", ":cite:"):
        assert role not in html, role
    assert "<code>fig_" in html or "<code>sec_" in html, "a reference keeps its label, as code"


def test_a_dropped_label_keeps_the_lines_below_it_in_place(content_copy: Path) -> None:
    note = next(content_copy.glob("51-*.md"))
    text = note.read_text(encoding="utf-8").replace(
        "## Full answer\n", "## Full answer\n\n:label:`sec_x`\n\nThe rate $\\alpha is never closed.\n", 1
    )
    note.write_text(text, encoding="utf-8")
    with pytest.raises(BuildFailed) as failure:
        pipeline.check(content_copy)
    (problem,) = failure.value.problems
    assert text.split("\n")[problem.location.line - 1] == "The rate $\\alpha is never closed."


def test_a_one_line_display_formula_with_its_eqlabel_is_display_math() -> None:
    html = markup.new_converter().html("Text:\n\n$$ y = x^2 $$ :eqlabel:`eq_y`\n\nafter")
    assert [(found.tex, found.display) for found in markup.iter_math(html)] == [("y = x^2", True)], html
