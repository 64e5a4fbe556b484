"""Rough edges found by trying studykit on other people's notes, each fixed and kept fixed (in-process)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import build as pipeline
from generator import language
from generator.cli import cli
from generator.errors import BuildFailed, Problem


def problems_of(content: Path) -> list[Problem]:
    with pytest.raises(BuildFailed) as failure:
        pipeline.check(content)
    return failure.value.problems


def note(content: Path, number: int) -> Path:
    return next(content.glob(f"{number}-*.md"))


def add_to_answer(path: Path, text: str) -> int:
    """Put `text` at the top of the note's full answer; the line it starts on."""
    source = path.read_text(encoding="utf-8")
    head, tail = source.split("## Full answer\n", 1)
    path.write_text(f"{head}## Full answer\n\n{text}\n{tail}", encoding="utf-8")
    return head.count("\n") + 3


def test_deep_quotes_and_lists_are_errors_at_their_line(content_copy: Path) -> None:
    quotes_at = add_to_answer(note(content_copy, 51), "> " * 3000 + "deep")
    add_to_answer(note(content_copy, 52), "\n".join("    " * level + "- item" for level in range(400)))
    found = {p.location.path.name[:2]: p for p in problems_of(content_copy)}
    assert set(found) == {"51", "52"}
    assert found["51"].location.line == quotes_at
    assert "nested" in found["51"].message and "flatten" in found["51"].hint
    lines = note(content_copy, 52).read_text(encoding="utf-8").split("\n")
    assert lines[found["52"].location.line - 1].strip() == "- item"


def test_nesting_that_real_notes_use_is_fine(content_copy: Path) -> None:
    add_to_answer(note(content_copy, 53), "> quoted\n>\n> > twice\n\n- a\n    - b\n        - c\n            - d")
    assert pipeline.check(content_copy).deck.notes


def test_markdown_suffix_is_read_and_a_subfolder_note_is_warned(content_copy: Path) -> None:
    note(content_copy, 54).rename(content_copy / "54-nms.markdown")
    (content_copy / "drafts").mkdir()
    shutil.move(note(content_copy, 55), content_copy / "drafts" / "55-anchors.md")
    result = pipeline.check(content_copy)
    assert 54 in [n.number for n in result.deck.notes] and 55 not in [n.number for n in result.deck.notes]
    (warning,) = [w for w in result.warnings if "not read" in w.message]
    assert warning.location.path.name == "55-anchors.md" and "drafts/" in warning.message


def test_paper_is_case_insensitive(content_copy: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "tsv", "--paper", "A4", "--content", str(content_copy), "-q",
                                      "--output", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output


def test_booklet_footer_comes_from_the_deck(content_copy: Path) -> None:
    deck_file = content_copy / "deck.yaml"
    text = deck_file.read_text(encoding="utf-8")
    deck_file.write_text(re.sub(r"(?m)^footer:.*\n", "", text), encoding="utf-8")
    deck = pipeline.check(content_copy).deck
    assert deck.footer == f"{deck.author} · {deck.license} · full credit on the title page"
    deck_file.write_text(re.sub(r"(?m)^footer:.*$", 'footer: My "own" notes \\ 2026', text), encoding="utf-8")
    from generator.writers import booklet

    context = pipeline.context_for(pipeline.check(content_copy).deck, pipeline.BuildOptions(content_copy))
    document = booklet.html_of(pipeline.check(content_copy).deck, context)
    assert '@bottom-left { content: "My \\"own\\" notes \\\\ 2026"; }' in document
    assert "julyedu" not in (Path(booklet.__file__).parents[2] / "templates" / "booklet.css").read_text()


@pytest.mark.parametrize(
    ("value", "hint"),
    [("chinese", "zh-Hans"), ("中文", "zh-Hans"), ("English", "`language: en`"), ("en_US", "e.g. en")],
)
def test_language_must_be_a_bcp47_tag(content_copy: Path, value: str, hint: str) -> None:
    deck_file = content_copy / "deck.yaml"
    deck_file.write_text(re.sub(r"(?m)^language:.*$", f"language: {value}", deck_file.read_text()), encoding="utf-8")
    (problem,) = problems_of(content_copy)
    assert "BCP 47" in problem.message and hint in problem.hint
    assert problem.location.line == deck_file.read_text().split("\n").index(f"language: {value}") + 1


@pytest.mark.parametrize(("tag", "shaped"), [("zh-hans", "zh-Hans"), ("EN", "en"), ("pt-br", "pt-BR"), ("ja", "ja")])
def test_language_tags_are_accepted_in_their_usual_case(tag: str, shaped: str) -> None:
    assert language.problem(tag) is None and language.canonical(tag) == shaped


def test_unicode_tags_are_accepted_and_spaces_are_not(content_copy: Path) -> None:
    path = note(content_copy, 56)
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^tags:.*$", "tags: [归一化, CNN, 深度学习::卷积]", text), encoding="utf-8")
    deck = pipeline.check(content_copy).deck
    assert next(n for n in deck.notes if n.number == 56).tags == ("归一化", "CNN", "深度学习::卷积")
    path.write_text(re.sub(r"(?m)^tags:.*$", 'tags: ["two words", ok]', text), encoding="utf-8")
    (problem,) = problems_of(content_copy)
    assert "`two words`" in problem.message and "spaces" in problem.hint


def test_tex_is_quoted_as_written(content_copy: Path) -> None:
    add_to_answer(note(content_copy, 57), "Bad: $\\frac{a}{b$ here.")
    (problem,) = problems_of(content_copy)
    assert "`\\frac{a}{b`" in problem.message and "\\\\frac" not in problem.message


def test_new_names_a_chinese_question_by_its_words_and_its_tag_builds(content_copy: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["new", "什么是批归一化？", "--tag", "归一化", "--content", str(content_copy)])
    second = runner.invoke(cli, ["new", "什么是层归一化？", "--tag", "归一化", "--content", str(content_copy)])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    names = sorted(path.name for path in content_copy.glob("6[67]-*.md"))
    assert names == ["66-什么是批归一化.md", "67-什么是层归一化.md"]
    for name in names:  # fill in the skeleton's sections so that the note checks
        path = content_copy / name
        path.write_text(path.read_text(encoding="utf-8").replace("TODO", "内容"), encoding="utf-8")
    deck = pipeline.check(content_copy).deck
    assert [n.tags for n in deck.notes if n.number == 66] == [("归一化",)]


def test_a_note_may_set_its_own_language(content_copy: Path, tmp_path: Path) -> None:
    path = note(content_copy, 51)
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^(tags:.*)$", r"\1\nlanguage: zh-hans", text, count=1), encoding="utf-8")
    report = pipeline.build(content_copy, tmp_path, ("html",))
    assert [n.language for n in report.deck.notes if n.number == 51] == ["zh-Hans"]
    page = report.written[0].read_text(encoding="utf-8")
    assert re.search(r'<article class="note" id="q51" lang="zh-Hans"', page)
    assert not re.search(r'<article class="note" id="q52" lang=', page)
    path.write_text(re.sub(r"(?m)^(tags:.*)$", r"\1\nlanguage: chinese", text, count=1), encoding="utf-8")
    (problem,) = problems_of(content_copy)
    assert "BCP 47" in problem.message and "zh-Hans" in problem.hint


def test_a_deck_overrides_a_template_or_stylesheet_by_name(content_copy: Path, tmp_path: Path) -> None:
    from generator import templating
    from generator.writers import anki as anki_writer

    own = content_copy / "templates"
    (own / "anki").mkdir(parents=True)
    page_css = templating.read(templating.TEMPLATES_DIR, "page.css")
    (own / "page.css").write_text(page_css + "\n.deck-own-marker { color: #123456; }\n", encoding="utf-8")
    front = templating.read(templating.TEMPLATES_DIR, "anki/front.html")
    (own / "anki" / "front.html").write_text("<!-- own front -->" + front, encoding="utf-8")
    report = pipeline.build(content_copy, tmp_path, ("html", "apkg"))
    page = (tmp_path / f"{report.deck.slug}.html").read_text(encoding="utf-8")
    assert ".deck-own-marker { color: #123456; }" in page
    import sqlite3
    import zipfile

    with zipfile.ZipFile(tmp_path / f"{report.deck.slug}.apkg") as package:
        database = tmp_path / "collection.anki2"
        database.write_bytes(package.read("collection.anki2"))
    models = sqlite3.connect(database).execute("SELECT models FROM col").fetchone()[0]
    assert "<!-- own front -->" in models and anki_writer.NOTE_TYPE_NAME in models
    (own / "page.html.j2").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(templating.TemplateError, match=r"page\.html\.j2:1: template error"):
        pipeline.build(content_copy, tmp_path, ("html",))


def test_emoji_no_font_has_are_errors_at_their_line_and_those_it_has_are_fine(content_copy: Path) -> None:
    """👩‍💻 and flags have no glyph in the fonts studykit prints with (😀 has one): the PDF would show boxes."""
    line = add_to_answer(note(content_copy, 56), "Pair programming 👩‍💻 in 🇫🇷, happily 😀.")
    found = problems_of(content_copy)
    assert {p.message.split("(U+")[1][:5] for p in found} == {"1F469", "1F4BB", "1F1EB", "1F1F7"}
    assert {p.location.line for p in found} == {line}
