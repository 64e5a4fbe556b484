"""`studykit init` starts a deck that checks and builds; `studykit new` adds to it (in-process, click's CliRunner)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from generator.cli import cli
from tests.conftest import CONTENT


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def test_init_then_check_passes(tmp_path: Path) -> None:
    folder = tmp_path / "my_first-deck"
    result = invoke("init", folder)
    assert result.exit_code == 0, result.output
    content = folder / "content"
    deck = yaml.safe_load((content / "deck.yaml").read_text(encoding="utf-8"))
    assert deck["title"] == "My first deck" and deck["slug"] == "my-first-deck" and deck["language"] == "en"
    assert deck["license"] and deck["author"] and deck["credit"] and deck["source_url"]
    assert (1 << 30) <= deck["id"] < (1 << 62)
    assert "build/" in (folder / ".gitignore").read_text(encoding="utf-8").split("\n")
    [example] = content.glob("*.md")
    text = example.read_text(encoding="utf-8")
    assert example.name.startswith("01-") and "## Key points" in text and "## Full answer" in text
    assert "$$" in text and re.search(r"\$[^$\n]+\$", text)
    check = invoke("check", "--content", content, "-j", "1")
    assert check.exit_code == 0, check.output
    assert "ok: my-first-deck: 1 notes" in check.output and "0 warnings" in check.output


def test_two_decks_get_different_ids(tmp_path: Path) -> None:
    ids = set()
    for name in ("one", "two"):
        assert invoke("init", tmp_path / name).exit_code == 0
        ids.add(yaml.safe_load((tmp_path / name / "content" / "deck.yaml").read_text(encoding="utf-8"))["id"])
    assert len(ids) == 2


def test_flags_fill_the_deck_file(tmp_path: Path) -> None:
    args = ["--title", "Linear algebra", "--slug", "linalg", "--language", "de", "--license", "MIT", "--author", "Ada"]
    result = invoke("init", tmp_path / "x", *args)
    assert result.exit_code == 0, result.output
    deck = yaml.safe_load((tmp_path / "x" / "content" / "deck.yaml").read_text(encoding="utf-8"))
    assert (deck["title"], deck["slug"], deck["language"], deck["license"], deck["author"]) == (
        "Linear algebra",
        "linalg",
        "de",
        "MIT",
        "Ada",
    )


def test_init_refuses_a_folder_that_has_a_deck(tmp_path: Path) -> None:
    folder = tmp_path / "deck"
    assert invoke("init", folder).exit_code == 0
    before = (folder / "content" / "deck.yaml").read_bytes()
    again = invoke("init", folder)
    assert again.exit_code == 1 and "a deck is already here" in again.output
    assert (folder / "content" / "deck.yaml").read_bytes() == before
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "deck.yaml").write_text("title: x\n", encoding="utf-8")
    refused = invoke("init", flat)
    assert refused.exit_code == 1 and f"{flat / 'deck.yaml'}" in refused.output
    assert not (flat / "content").exists()


def test_init_keeps_an_existing_gitignore_and_rejects_a_bad_slug(tmp_path: Path) -> None:
    folder = tmp_path / "deck"
    folder.mkdir()
    (folder / ".gitignore").write_text("*.pyc", encoding="utf-8")
    assert invoke("init", folder).exit_code == 0
    assert (folder / ".gitignore").read_text(encoding="utf-8") == "*.pyc\nbuild/\n"
    bad = invoke("init", tmp_path / "other", "--slug", "Not A Slug")
    assert bad.exit_code == 1 and "--slug" in bad.output and "Traceback" not in bad.output


def test_new_after_init_pads_the_number(tmp_path: Path) -> None:
    assert invoke("init", tmp_path / "deck").exit_code == 0
    content = tmp_path / "deck" / "content"
    result = invoke("new", "What is a tensor?", "--content", content, "--tag", "algebra")
    assert result.exit_code == 0, result.output
    assert (content / "02-what-is-a-tensor.md").is_file()
    assert "number: 2" in (content / "02-what-is-a-tensor.md").read_text(encoding="utf-8")
    assert invoke("check", "--content", content, "-j", "1").exit_code == 0


def test_new_pads_to_the_widest_number(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    first = next(content.glob("51-*.md"))
    first.rename(content / first.name.replace("51-", "051-"))
    result = invoke("new", "Padded?", "--content", content)
    assert result.exit_code == 0, result.output
    assert (content / "066-padded.md").is_file()


def test_new_refuses_a_folder_without_a_deck(tmp_path: Path) -> None:
    result = invoke("new", "What is it?", "--content", tmp_path)
    assert result.exit_code == 1
    assert "deck.yaml" in result.output and "studykit init" in result.output
    assert list(tmp_path.iterdir()) == []


def test_new_refuses_an_empty_question(tmp_path: Path) -> None:
    assert invoke("init", tmp_path / "deck").exit_code == 0
    content = tmp_path / "deck" / "content"
    for question in ("", "   "):
        result = invoke("new", question, "--content", content)
        assert result.exit_code == 1 and "question is empty" in result.output
    assert len(list(content.glob("*.md"))) == 1


def test_init_asks_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("generator.cli._interactive", lambda: True)
    answers = "Organic chemistry\n\nfr\nMarie\n"  # empty answers take the defaults shown
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "deck"), "--license", "CC0-1.0"], input=answers)
    assert result.exit_code == 0, result.output
    assert "Title [Deck]:" in result.output and "Licence" not in result.output  # a flag given is not asked
    deck = yaml.safe_load((tmp_path / "deck" / "content" / "deck.yaml").read_text(encoding="utf-8"))
    assert (deck["title"], deck["slug"], deck["language"], deck["license"], deck["author"]) == (
        "Organic chemistry",
        "organic-chemistry",
        "fr",
        "CC0-1.0",
        "Marie",
    )


def test_new_names_the_decks_of_a_folder_of_decks(tmp_path: Path) -> None:
    decks = tmp_path / "decks"
    decks.mkdir()
    for name in ("alpha", "beta"):
        assert invoke("init", tmp_path / name).exit_code == 0
        shutil.move(tmp_path / name / "content", decks / name)
    result = invoke("new", "Which deck?", "--content", decks)
    assert result.exit_code == 1 and "point --content at one of them (alpha, beta)" in result.output


def test_new_in_a_chinese_deck_writes_a_chinese_note_that_checks(tmp_path: Path) -> None:
    """The new note's sections and hints are in the deck's language (headed 要点 / 完整解答, which the reader takes)."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT.parent / "dl-interview-51-65-zh", content)
    result = invoke("new", "什么是注意力机制？", "--content", content, "--tag", "attention")
    assert result.exit_code == 0, result.output
    [created] = [path for path in content.glob("66-*.md")]
    text = created.read_text(encoding="utf-8")
    assert "## 要点\n" in text and "## 完整解答\n" in text and "Key points" not in text
    check = invoke("check", "--content", content, "-j", "1")
    assert check.exit_code == 0, check.output


@pytest.mark.parametrize(
    ("tag", "key_points"), [("zh-Hans", "## 要点\n"), ("zh-Hant", "## 要點\n"), ("zh-TW", "## 要點\n")]
)
def test_init_in_chinese_writes_a_chinese_example_that_checks(tmp_path: Path, tag: str, key_points: str) -> None:
    result = invoke("init", tmp_path / "deck", "--language", tag, "--title", "面试题")
    assert result.exit_code == 0, result.output
    content = tmp_path / "deck" / "content"
    [example] = content.glob("*.md")
    text = example.read_text(encoding="utf-8")
    assert key_points in text and "## 完整解答\n" in text and "Key points" not in text
    check = invoke("check", "--content", content, "-j", "1")
    assert check.exit_code == 0, check.output
    assert "0 warnings" in check.output
