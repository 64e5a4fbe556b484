"""The build: read and check everything, render each output to a temporary file, then swap them in.

Outputs replace the previous ones only after every requested output rendered, so a failing or
interrupted build leaves the earlier good files byte-identical.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generator import reader, templating
from generator.errors import OutputError, Problem
from generator.model import Deck
from generator.writers import anki, booklet, cards, page, pdf

# Output kinds, each written to build/<slug>.<kind>. The cheat sheet ("pdf") comes after the other PDFs so that
# anything keying outputs by file suffix finds the cheat sheet under "pdf".
OUTPUTS = ("apkg", "pdf", "html", "full.pdf", "cards.pdf")
# What the command line calls each output.
OUTPUT_NAMES = {"apkg": "apkg", "pdf": "pdf", "html": "html", "full": "full.pdf", "cards": "cards.pdf"}


@dataclass(frozen=True)
class BuildReport:
    deck: Deck
    written: list[Path]
    warnings: list[Problem]
    deck_changes: anki.DeckChanges | None = None
    timings: dict[str, float] = field(default_factory=dict)


def output_path(deck: Deck, output_dir: Path, kind: str) -> Path:
    return output_dir / f"{deck.slug}.{kind}"


def source_epoch(deck: Deck, templates_dir: Path) -> int:
    """The build's timestamp: SOURCE_DATE_EPOCH when set, else the newest source file's mtime.

    Anki only updates a note on import when the note's modification time is newer than the one
    it has, so the timestamp must move when the content moves, and stay put when it does not.
    """
    if epoch := os.environ.get("SOURCE_DATE_EPOCH"):
        return int(epoch)
    sources = [p for p in deck.content_dir.rglob("*") if p.is_file()] + [
        p for p in templates_dir.rglob("*") if p.is_file()
    ]
    return int(max(p.stat().st_mtime for p in sources))


def check(content_dir: Path, strict: bool = False, jobs: int = 1) -> reader.ReadResult:
    return reader.read_deck(content_dir, strict=strict, jobs=jobs)


def build(
    content_dir: Path,
    output_dir: Path,
    outputs: tuple[str, ...] = OUTPUTS,
    templates_dir: Path = templating.TEMPLATES_DIR,
    strict: bool = False,
    paper: str = "a4",
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    timings: dict[str, float] = {}
    result = reader.read_deck(content_dir, strict=strict, jobs=jobs, timings=timings, progress=progress)
    deck = result.deck
    timestamp = source_epoch(deck, templates_dir)
    changes: list[anki.DeckChanges] = []
    writers: dict[str, Callable[[Path], object]] = {
        "apkg": lambda target: changes.append(
            anki.write(deck, target, templates_dir, previous_package=output_path(deck, output_dir, "apkg"))
        ),
        "pdf": lambda target: pdf.write(deck, target, templates_dir, timestamp, paper, jobs),
        "html": lambda target: page.write(deck, target, templates_dir),
        "full.pdf": lambda target: booklet.write(deck, target, templates_dir, timestamp, paper),
        "cards.pdf": lambda target: cards.write(deck, target, templates_dir, timestamp, paper),
    }
    outputs = tuple(dict.fromkeys(OUTPUT_NAMES.get(name, name) for name in outputs))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{output_dir}: cannot create output folder: {error.strerror}") from error
    targets = [output_path(deck, output_dir, kind) for kind in outputs]
    with _staged(targets) as staged:
        for kind, temporary in zip(outputs, staged, strict=True):
            started = time.perf_counter()
            writers[kind](temporary)
            timings[kind] = time.perf_counter() - started
    return BuildReport(
        deck=deck,
        written=targets,
        warnings=result.warnings,
        deck_changes=changes[0] if changes else None,
        timings=timings,
    )


@contextlib.contextmanager
def _staged(targets: list[Path]) -> Iterator[list[Path]]:
    """Temporary files beside each target, renamed over the targets only if every writer succeeds."""
    temporaries: list[Path] = []
    try:
        for target in targets:
            handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(handle)
            temporaries.append(Path(name))
        yield temporaries
        for temporary, target in zip(temporaries, targets, strict=True):
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
    except OSError as error:
        raise OutputError(f"{error.filename or targets[0].parent}: cannot write output: {error.strerror}") from error
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
