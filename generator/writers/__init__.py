"""The outputs studykit writes, one module each, found through this registry.

Each writer module declares a `WRITER`: its command-line name, the suffix of the file it writes
(`build/<slug>.<suffix>`), a one-line description, and `write(deck, target, context)`. The build,
the command line's choices and `--help`, and the README's output table all come from `WRITERS`.
Writer modules keep their heavy libraries (WeasyPrint, genanki) out of import time, so listing the
outputs, or building one of them, loads only what that output needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from generator.context import BuildContext
    from generator.errors import Problem
    from generator.model import Deck


@dataclass
class WriteResult:
    """What a writer has to tell the user besides the file it wrote."""

    notices: list[str] = field(default_factory=list)  # shown unless --quiet
    warnings: list[Problem] = field(default_factory=list)  # always shown
    details: object = None  # the writer's own report, for callers that know the writer (the deck's changes)


WriteFunction = Callable[["Deck", "Path", "BuildContext"], "WriteResult | None"]


@dataclass(frozen=True)
class Writer:
    name: str  # what the command line calls it: `studykit build NAME`
    suffix: str  # the output is <slug>.<suffix>
    description: str  # one line, for --help and the README
    write: WriteFunction
    # It draws formulas (SVG from the math engine). When no chosen writer does, the build only checks that each
    # formula reads (a parse, no layout): the Anki deck and its text export carry TeX that Anki draws.
    draws_math: bool = True
    # The report of a build that finds this output as an earlier build wrote it from the same inputs (see
    # `generator.outputs`); None: the report that build gave.
    unchanged: Callable[[Deck], WriteResult] | None = None


# In the order they are built and listed. A module here needs only a `WRITER`.
_MODULES = ("anki", "sheet", "page", "booklet", "cards", "tsv")


def _load() -> dict[str, Writer]:
    writers: dict[str, Writer] = {}
    for module_name in _MODULES:
        writer: Writer = importlib.import_module(f"generator.writers.{module_name}").WRITER
        writers[writer.name] = writer
    return writers


WRITERS: dict[str, Writer] = _load()


def names() -> list[str]:
    return list(WRITERS)


def chosen(requested: tuple[str, ...]) -> list[Writer]:
    """The writers for command-line names (`all` or nothing: every writer), each once, in registry order."""
    if not requested or "all" in requested:
        return list(WRITERS.values())
    unknown = [name for name in requested if name not in WRITERS]
    if unknown:
        raise KeyError(", ".join(unknown))
    return [writer for name, writer in WRITERS.items() if name in requested]


def table() -> str:
    """The outputs as a Markdown table (README.md's copy is checked against this)."""
    rows = [f"| `{w.name}` | `<slug>.{w.suffix}` | {w.description} |" for w in WRITERS.values()]
    return "\n".join(["| output | file | what it is |", "| --- | --- | --- |", *rows])
