"""The words studykit puts around the notes, in the deck's language (generator/messages.py)."""

from __future__ import annotations

import dataclasses
import string

import pytest

from generator import messages


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("zh-Hans", messages.SIMPLIFIED_CHINESE),
        ("zh-Hant", messages.TRADITIONAL_CHINESE),
        ("zh-HK", messages.TRADITIONAL_CHINESE),
        ("en", messages.ENGLISH),
        ("ja", messages.ENGLISH),
        ("fr", messages.ENGLISH),
    ],
)
def test_a_deck_gets_the_words_of_its_language_or_english(language: str, words: messages.Messages) -> None:
    assert messages.for_language(language) is words


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("words", [messages.SIMPLIFIED_CHINESE, messages.TRADITIONAL_CHINESE])
def test_every_translation_fills_the_fields_the_templates_give(words: messages.Messages) -> None:
    """A template formats a word with the English fields (`{count}`, `{shown}`…): a translation naming another would
    fail the build, one leaving a field out would drop a number."""
    for field in dataclasses.fields(messages.Messages):
        english, translated = getattr(messages.ENGLISH, field.name), getattr(words, field.name)
        if field.name == "language" or english is None:
            continue
        assert _fields(translated) == _fields(english), field.name
        assert translated != english or field.name in {"full_answer"} or "studykit" in english, field.name


def test_english_adds_no_stylesheet_rules_and_chinese_sets_every_header_and_footer() -> None:
    assert messages.print_css_rules("booklet.css", messages.ENGLISH) == ""
    assert messages.print_css_rules("cheatsheet.css", messages.ENGLISH) == ""
    booklet = messages.print_css_rules("booklet.css", messages.SIMPLIFIED_CHINESE)
    assert booklet.count("@bottom-right") == 1 and booklet.count("@top-right") == 2 and "@page contents" in booklet
    assert messages.print_css_rules("cheatsheet.css", messages.SIMPLIFIED_CHINESE).count("@top-right") == 1
    # The flashcards number no page (each sheet's footer names the sheet): nothing to set in any language.
    assert messages.print_css_rules("cards.css", messages.SIMPLIFIED_CHINESE) == ""
