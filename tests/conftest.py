"""Shared fixtures and helpers.

The real content is built once per test session into a temporary folder; tests that only read an
output use that build. Bad-input tests run the command line in-process (`studykit`), which costs a
fraction of a second where a `python -m generator` process costs a second or more of imports.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import importlib
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator import build as pipeline
from generator import context as studykit_context
from generator.cli import cli
from tests.browser import SharedTab

ROOT = Path(__file__).resolve().parent.parent
CONTENT_ROOT = ROOT / "content"
CONTENT = CONTENT_ROOT / "dl-interview-51-65"  # the English deck, the one the tests know note by note
TEMPLATES = ROOT / "templates"
EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z: SOURCE_DATE_EPOCH of the session's build


def _worker() -> str | None:
    """The pytest-xdist worker this process is (gw0, gw1, ...), or None when the session runs in one process."""
    return os.environ.get("PYTEST_XDIST_WORKER")


# What a test process's cache starts with, from the user's (or the controller's): the kinds of cache a build of
# the shipped decks fills.
CACHE_KINDS = ("math", "drawn", "pdf", "notes", "fonts")
# Under pytest-xdist: the controller's cache, where every worker makes the session's build (`built`).
SESSION_CACHE = "STUDYKIT_TEST_SESSION_CACHE"


def pytest_configure(config: pytest.Config) -> None:
    """The session's own studykit cache (math and cheat-sheet parts), started as a copy of the user's.

    A cheat-sheet build forgets the cached parts of its deck that it did not use; with the user's cache
    shared, a build elsewhere on the machine (another checkout's tests, a `make`) could delete the parts
    a build here is about to join. Hard links make the copy cheap; files are replaced, never rewritten.
    Under pytest-xdist (`make test`), each worker copies the cache it was given into one of its own, for
    the same reason: the other worker's tests build the same deck in other ways.
    """
    if "STUDYKIT_CACHE_DIR" in os.environ and _worker() is None:
        return  # the caller chose a cache
    origin = Path(os.environ["STUDYKIT_CACHE_DIR"]) if "STUDYKIT_CACHE_DIR" in os.environ else None
    users = origin or studykit_context.cache_root()
    private = Path(tempfile.mkdtemp(prefix="studykit-test-cache-"))
    for kind in CACHE_KINDS:
        if (users / kind).is_dir():
            link_tree(users / kind, private / kind)
    os.environ["STUDYKIT_CACHE_DIR"] = str(private)
    if _worker() is None:
        # The pytest-xdist controller (or a session in one process): the workers it starts find this cache in
        # their environment, copy it, and build the session's deck in it (`session_cache`).
        os.environ[SESSION_CACHE] = str(private)

    def clean_up() -> None:
        if origin is None:
            os.environ.pop("STUDYKIT_CACHE_DIR", None)
        else:
            os.environ["STUDYKIT_CACHE_DIR"] = str(origin)
        shutil.rmtree(private, ignore_errors=True)

    config.add_cleanup(clean_up)


# The test files that take longest, longest first (at b4b5931, seconds on one of two workers: 45, 33, 21, 17, 14, ...).
# Under pytest-xdist each file is one unit of work, handed to whichever worker is free (make test passes
# --no-loadscope-reorder, so the units go in this order): started first, the long ones do not end up alone on
# one worker while the other has finished.
LONGEST_FIRST = (
    "test_booklet_parts.py",
    "test_part_signatures.py",
    "test_page_quality.py",
    "test_property.py",
    "test_cheatsheet.py",
    "test_cards_pdf.py",
    "test_page_flow.py",
    "test_booklet_page_for_page.py",
    "test_page.py",
    "test_mathjax_engine.py",
    "test_serve.py",
    "test_sheet_parts.py",
    "test_noop_builds.py",
    "test_pay_for_what_is_asked.py",
    "test_cached_outputs.py",
    "test_hostile.py",
    "test_edges.py",
    "test_math_side_by_side.py",
    "test_chinese.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _worker() is None:
        return  # one process: the files in order (the background reads are started in that order)

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: a file's tests keep their order


def _call(function: str, *arguments: Any) -> Any:
    """Run `module:function` (importable by name, so that a worker process can find it)."""
    module, name = function.split(":")
    return getattr(importlib.import_module(module), name)(*arguments)


class Background:
    """Slow reads of the session's outputs (pdfplumber on a long PDF, the Nu checker), done on a second process.

    The session's build hands them over as soon as the files exist, so that they run while this
    process goes on with other tests; a fixture that needs one waits for it (or starts it, if nobody did).
    """

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._started: dict[tuple[str, tuple[Any, ...]], concurrent.futures.Future[Any]] = {}
        self._done: dict[tuple[str, tuple[Any, ...]], Any] = {}

    def start(self, function: str, *arguments: Any) -> None:
        if _worker() is not None:
            # Under pytest-xdist the other worker is the second process; a read is done, in this
            # process, by the worker that runs the test file needing it, and only if one does.
            return
        if (function, arguments) not in self._started:
            if self._pool is None:
                # A fresh interpreter: forking this one (browser threads, open collections) is not safe.
                context = multiprocessing.get_context("spawn")
                self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context)
            self._started[function, arguments] = self._pool.submit(_call, function, *arguments)

    def result(self, function: str, *arguments: Any) -> Any:
        if _worker() is not None:
            if (function, arguments) not in self._done:
                self._done[function, arguments] = _call(function, *arguments)
            return self._done[function, arguments]
        self.start(function, *arguments)
        return self._started[function, arguments].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="session")
def background() -> Iterator[Background]:
    work = Background()
    yield work
    work.close()


# Work for the background process once the session's build is written, in this order (it runs one job at a
# time): (the test file that needs it, the function, its argument given the build's folder and the deck's slug).
READ_AHEAD: list[tuple[str, str, Callable[[Path, str], Path]]] = [
    ("test_cards_pdf.py", "tests.test_cards_pdf:read_sheets", lambda folder, slug: folder / f"{slug}.cards.pdf"),
    (
        "test_cards_pdf.py",
        "tests.test_cards_pdf:letter_paper_cards",
        lambda folder, slug: folder.parent / "letter-cards",
    ),
    (
        "test_cards_pdf.py",
        "tests.test_cards_pdf:long_key_points_cards",
        lambda folder, slug: folder.parent / "long-key-points",
    ),
    ("test_cheatsheet.py", "tests.test_cheatsheet:read_sheet", lambda folder, slug: folder / f"{slug}.pdf"),
    ("test_cheatsheet.py", "tests.test_cheatsheet:build_joined_parts", lambda folder, slug: folder.parent / "joined"),
    (
        "test_cheatsheet.py",
        "tests.test_cheatsheet:read_sheet",
        lambda folder, slug: folder.parent / "joined" / f"{slug}.pdf",
    ),
    ("test_cheatsheet.py", "tests.test_cheatsheet:read_booklet", lambda folder, slug: folder / f"{slug}.full.pdf"),
    ("test_page_quality.py", "tests.test_page_quality:run_vnu", lambda folder, slug: folder / f"{slug}.html"),
    ("test_figures.py", "tests.test_figures:redraw", lambda folder, slug: folder.parent / "figures"),
]


@contextlib.contextmanager
def session_cache(patch: pytest.MonkeyPatch) -> Iterator[None]:
    """Under pytest-xdist, the session's builds of the shipped decks are made in the cache the workers share, one
    worker at a time (and nothing else is built there).

    Each worker needs the same build of the shipped deck; in a private cache each laid it out from nothing on a
    new machine (about 25 s of CPU each). In the shared one the first lays it out and the next finds every part
    there and only joins them. Afterwards what the build left in the shared cache is linked into the worker's
    own (`link_tree`: files it has are left alone), so that its other tests find the parts as before.
    """
    shared = os.environ.get(SESSION_CACHE)
    own = os.environ["STUDYKIT_CACHE_DIR"]
    if _worker() is None or not shared or not Path(shared).is_dir():
        yield
        return
    with open(Path(shared) / ".session-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        patch.setenv("STUDYKIT_CACHE_DIR", shared)
        yield
        patch.setenv("STUDYKIT_CACHE_DIR", own)
        for kind in CACHE_KINDS:
            if (Path(shared) / kind).is_dir():
                link_tree(Path(shared) / kind, Path(own) / kind)


@pytest.fixture(scope="session")
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, background: Background
) -> pipeline.BuildReport:
    """Every output of the shipped deck, built once, with SOURCE_DATE_EPOCH set (the PDFs' creation date)."""
    output = tmp_path_factory.mktemp("build")
    with pytest.MonkeyPatch.context() as patch, session_cache(patch):
        patch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
        report = pipeline.build(CONTENT, output)
    collected = {item.path.name for item in request.session.items}
    for test_file, function, argument in READ_AHEAD:
        if test_file in collected:
            background.start(function, argument(output, report.deck.slug))
    return report


@pytest.fixture(scope="session", autouse=True)
def _built_first_on_a_worker(request: pytest.FixtureRequest) -> None:
    """Under pytest-xdist without a cache shared by the workers, the session's build comes before a worker's first
    test.

    Some tests build the shipped deck otherwise (in parts of other sizes, with other notes) into the worker's
    cache, and a build forgets the cached parts of its deck it did not use: built there after them, the session's
    build would lay out again what the user's cache held. In the shared cache (`session_cache`) nothing else
    builds, so a worker goes on with its tests while the other makes the session's build, and makes its own
    (from the parts the other left) when a test first needs it.
    """
    if _worker() is not None and not os.environ.get(SESSION_CACHE):
        request.getfixturevalue("built")


@pytest.fixture(scope="session")
def outputs(built: pipeline.BuildReport) -> dict[str, Path]:
    """Each output by what follows the slug in its name: apkg, pdf, html, full.pdf, cards.pdf."""
    return {path.name.split(".", 1)[1]: path for path in built.written}


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A private copy of the content folder that a test may break."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


@pytest.fixture
def previous_build(tmp_path: Path, outputs: dict[str, Path]) -> Path:
    """An output folder holding a previous good build of every output (a copy of the session's build)."""
    output = tmp_path / "out"
    shutil.copytree(outputs["apkg"].parent, output)
    assert {".apkg", ".html", ".pdf"} <= {p.suffix for p in output.iterdir()}
    return output


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session (tests.browser); each test opens its own context in it."""
    from tests.browser import chromium_browser

    with chromium_browser() as instance:
        yield instance


@pytest.fixture(scope="session")
def _shared_tab(browser: Any) -> Iterator[SharedTab]:
    context = browser.new_context()
    yield SharedTab(context.new_page())
    context.close()


@pytest.fixture
def tab(_shared_tab: SharedTab) -> Iterator[SharedTab]:
    """The worker's one Chromium tab (tests.browser.SharedTab): `tab.open(url, viewport, color_scheme)` shows a page
    as a new tab would, for a fraction of a new tab's cost. Left on about:blank, its page's storage cleared."""
    yield _shared_tab
    _shared_tab.leave()


def digests(folder: Path) -> dict[str, str]:
    """Every file of `folder`, hidden ones included, so that a leftover temporary file shows."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def content_with(folder: Path, notes: Collection[int], edition: Path = CONTENT) -> Path:
    """A copy of a shipped deck (`edition`) at `folder`/content holding only the notes numbered `notes`."""
    content = folder / "content"
    shutil.copytree(edition, content)
    for path in content.glob("*.md"):
        if int(path.name.split("-")[0]) not in notes:
            path.unlink()
    return content


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own, started as the session's (hard links), for a test that builds a shipped deck
    with other notes or options.

    A build forgets the cached parts of its deck that it did not use: in the session's cache, such a build
    would make a later test lay out again what the session had (the whole Chinese deck: about 25 s).
    """
    cache = tmp_path / "own-cache"
    link_tree(Path(os.environ["STUDYKIT_CACHE_DIR"]), cache)
    monkeypatch.setenv("STUDYKIT_CACHE_DIR", str(cache))
    return cache


def link_tree(source: Path, target: Path) -> None:
    """`source` copied to `target` as hard links (a copy where a link cannot be made); a file `target` has already is
    left as it is. Cache files are replaced, never written into, so the two stay independent."""

    def link(source_file: str, target_file: str) -> None:
        try:
            os.link(source_file, target_file)
        except FileExistsError:
            pass  # never copied over: that would write into a file that may be linked elsewhere
        except OSError:
            shutil.copy2(source_file, target_file)

    with contextlib.suppress(shutil.Error):  # a file removed while being copied: one entry fewer
        shutil.copytree(source, target, copy_function=link, dirs_exist_ok=True)


def note_file(content: Path, number: int) -> Path:
    return next(content.glob(f"{number}-*.md"))


def line_of(text: str, needle: str, start: int = 0) -> int:
    """The 1-based line on which `needle` first occurs (at or after `start`) in `text`."""
    return text.count("\n", 0, text.index(needle, start)) + 1


def studykit(*arguments: str | Path) -> Result:
    """The `studykit` command line run in-process.

    `result.stdout` and `result.stderr` are what the process would print. Click turns studykit's own
    errors (and Ctrl-C) into SystemExit; any other exception escaping is what `studykit` (generator.cli.main)
    would report as "internal error", exit 2: a bug, so it is raised here with its traceback.
    """
    result = CliRunner().invoke(cli, [str(argument) for argument in arguments])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"studykit {' '.join(map(str, arguments))}: internal error") from result.exception
    return result


def break_writer(monkeypatch: pytest.MonkeyPatch, name: str, write: Any) -> None:
    """Make the registry's writer `name` call `write` instead (the build finds writers through the registry)."""
    import dataclasses

    from generator import writers

    monkeypatch.setitem(writers.WRITERS, name, dataclasses.replace(writers.WRITERS[name], write=write))


@pytest.fixture
def col(tmp_path: Path) -> Iterator[Any]:
    """A new, empty Anki collection (the real `anki` package), closed after the test."""
    from anki.collection import Collection

    collection = Collection(str(tmp_path / "collection.anki2"))
    yield collection
    collection.close()
