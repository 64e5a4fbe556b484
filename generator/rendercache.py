"""PDF documents laid out by WeasyPrint in worker processes and kept by the hash of their HTML.

The cheat sheet, the booklet and the flashcards are rendered part by part (`writers/sheet.py`,
`writers/booklet.py`, `writers/cards.py`); each part is a file here named by the hash of everything
that decides its pages, so a rebuild lays out again only the parts whose notes changed. Only the
files the last build used are kept.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import gc
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import pdfengine, pdfjoin, processes
from generator.errors import OutputError

if TYPE_CHECKING:
    from generator.context import BuildContext
    from generator.model import Deck, Note

_Task = tuple[str, str, list[str], str, dict[str, Any], Callable[[Any], Any] | None]


def loads_of(deck: Deck, notes: Iterable[Note], context: BuildContext) -> str:
    """What a document of `notes` draws that its HTML only names: its images by content, and the font files.

    Part of every cached PDF's key: an image edited, or a font installed or changed, lays out what it draws.
    """
    digest = hashlib.sha256()
    for relative in (relative for note in notes for relative in note.media):
        digest.update(relative.as_posix().encode("utf-8"))
        with contextlib.suppress(OSError):
            digest.update(hashlib.sha256((deck.content_dir / relative).read_bytes()).digest())
    return digest.hexdigest() + context.fonts.fingerprint()


def join_dated(parts: list[Path], target: Path, deck: Deck, context: BuildContext, numbers: Path | None = None) -> None:
    """Join the cached `parts` into `target` with the deck's keywords and the build's date (and page `numbers`)."""
    metadata = pdfjoin.Metadata(keywords=deck.keywords, created=context.timestamp)
    try:
        # Each cached part's share of the joined file is kept beside it: a rebuild copies the unchanged parts'.
        pdfjoin.join_cached(parts, target, metadata, numbers)
    except pdfjoin.JoinError as error:
        raise OutputError(f"{target.name}: {error}") from error


def prefix_for(slug: str, paper: str, output: str) -> str:
    """The cache names of one output of one deck on one paper size.

    `+` is not allowed in a slug, so no deck's prefix is the start of another deck's or another output's.
    """
    return f"{slug}-{paper}+{output}-"


class DocumentCache:
    """The cached PDFs whose names start with `prefix` (one deck and paper size)."""

    def __init__(self, folder: Path, prefix: str, options: dict[str, Any]) -> None:
        self.folder = folder
        self.prefix = prefix
        self._salt = "\0".join([pdfengine.NAME, pdfengine.VERSION, json.dumps(options, sort_keys=True)])

    def path_for(self, document: str, extra: str) -> Path:
        """Where the PDF of `document` is kept; `extra` stands for what it loads (images) by content."""
        material = "\0".join([document, extra, self._salt])
        return self.folder / f"{self.prefix}{hashlib.sha256(material.encode('utf-8')).hexdigest()[:32]}.pdf"

    def keep_only(self, used: list[Path]) -> None:
        """Forget the PDFs of this prefix a build no longer uses, so the cache does not grow with every edit, and
        the join forms (`pdfjoin.form_path`) but those of the parts used, in this format."""
        for stale in set(self.folder.glob(f"{self.prefix}*.pdf")) - set(used):
            stale.unlink(missing_ok=True)
        forms = {pdfjoin.form_path(path) for path in used}
        for stale in set(self.folder.glob(f"{self.prefix}*.pdf.join*")) - forms:
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def opened(cache_root: Path, prefix: str, options: dict[str, Any]) -> Iterator[DocumentCache]:
    """The cache under <cache root>/pdf, or a folder for this build only when that cannot be written."""
    folder = cache_root / "pdf"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        with tempfile.TemporaryDirectory(prefix="studykit-sheet-") as scratch:
            yield DocumentCache(Path(scratch), prefix, options)
        return
    yield DocumentCache(folder, prefix, options)


def render_all(
    documents: list[tuple[Path, Callable[[], str]]],
    base_url: str,
    roots: list[Path],
    options: dict[str, Any],
    jobs: int,
) -> list[str]:
    """Render each (path, make-the-HTML) to its path; the error messages, if any.

    On `jobs` processes with a few documents in flight at a time (the HTML is made when a document's
    turn comes); one document, or one job, is rendered in this process.
    """
    rendered = render_measured(documents, base_url, roots, options, jobs, None)
    return [error for error, _ in rendered if error]


def render_measured(
    documents: list[tuple[Path, Callable[[], str]]],
    base_url: str,
    roots: list[Path],
    options: dict[str, Any],
    jobs: int,
    measure: Callable[[Any], Any] | None,
) -> list[tuple[str | None, Any]]:
    """As `render_all`, and also what `measure` (a module-level function) reads from each layout.

    One (error or None, measurement) per document, in the order of `documents`.
    """
    folders = [str(root) for root in roots]

    def task(path: Path, make: Callable[[], str]) -> _Task:
        return (make(), base_url, folders, str(path), options, measure)

    results: dict[int, tuple[str | None, Any]] = {}
    if jobs > 1 and len(documents) > 1:
        # spawn, not fork: a forked worker would carry the whole deck and every formula with it.
        workers = max(1, min(jobs, len(documents)))
        with processes.worker_pool(workers) as pool:
            pending: dict[concurrent.futures.Future[tuple[str | None, Any]], int] = {}
            for index, (path, make) in enumerate(documents):
                if len(pending) >= 2 * workers:
                    done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    results.update((pending.pop(future), future.result()) for future in done)
                pending[pool.submit(render_one, task(path, make))] = index
            for future in concurrent.futures.as_completed(pending):
                results[pending[future]] = future.result()
    else:
        # The deck and its formulas are long-lived: frozen, the collector stops re-scanning them during
        # every layout's many collections (about 7 % of a 1,000-note sheet rendered in one process). The garbage of
        # an earlier layout is collected first: frozen with the rest, it would outlive the freeze, unreachable, until
        # a full collection (the pieces of a 5,150-page overlay, each its own call here, held ~400 MB so).
        gc.collect()
        gc.freeze()
        try:
            results = {index: render_one(task(path, make)) for index, (path, make) in enumerate(documents)}
        finally:
            gc.unfreeze()
    return [results[index] for index in range(len(documents))]


# The page-number overlay is laid out this many pages at a time, in the build's own process: blank numbered pages
# are light (500 took 53 MB more and 2.8 s here), but WeasyPrint's cost grows faster than a document's pages.
_PAGES_IN_PROCESS = 400


def render_for(
    deck: Deck,
    target: Path,
    context: BuildContext,
    documents: list[tuple[Path, Callable[[], str]]],
    jobs: int,
    options: dict[str, Any] | None = None,
) -> None:
    """Render a writer's documents into the cache, loading files only from the deck's content folder and the
    templates; the first error as an OutputError naming `target`."""
    base_url = str(deck.content_dir.resolve()) + "/"
    roots = context.pdf_roots(deck.content_dir)
    chosen = pdfengine.PDF_OPTIONS if options is None else options
    if errors := render_all(documents, base_url, roots, chosen, jobs):
        raise OutputError(f"{target.name}: {errors[0]}")


def page_numbers(
    cache: DocumentCache,
    deck: Deck,
    target: Path,
    context: BuildContext,
    overlay: Callable[[int, int | None], str],
    pages: int,
) -> Path:
    """The cached page-number overlay of `pages` pages (laid out if it is not cached), for `join_dated`.

    `overlay(first, count)`: the overlay's pages `first` to `first + count` alone, numbered as in the whole
    (`overlay(0, None)`: the whole). One longer than `_PAGES_IN_PROCESS` pages is laid out that many pages at a time,
    here, and the pieces put one after another: laid out at once, a 5,000-note booklet's 5,150 pages took 72 s of
    CPU and ~530 MB.
    """
    document = overlay(0, None)
    numbers = cache.path_for(document, context.fonts.fingerprint())
    if pdfjoin.pages_in(numbers) == pages:
        return numbers
    if pages <= _PAGES_IN_PROCESS:
        render_for(deck, target, context, [(numbers, lambda: document)], context.jobs, {})
        return numbers
    pieces: list[Path] = []
    try:
        for first in range(0, pages, _PAGES_IN_PROCESS):
            path = numbers.with_name(f"{numbers.name}.{os.getpid()}.{first}.piece")
            pieces.append(path)
            made = functools.partial(overlay, first, min(_PAGES_IN_PROCESS, pages - first))
            render_for(deck, target, context, [(path, made)], 1, {})
        pdfjoin.concatenate(pieces, numbers)
    except pdfjoin.JoinError as error:
        raise OutputError(f"{target.name}: {error}") from error
    finally:
        for path in pieces:
            path.unlink(missing_ok=True)
    return numbers


def render_one(task: _Task) -> tuple[str | None, Any]:
    """Worker: render one HTML document to its path (atomically); the error message, if any, and what the
    task's `measure` read from the layout."""
    return pdfengine.write_measured(*task)
