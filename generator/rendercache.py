"""PDF documents laid out by WeasyPrint in worker processes and kept by the hash of their HTML.

The cheat sheet, the booklet and the flashcards are rendered part by part (`writers/sheet.py`,
`writers/booklet.py`, `writers/cards.py`); each part is a file here named by the hash of everything
that decides its pages, so a rebuild lays out again only the parts whose notes changed. Only the
files the last build used are kept.

Making a part's HTML to find its name is itself most of a rebuild of a big bank (every formula's drawing read
back, code highlighted for print, the templates): so each part is also remembered by its signature, a hash of
what its HTML is made of (`PartSignatures`: the writer's templates and settings, the deck's fields, each note's
key as the reader got it, the images it loads), and a rebuild makes the HTML only of the parts whose signature
it does not know.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import gc
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import pdfengine, pdfjoin, processes, reader, stamps
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
            path = (deck.content_dir / relative).absolute()
            info = path.stat()
            digest.update(_content_digest(str(path), info.st_size, info.st_mtime_ns, info.st_ino))
    return digest.hexdigest() + context.fonts.fingerprint()


@functools.lru_cache(maxsize=1 << 16)
def _content_digest(path: str, size: int, mtime_ns: int, inode: int) -> bytes:
    """A file's sha256, read once per process while its size, time and inode stay: every part of every output
    asks for its images on every build (a 5,000-note bank's figures were read 625 times for the flashcards alone)."""
    return hashlib.sha256(Path(path).read_bytes()).digest()


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


class PartSignatures:
    """A writer's cached parts by signature: what each part's HTML is made of, hashed without making the HTML.

    A part's file is named by the hash of its HTML (`DocumentCache.path_for`); the build that made the HTML
    remembers that name under the part's signature, in a JSON file beside the parts, and a later build with the
    same signature takes the name without making the HTML again. The signature must change whenever the HTML
    could, so it holds:

    - what the writer's HTML takes from the build and the deck as a whole (`_writer_key`): studykit's code and
      libraries and the math engine (`stamps.environment`: the formulas' drawings, the highlighting), the
      templates (packaged, by time and size; the deck's own, by content), paper, language, fonts, every field of
      the deck but its notes, and `deck_wide`, what the writer's template reads of all the notes (the cheat
      sheet's question count, say). A deck's own copy of the writer's `template` may read any note: then every
      note's key is in it too;
    - what tells this part from the others (`values`: first or last part, a sheet's number);
    - each of its notes' key (`reader.source_key`);
    - what the part loads (`loads_of`, and what a writer adds to its key besides the HTML): the file's name
      depends on it too.

    Only the signatures of the parts a build keeps are saved (`save`), as `keep_only` keeps only their files.
    A file's page count, when the writer records it (`pages`), is kept by file name: the file is the layout of
    one HTML, so while it is whole it has those pages, whichever signature found it.
    """

    def __init__(
        self,
        cache: DocumentCache,
        deck: Deck,
        context: BuildContext,
        writer: str,
        template: str,
        deck_wide: Sequence[object] = (),
    ) -> None:
        self.cache = cache
        self.file = cache.folder / f"{cache.prefix}signatures.json"
        self._base = stamps.digest([*_writer_key(deck, context, writer, template, deck_wide), cache._salt])
        self._names: dict[str, str] = {}
        self._pages: dict[str, int] = {}
        # Missing, damaged or of another shape: every part's HTML is made, as on a first build.
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            saved = json.loads(self.file.read_text(encoding="utf-8"))
            self._names = {
                str(signature): str(name)
                for signature, name in saved["names"].items()
                if _part_name(str(name), cache.prefix)  # never a path out of the folder, whatever the file says
            }
            self._pages = {str(name): int(count) for name, count in saved["pages"].items()}
        self._saved = (dict(self._names), dict(self._pages))
        self._used: dict[str, str] = {}  # the signatures this build met, with their files' names

    def path_for(
        self, notes: Iterable[Note], values: Sequence[object], document: Callable[[], str], extra: str
    ) -> Path:
        """Where the part of `notes` is kept (`DocumentCache.path_for` of its HTML, `document()`, and `extra`): the
        name remembered for its signature, else the HTML is made to name it. `values`: what else sets the part's
        HTML apart (its place among the parts); `extra` is in the signature as it is in the file's name."""
        signature = stamps.digest([self._base, *values, extra, *(reader.source_key(note) for note in notes)])[:32]
        name = self._used.get(signature) or self._names.get(signature)
        path = self.cache.folder / name if name is not None else self.cache.path_for(document(), extra)
        self._used[signature] = path.name
        return path

    def pages(self, path: Path) -> int | None:
        """The pages of the part at `path`, as counted when it was laid out, if it is there and whole."""
        count = self._pages.get(path.name)
        return count if count is not None and pdfjoin.ends_whole(path) else None

    def counted(self, path: Path, pages: int) -> None:
        self._pages[path.name] = pages

    def save(self, kept: Iterable[Path]) -> None:
        """Remember the signatures this build met whose files it keeps (and only those, with their page counts)."""
        names = {path.name for path in kept}
        self._names = {signature: name for signature, name in self._used.items() if name in names}
        self._pages = {name: count for name, count in self._pages.items() if name in names}
        if (self._names, self._pages) == self._saved:
            return
        temporary = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps({"names": self._names, "pages": self._pages}, sort_keys=True), "utf-8")
            os.replace(temporary, self.file)
        except OSError:
            pass  # a cache that cannot be written: the next build makes the HTML to find the parts
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink()


def _part_name(name: str, prefix: str) -> bool:
    return name.startswith(prefix) and name.endswith(".pdf") and "/" not in name and "\\" not in name


def _writer_key(
    deck: Deck, context: BuildContext, writer: str, template: str, deck_wide: Sequence[object]
) -> list[object]:
    """What every part of one writer's output shares of what its HTML is made of (see `PartSignatures`)."""
    own: list[tuple[str, str]] = []
    for folder in context.deck_templates:
        for path in sorted(folder.rglob("*")):
            with contextlib.suppress(OSError):
                if path.is_file():
                    own.append((path.relative_to(folder).as_posix(), hashlib.sha256(path.read_bytes()).hexdigest()))
    fields = [(field.name, getattr(deck, field.name)) for field in dataclasses.fields(deck) if field.name != "notes"]
    key: list[object] = [
        stamps.environment(),
        writer,
        context.paper,
        context.language,
        context.fonts.fingerprint(),
        fields,
        str(deck.content_dir.resolve()),
        *stamps.tree(context.templates_dir),
        own,
        *deck_wide,
    ]
    # The packaged templates read of the deck's notes only what `deck_wide` holds; a deck's own may read any of them.
    if any((folder / template).is_file() for folder in context.deck_templates):
        key += [reader.source_key(note) for note in deck.notes]
    return key


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
