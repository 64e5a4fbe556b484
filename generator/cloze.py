"""Cloze deletions (`{{c1::answer}}`, `{{c2::answer::hint}}`) in notes, made safe for Anki.

Anki ends a deletion at the first `}}`, so a TeX group that closes twice inside a deletion
(`{{c1::\\frac{a}{b^{2}}}}`) would end it early. Inside math, every `}}` that is not the end of a
deletion is written as `} }`, which TeX reads the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"\{\{c(\d+)::")


@dataclass(frozen=True)
class Deletion:
    start: int  # offset of `{{`
    end: int  # offset just after the closing `}}`
    number: int
    answer: str
    hint: str


class ClozeSyntaxError(ValueError):
    """A deletion that never closes."""


def deletions(text: str) -> list[Deletion]:
    """Every top-level deletion in `text`, matching braces so that TeX groups inside do not end it."""
    found = []
    position = 0
    while match := _OPEN.search(text, position):
        depth = 0
        index = match.end()
        while index < len(text):
            if text.startswith("}}", index) and depth == 0:
                break
            character = text[index]
            if character == "\\":
                index += 2
                continue
            if character == "{":
                depth += 1
            elif character == "}":
                depth -= 1
            index += 1
        else:
            raise ClozeSyntaxError(f"cloze `{match.group(0)}` never closes with `}}}}`")
        body = text[match.end() : index]
        answer, _, hint = body.partition("::")
        found.append(Deletion(match.start(), index + 2, int(match.group(1)), answer, hint))
        position = index + 2
    return found


def without_markers(text: str) -> str:
    """The text as it reads with every deletion revealed (what the renderer must be able to draw)."""
    pieces = []
    position = 0
    for deletion in deletions(text):
        pieces.append(text[position : deletion.start])
        pieces.append(without_markers(deletion.answer))
        position = deletion.end
    pieces.append(text[position:])
    return "".join(pieces)


def safe_tex(tex: str) -> str:
    """TeX with every `}}` spaced out except the ones that close a deletion."""
    pieces = []
    position = 0
    for deletion in deletions(tex):
        pieces.append(_spaced(tex[position : deletion.start]))
        body = tex[deletion.start + len(f"{{{{c{deletion.number}::") : deletion.end - 2]
        spaced = _spaced(body)
        if spaced.endswith("}"):
            spaced += " "  # else its last brace and the closing `}}` would read as an early `}}`
        pieces.append(f"{{{{c{deletion.number}::{spaced}}}}}")
        position = deletion.end
    pieces.append(_spaced(tex[position:]))
    return "".join(pieces)


def _spaced(tex: str) -> str:
    while "}}" in tex:
        tex = tex.replace("}}", "} }")
    return tex
