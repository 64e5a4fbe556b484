"""The `studykit` command line: thin commands that hand off to `generator.build`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from generator import __version__, writers
from generator.context import PAPERS
from generator.errors import Problem
from generator.mathrender import ENGINES

_content = click.option(
    "--content",
    "content_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("content"),
    show_default=True,
    help="Folder holding deck.yaml and the notes.",
)
_strict = click.option("--strict", is_flag=True, help="Treat warnings as errors.")
_jobs = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=lambda: os.cpu_count() or 1,
    show_default="number of CPUs",
    help="Processes that render math in parallel.",
)
_quiet = click.option("-q", "--quiet", is_flag=True, help="Print only warnings and errors.")


def _use_math_engine(context: click.Context, parameter: click.Parameter, name: str | None) -> str | None:
    if name is not None:
        from generator import mathrender

        mathrender.use(name)
    return name


_math = click.option(
    "--math",
    type=click.Choice(list(ENGINES)),
    default=None,
    callback=_use_math_engine,
    expose_value=False,
    help="Math engine for the PDFs and the page: mathjax (default, as Anki's cards draw math) or ziamath "
    "(pure Python, knows fewer commands; see README).",
)
_verbose = click.option("-v", "--verbose", is_flag=True, help="Also print the time each stage took.")


class _Progress:
    """A progress bar for math rendering, shown only on a terminal and only when rendering takes a while."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < 200:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="rendering math", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _print_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        click.echo(str(warning), err=True)


def main() -> None:
    """Entry point: click reports studykit's own errors; anything else is a bug, reported without a traceback."""
    try:
        cli(prog_name="studykit")
    except Exception as error:  # a bug in studykit or a library: say so plainly
        if os.environ.get("STUDYKIT_DEBUG"):
            raise
        click.echo(f"studykit: internal error: {type(error).__name__}: {error}", err=True)
        click.echo("This is a bug in studykit; rerun with STUDYKIT_DEBUG=1 to see the traceback.", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="studykit")
def cli() -> None:
    """Compile Markdown question-and-answer notes into an Anki deck, printable PDFs and a study page."""


def _outputs_help() -> str:
    listing = "\n".join(f"  {w.name:<6} {w.description} (<slug>.{w.suffix})" for w in writers.WRITERS.values())
    return f"""Build OUTPUTS from the notes (default: all of them).

\b
{listing}
"""


def _output(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option(
        "--output",
        "output_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("build"),
        show_default=True,
        help=help_text,
    )


@cli.command(help=_outputs_help())
@click.argument("outputs", nargs=-1, type=click.Choice([*writers.names(), "all"]))
@_content
@_output("Folder the outputs are written to.")
@click.option(
    "--paper",
    type=click.Choice(list(PAPERS), case_sensitive=False),
    default="a4",
    show_default=True,
    help="Paper size of every PDF (cheat sheet, booklet, flashcards).",
)
@_strict
@_jobs
@_quiet
@_verbose
@_math
def build(
    outputs: tuple[str, ...],
    content_dir: Path,
    output_dir: Path,
    paper: str,
    strict: bool,
    jobs: int,
    quiet: bool,
    verbose: bool,
) -> None:
    from generator import build as pipeline
    from generator.context import BuildOptions

    progress = _Progress(enabled=not quiet)
    options = BuildOptions(
        content_dir, output_dir, outputs, paper=paper.lower(), jobs=jobs, strict=strict, progress=progress
    )
    try:
        reports = pipeline.run_all(options)
    finally:
        progress.close()
    for report in reports:
        _print_warnings(report.warnings)
        if verbose:
            for stage, seconds in report.timings.items():
                click.echo(f"time: {stage:<10} {seconds:8.2f} s", err=True)
        if quiet:
            continue
        for path in report.written:
            click.echo(f"wrote {path}")
        for line in report.notices:
            click.echo(line)


@cli.command()
@_content
@_strict
@_jobs
@_math
def check(content_dir: Path, strict: bool, jobs: int) -> None:
    """Read and validate every note; write nothing."""
    from generator import build as pipeline

    for result in pipeline.check_all(content_dir, strict=strict, jobs=jobs):
        _print_warnings(result.warnings)
        deck, warnings = result.deck, len(result.warnings)
        click.echo(f"ok: {deck.slug}: {len(deck.notes)} notes, {len(deck.formulas)} formulas, {warnings} warnings")


@cli.command()
@click.argument("question")
@_content
@click.option("--tag", "tags", multiple=True, help="A topic tag; repeat for several.")
def new(question: str, content_dir: Path, tags: tuple[str, ...]) -> None:
    """Create a note for QUESTION with the next free number and a fresh id."""
    from generator import scaffold

    path = scaffold.create(content_dir, question, tags)
    click.echo(f"created {path}")


@cli.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--into",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("content"),
    show_default=True,
    help="New or empty folder to write the notes, figures and deck.yaml into.",
)
@click.option(
    "--level",
    type=click.IntRange(1, 6),
    default=None,
    help="Markdown only: the heading level that asks the questions (3 for ###; default: chosen per file).",
)
def import_(source: Path, into: Path, level: int | None) -> None:
    """Convert SOURCE into notes: an Anki package (.apkg), or a Markdown file or folder of them (a heading per note)."""
    if source.suffix.lower() == ".apkg":
        if level is not None:
            raise click.UsageError("--level applies to Markdown files, not to an Anki package")
        _import_package(source, into)
        return
    from generator import mdimport

    result = mdimport.import_markdown(mdimport.Options(source, into, level))
    _print_warnings(result.warnings)
    levels = ", ".join(f"{name}: level {n}" for name, n in result.levels.items())
    click.echo(
        f"imported {result.notes} notes and {result.images} images into {result.content_dir} ({levels}); "
        f"{len(result.warnings)} warnings"
    )
    click.echo(
        f"next: studykit check --content {into}, then set author and license in {result.content_dir / 'deck.yaml'}"
    )


def _import_package(package: Path, into: Path) -> None:
    from generator import importer

    result = importer.import_package(package, into)
    for reason in result.skipped:
        click.echo(f"skipped: {reason}", err=True)
    kept = f"; note types kept from the deck: {', '.join(result.kept_note_types)}" if result.kept_note_types else ""
    click.echo(f"imported {result.notes} notes and {result.media} media files into {result.content_dir}{kept}")
    click.echo(
        f"next: set author and license in {result.content_dir / 'deck.yaml'}, then studykit build --content {into}"
    )


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--title", help="The deck's title (default: from the folder's name).")
@click.option("--slug", help="The outputs' file name: lowercase letters, digits, dashes (default: from the title).")
@click.option("--language", help="The notes' language code (default: en).")
@click.option("--license", "license_", help="The notes' licence (default: CC BY 4.0).")
@click.option("--author", help="Who wrote the notes (default: your user name).")
def init(
    folder: Path, title: str | None, slug: str | None, language: str | None, license_: str | None, author: str | None
) -> None:
    """Start a deck in FOLDER (default: here): content/deck.yaml, an example note, and .gitignore."""
    from generator import newdeck, scaffold

    base = newdeck.defaults(folder)
    ask = _interactive()  # a script or pipe gets the defaults instead of a prompt that would wait forever

    def setting(given: str | None, label: str, default: str) -> str:
        return given if given is not None else click.prompt(label, default=default) if ask else default

    title = setting(title, "Title", base.title)
    settings = newdeck.Settings(
        title=title,
        slug=setting(slug, "Slug", scaffold.slug_of(title)),
        language=setting(language, "Language", base.language),
        license=setting(license_, "Licence", base.license),
        author=setting(author, "Author", base.author),
    )
    for path in newdeck.init(folder, settings):
        click.echo(f"wrote {path}")
    click.echo(f'next: cd {folder} && studykit new "Your first question?" && studykit build')


@cli.command()
@_content
@_output("Folder the toolbar's button builds every output into (the page itself is served from a temporary folder).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1; 0 picks a free one.",
)
@_strict
def serve(content_dir: Path, output_dir: Path, port: int, strict: bool) -> None:
    """Serve the study page on 127.0.0.1, rebuilding it and reloading open tabs whenever a note or template changes."""
    from generator import serve as live

    live.serve(content_dir, output_dir, port=port, strict=strict)
