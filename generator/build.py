"""The build: read and check everything, render each output to a temporary file, then swap them in.

Outputs replace the previous ones only after every requested output rendered, so a failing or
interrupted build leaves the earlier good files byte-identical.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generator import fonts, outputs, reader, stamps, templating, writers
from generator.context import BuildContext, BuildOptions, newest_source_time
from generator.errors import BuildFailed, OutputError, Problem, UsageError
from generator.model import Deck
from generator.writers import WriteResult


@dataclass(frozen=True)
class BuildReport:
    deck: Deck
    written: list[Path]
    warnings: list[Problem]
    results: dict[str, WriteResult] = field(default_factory=dict)  # by writer name
    timings: dict[str, float] = field(default_factory=dict)
    unchanged: list[Path] = field(default_factory=list)  # outputs left as an earlier build wrote them (`outputs`)

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


def deck_folders(content_dir: Path) -> list[Path]:
    """The decks under `content_dir`: the folder itself when it holds deck.yaml, else each subfolder that does."""
    if (content_dir / reader.DECK_FILE).is_file() or not content_dir.is_dir():
        return [content_dir]
    folders = sorted(path.parent for path in content_dir.glob(f"*/{reader.DECK_FILE}"))
    return folders or [content_dir]  # none: the reader says what is missing


def check(content_dir: Path, strict: bool = False, jobs: int = 1) -> reader.ReadResult:
    return reader.read_deck(content_dir, strict=strict, jobs=jobs, draw_math=False)


def check_all(content_dir: Path, strict: bool = False, jobs: int = 1) -> list[reader.ReadResult]:
    """Every deck read and checked; the problems of all of them reported together."""
    every = [BuildOptions(folder, strict=strict, jobs=jobs) for folder in deck_folders(content_dir)]
    return _read_all(every, {}, draw_math=False)


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
    """Build one deck: the one in `options.content_dir`."""
    (report,) = run_all(options, decks=[options.content_dir])
    return report


def run_all(options: BuildOptions, decks: list[Path] | None = None) -> list[BuildReport]:
    """Build every deck under `options.content_dir` (or `decks`): all are read and checked before any is written."""
    try:
        chosen = writers.chosen(options.outputs)
    except KeyError as error:
        raise UsageError(f"unknown output {error.args[0]}; choose from {', '.join(writers.names())}") from error
    timings: dict[str, float] = {}
    folders = decks if decks is not None else deck_folders(options.content_dir)
    draw_math = any(writer.draws_math for writer in chosen)
    results = _read_all([dataclasses.replace(options, content_dir=folder) for folder in folders], timings, draw_math)
    try:
        options.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{options.output_dir}: cannot create output folder: {error.strerror}") from error
    contexts = [
        context_for(result.deck, dataclasses.replace(options, content_dir=folder), result.listing)
        for folder, result in zip(folders, results, strict=True)
    ]
    # An output whose inputs are those of the build that wrote it, and whose file still holds what that build
    # wrote, is left alone (`outputs`); the others are written.
    jobs = [
        _Job(writer, target, fingerprint, outputs.unchanged(target, fingerprint))
        for result, context in zip(results, contexts, strict=True)
        for writer in chosen
        for target in [output_path(result.deck, options.output_dir, writer.suffix)]
        for fingerprint in [outputs.fingerprint(result.fingerprint, context, writer, target)]
    ]
    # Every output of every deck is staged and swapped in together: an interrupted or failing build of the
    # second deck leaves the first deck's previous outputs too.
    to_write = [job for job in jobs if job.kept is None]
    reports = []
    with _staged([job.target for job in to_write]) as staged:
        temporaries = dict(zip((id(job) for job in to_write), staged, strict=True))
        for index, (result, context) in enumerate(zip(results, contexts, strict=True)):
            mine = jobs[index * len(chosen) : (index + 1) * len(chosen)]
            reports.append(_write(result, context, mine, temporaries, dict(timings)))
    for index, report in enumerate(reports):
        for job in jobs[index * len(chosen) : (index + 1) * len(chosen)]:
            if job.kept is None:
                outputs.record(job.target, job.fingerprint, report.results[job.writer.name])
    return reports


@dataclass
class _Job:
    """One output of one deck: its writer, its file, the fingerprint of its inputs, and the report of the earlier
    build that wrote it from the same inputs (None: to be written)."""

    writer: writers.Writer
    target: Path
    fingerprint: str
    kept: WriteResult | None


def _read_all(every: list[BuildOptions], timings: dict[str, float], draw_math: bool = True) -> list[reader.ReadResult]:
    results: list[reader.ReadResult] = []
    problems: list[Problem] = []
    for options in every:
        try:
            results.append(
                reader.read_deck(
                    options.content_dir,
                    strict=options.strict,
                    jobs=options.jobs,
                    timings=timings,
                    progress=options.progress,
                    cache=options.notes,
                    draw_math=draw_math,
                )
            )
        except BuildFailed as failure:
            problems += failure.problems
    if problems:
        raise BuildFailed(problems)
    slugs: dict[str, reader.ReadResult] = {}
    for result in results:
        if result.deck.slug in slugs:
            first = slugs[result.deck.slug].deck.location
            problems.append(
                Problem(
                    result.deck.location,
                    f"slug {result.deck.slug!r} is also {first.path}'s: their outputs would overwrite each other",
                    "give each deck its own slug",
                )
            )
        slugs[result.deck.slug] = result
    if problems:
        raise BuildFailed(problems)
    return results


def _write(
    result: reader.ReadResult,
    context: BuildContext,
    jobs: list[_Job],
    temporaries: dict[int, Path],
    timings: dict[str, float],
) -> BuildReport:
    """Write the deck's outputs into their temporary files (by job); an unchanged one's earlier report is given."""
    deck = result.deck
    written: dict[str, WriteResult] = {}
    for job in jobs:
        started = time.perf_counter()
        if job.kept is not None:
            unchanged = job.writer.unchanged
            written[job.writer.name] = unchanged(deck) if unchanged else job.kept
        else:
            written[job.writer.name] = job.writer.write(deck, temporaries[id(job)], context) or WriteResult()
        timings[job.writer.name] = time.perf_counter() - started
    warnings = [*result.warnings, *(w for outcome in written.values() for w in outcome.warnings)]
    return BuildReport(
        deck=deck,
        written=[job.target for job in jobs],
        warnings=warnings,
        results=written,
        timings=timings,
        unchanged=[job.target for job in jobs if job.kept is not None],
    )


def context_for(deck: Deck, options: BuildOptions, listed: list[stamps.Entry] | None = None) -> BuildContext:
    """The context every writer of this build gets: the options, and what follows from them and the deck.

    `listed`: the content folder as the reader listed it (`stamps.listing`), so that it is not walked again.
    """
    text = "".join(
        part
        for note in deck.notes
        for part in (note.question, note.key_points_html, note.answer_html, *(item.html for item in note.clozes))
    )
    return BuildContext(
        options=options,
        language=deck.language,
        timestamp=newest_source_time(deck.content_dir, options.templates_dir, listed),
        fonts=fonts.plan(deck.title + deck.credit + deck.footer + text, deck.language),
        deck_templates=tuple(folder for folder in [deck.content_dir / "templates"] if folder.is_dir()),
    )


# An output staged by `_staged`: `.<output name>.<8 hex digits>.tmp` beside it.
_STAGED_SUFFIX = ".tmp"
_STAGED_NAME = re.compile(r"\..+\.[0-9a-f]{8}" + re.escape(_STAGED_SUFFIX))


def remove_staged(folder: Path, since: float) -> None:
    """Remove what a build killed while writing into `folder` had staged there (made at or after `since`, a
    time.time()): killed, it could not. Its outputs are renamed over only at the end, so the earlier ones stand; a
    file staged before `since` belongs to another build and is left alone."""
    for leftover in folder.glob(f".*{_STAGED_SUFFIX}"):
        with contextlib.suppress(OSError):
            if _STAGED_NAME.fullmatch(leftover.name) and leftover.stat().st_mtime >= since - 1:
                leftover.unlink()


@contextlib.contextmanager
def _staged(targets: list[Path]) -> Iterator[list[Path]]:
    """Temporary files beside each target, renamed over the targets only if every writer succeeds."""
    temporaries: list[Path] = []
    try:
        for target in targets:
            # Named here and created by O_EXCL, so that the name is in the list before the file exists: an
            # interrupt between the two (mkstemp would leave a file it had not yet named to us) leaves nothing.
            temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}{_STAGED_SUFFIX}"
            temporaries.append(temporary)
            os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        yield temporaries
        for temporary, target in zip(temporaries, targets, strict=True):
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
    except OSError as error:
        raise OutputError(f"{error.filename or targets[0].parent}: cannot write output: {error.strerror}") from error
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
