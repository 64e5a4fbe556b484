"""Every failure studykit reports, rooted in one `click.ClickException`.

A problem in the user's files is a `Problem` (where, what, how to fix it). The reader and the
checks collect problems instead of stopping at the first one, so a single run lists them all;
`BuildFailed` carries the whole list out to the CLI, which prints it and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click


def quoted(text: str, limit: int = 80) -> str:
    """Source text as the user wrote it, in backticks (never Python's repr, which doubles every backslash)."""
    flat = " ".join(text.split())
    shown = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return f"`{shown}`"


@dataclass(frozen=True, order=True)
class Location:
    """A place in a source file: the path as the user gave it, and a 1-based line."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Problem:
    location: Location
    message: str
    hint: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


@dataclass
class Problems:
    """Every problem found so far, errors and warnings, to be reported together."""

    found: list[Problem] = field(default_factory=list)

    def error(self, location: Location, message: str, hint: str = "") -> None:
        self.found.append(Problem(location, message, hint))

    def warn(self, location: Location, message: str, hint: str = "") -> None:
        self.found.append(Problem(location, message, hint, severity="warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.found if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.found if p.severity == "warning"]


class StudykitError(click.ClickException):
    """The root of every error studykit raises on purpose; click prints it without a traceback."""


class BuildFailed(StudykitError):
    """One or more problems were found in the sources; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (str(p.location.path), p.location.line))
        count = len(self.problems)
        listing = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{listing}\n{count} problem{'s' if count != 1 else ''} found; nothing was written.")

    def format_message(self) -> str:
        return self.message


class ContentFolderError(StudykitError):
    """The content folder is missing, empty, or has no deck file."""


class OutputError(StudykitError):
    """An output could not be written (permissions, disk full, a renderer failure)."""


class UsageError(StudykitError):
    """The command asked for something that does not exist (an unknown output, say)."""
