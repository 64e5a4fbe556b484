"""`studykit new`: a note file with the next free number, a fresh id and both answer parts.

`studykit init` (generator/init.py) starts the folder these notes go into.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import yaml

from generator import messages
from generator.errors import StudykitError

_NUMBER = re.compile(r"^number:\s*(\d+)\s*$", re.MULTILINE)


class NoteExistsError(StudykitError):
    """The new note's file is already there."""


class NotADeckError(StudykitError):
    """The folder has no deck.yaml: `studykit init` has not been run there."""


class EmptyQuestionError(StudykitError):
    """The question for a new note is empty."""


_NUMBERED_FILE = re.compile(r"^(\d+)-")


def number_width(content_dir: Path, number: int) -> int:
    """Digits of the widest numbered file name (`01-…` is 2), so that the new name sorts with the others."""
    widths = [len(match.group(1)) for path in content_dir.glob("*.md") if (match := _NUMBERED_FILE.match(path.name))]
    return max([len(str(number)), *widths])


def next_number(content_dir: Path) -> int:
    numbers = []
    for path in content_dir.glob("*.md"):
        try:
            match = _NUMBER.search(path.read_text(encoding="utf-8", errors="replace")[:4000])
        except OSError:
            continue
        if match:
            numbers.append(int(match.group(1)))
    return max(numbers, default=0) + 1


def slug_of(question: str) -> str:
    """An ASCII slug (a deck's outputs are named by it): the first six words of letters and digits."""
    words = re.findall(r"[a-z0-9]+", question.lower())
    return "-".join(words[:6]) or "note"


def file_stem_of(question: str, limit: int = 40) -> str:
    """A note's file name from its question in any script: `什么是批归一化` stays as it is, so names tell notes apart.

    Words of letters and digits (Unicode), joined by dashes, at most `limit` characters, cut at a word.
    """
    words = re.findall(r"[^\W_]+", question.lower())[:6]
    stem = ""
    for word in words:
        candidate = f"{stem}-{word}" if stem else word
        if len(candidate) > limit:
            stem = stem or word[:limit]
            break
        stem = candidate
    return stem or "note"


def _words(content_dir: Path) -> messages.Messages:
    """The words of the deck's language (deck.yaml `language`); English when the file does not say (the build
    reports a deck file it cannot read, not `new`)."""
    try:
        return messages.for_tag(yaml.safe_load((content_dir / "deck.yaml").read_text(encoding="utf-8")).get("language"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return messages.ENGLISH


def create(content_dir: Path, question: str, tags: tuple[str, ...] = ()) -> Path:
    if not content_dir.is_dir():
        raise NotADeckError(
            f"{content_dir}: no such content folder\n    hint: create one with: studykit init {content_dir}"
        )
    if not (content_dir / "deck.yaml").is_file():
        decks = sorted(path.parent.name for path in content_dir.glob("*/deck.yaml"))
        hint = (
            f"it holds several decks: point --content at one of them ({', '.join(decks)})"
            if decks
            else "run `studykit init` to start a deck, or point --content at the folder holding deck.yaml"
        )
        raise NotADeckError(
            f"{content_dir / 'deck.yaml'}: no deck file, so {content_dir} is not a deck folder\n    hint: {hint}"
        )
    if not question.strip():
        raise EmptyQuestionError('the question is empty\n    hint: studykit new "What is dropout?"')
    number = next_number(content_dir)
    path = content_dir / f"{number:0{number_width(content_dir, number)}d}-{file_stem_of(question)}.md"
    if path.exists():
        raise NoteExistsError(f"{path}: already exists")
    front = yaml.safe_dump(
        {"id": secrets.token_hex(6), "number": number, "question": question.strip(), "tags": list(tags)},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=1000,
    )
    body = _words(content_dir).new_note_body
    path.write_text(f"---\n{front}---\n\n{body}", encoding="utf-8")
    return path
