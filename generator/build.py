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

from generator import reader, templating, writers
from generator.context import BuildContext, BuildOptions, newest_source_time
from generator.errors import OutputError, Problem, UsageError
from generator.model import Deck
from generator.writers import WriteResult


@dataclass(frozen=True)
class BuildReport:
    deck: Deck
    written: list[Path]
    warnings: list[Problem]
    results: dict[str, WriteResult] = field(default_factory=dict)  # by writer name
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def notices(self) -> list[str]:
        return [line for result in self.results.values() for line in result.notices]

    @property
    def deck_changes(self) -> object:
        """The Anki writer's account of what changed in the deck, when it ran."""
        result = self.results.get("apkg")
        return result.details if result else None


def output_path(deck: Deck, output_dir: Path, suffix: str) -> Path:
    return output_dir / f"{deck.slug}.{suffix}"


def check(content_dir: Path, strict: bool = False, jobs: int = 1) -> reader.ReadResult:
    return reader.read_deck(content_dir, strict=strict, jobs=jobs)


def build(
    content_dir: Path,
    output_dir: Path,
    outputs: tuple[str, ...] = (),
    templates_dir: Path = templating.TEMPLATES_DIR,
    strict: bool = False,
    paper: str = "a4",
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Build `outputs` (command-line names; none: all) of the deck in `content_dir` into `output_dir`."""
    options = BuildOptions(content_dir, output_dir, outputs, templates_dir, paper.lower(), jobs, strict, progress)
    return run(options)


def run(options: BuildOptions) -> BuildReport:
    try:
        chosen = writers.chosen(options.outputs)
    except KeyError as error:
        raise UsageError(f"unknown output {error.args[0]}; choose from {', '.join(writers.names())}") from error
    timings: dict[str, float] = {}
    result = reader.read_deck(
        options.content_dir, strict=options.strict, jobs=options.jobs, timings=timings, progress=options.progress
    )
    deck = result.deck
    context = context_for(deck, options)
    try:
        options.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{options.output_dir}: cannot create output folder: {error.strerror}") from error
    targets = [output_path(deck, options.output_dir, writer.suffix) for writer in chosen]
    results: dict[str, WriteResult] = {}
    with _staged(targets) as staged:
        for writer, temporary in zip(chosen, staged, strict=True):
            started = time.perf_counter()
            results[writer.name] = writer.write(deck, temporary, context) or WriteResult()
            timings[writer.name] = time.perf_counter() - started
    warnings = [*result.warnings, *(w for written in results.values() for w in written.warnings)]
    return BuildReport(deck=deck, written=targets, warnings=warnings, results=results, timings=timings)


def context_for(deck: Deck, options: BuildOptions) -> BuildContext:
    """The context every writer of this build gets: the options, and what follows from them and the deck."""
    return BuildContext(
        options=options, language=deck.language, timestamp=newest_source_time(deck.content_dir, options.templates_dir)
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
