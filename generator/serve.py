"""`studykit serve`: the study page on 127.0.0.1, rebuilt and reloaded in the browser on every save.

Only the standard library: a `ThreadingHTTPServer`, one thread that polls the files' modification
times (a few hundred `stat`s every 0.1 s cost little next to a build, and need no platform watcher),
and Server-Sent Events to tell open tabs to reload.

The pages are built into a temporary folder, never the project's output folder, by the ordinary build
(`outputs=("html",)`), so a failing build leaves the last good page in place. What serving adds (the
reload script, the problems overlay, the toolbar) is spliced into each response as it is sent; the
built files never contain it.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from urllib.parse import parse_qs, urlsplit

from generator import build as pipeline
from generator import reader, templating, writers
from generator.context import BuildOptions
from generator.errors import BuildFailed, StudykitError, UsageError

HOST = "127.0.0.1"  # never another interface: the page is the user's own notes, and the server runs builds
POLL_SECONDS = 0.1  # a walk of a deck folder costs about a millisecond; a shorter poll shows edits sooner
EVENTS_PATH = "/__studykit/events"
BUILD_PATH = "/__studykit/build"
# A custom header makes the build request "non-simple": another site's page cannot send it without a CORS
# preflight, which this server never grants, so only the served pages can start a build.
BUILD_HEADER = "X-Studykit-Build"
# The page's own CSP is `default-src 'none'`, which also forbids EventSource and fetch; served copies allow
# their own origin. The study page puts this tag in its first few lines; HEAD_BYTES is where it is looked for.
_CSP_META = re.compile(rb'<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"\s*/?>', re.IGNORECASE)
_CONNECT_SRC = re.compile(rb"\s*connect-src[^;]*;?", re.IGNORECASE)
_HEAD_TAG = re.compile(rb"<head(\s[^>]*)?>", re.IGNORECASE)
HEAD_BYTES = 64 * 1024
SETTLE_SECONDS, SETTLE_TRIES = 0.03, 20  # a change counts once unchanged for 30 ms (waiting at most 0.6 s)
KEEP_ALIVE_SECONDS = 15.0  # an idle event stream sends a comment this often, to notice closed tabs


def _log(message: str) -> None:
    print(f"studykit serve: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ShownProblem:
    """A problem as the overlay shows it (plain text; escaped when it is put into HTML)."""

    file: str
    line: int | None
    message: str
    hint: str = ""

    @property
    def where(self) -> str:
        if not self.file:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file


def shown_problems(error: Exception) -> list[ShownProblem]:
    """Every problem of a failed build, each at its file and line; other errors as one problem without a place."""
    if isinstance(error, BuildFailed):
        return [ShownProblem(str(p.location.path), p.location.line, p.message, p.hint) for p in error.problems]
    if isinstance(error, StudykitError):
        # These carry their hint inside the message, the way the command line prints it.
        message, _, hint = error.format_message().partition("\n    hint: ")
        return [ShownProblem("", None, message, hint)]
    return [
        ShownProblem(
            "", None, f"internal error: {type(error).__name__}: {error}", "a bug in studykit; the terminal has details"
        )
    ]


@dataclass(frozen=True)
class PageState:
    """What the last build left: the last good page of each deck, and the problems if that build failed."""

    generation: int = 0  # counts finished builds; a tab served at another generation reloads
    pages: dict[str, Path] = field(default_factory=dict)  # slug -> built page
    titles: dict[str, str] = field(default_factory=dict)  # slug -> deck title, in the decks' order
    problems: tuple[ShownProblem, ...] = ()


class Preview:
    """Builds the study pages into `output_dir` (a temporary folder) and tells waiting tabs when a build ends."""

    def __init__(self, content_dir: Path, output_dir: Path, strict: bool = False) -> None:
        # Notes read by the previous build are reused while unchanged: only the edited note is read again.
        self.options = BuildOptions(content_dir, output_dir, ("html",), jobs=1, strict=strict, notes=reader.NoteCache())
        # Tells tabs of an earlier `serve` (same port, new process) that they are stale too.
        self.token = secrets.token_hex(4)
        self._state = PageState()
        self._changed = threading.Condition()
        self._stopping = False
        self.building = False  # read by the clean-up, to say why stopping waits

    @property
    def state(self) -> PageState:
        with self._changed:
            return self._state

    @property
    def stopping(self) -> bool:
        return self._stopping

    def version(self, state: PageState) -> str:
        return f"{self.token}:{state.generation}"

    def rebuild(self, superseded: Callable[[], bool] = lambda: False) -> PageState:
        """Build the pages and publish the outcome to waiting tabs.

        A failed build is not published when `superseded()` says the files changed while it ran: it most
        likely read a note half-saved, and the next build, already due, will tell.
        """
        started = time.perf_counter()
        previous = self.state
        self.building = True
        pages, titles = previous.pages, previous.titles
        problems: tuple[ShownProblem, ...] = ()
        try:
            reports = pipeline.run_all(self.options)
        except StudykitError as error:
            problems = tuple(shown_problems(error))
        except Exception as error:  # a bug must not stop the server: show it, keep the last good page
            traceback.print_exc()
            problems = tuple(shown_problems(error))
        else:
            pages = {report.deck.slug: report.written[0] for report in reports}
            titles = {report.deck.slug: report.deck.title for report in reports}
        if problems and superseded():
            self.building = False
            _log("build failed while the files were still changing; building again")
            return previous
        state = PageState(previous.generation + 1, pages, titles, problems)
        with self._changed:
            self._state = state
            self._changed.notify_all()
        self.building = False
        seconds = time.perf_counter() - started
        if problems:
            _log(f"build failed in {seconds:.2f} s; the page shows the last good build and the problems:")
            for problem in problems:
                where = f"{problem.where}: " if problem.where else ""
                hint = f"\n    hint: {problem.hint}" if problem.hint else ""
                print(f"  {where}{problem.message}{hint}", file=sys.stderr, flush=True)
        else:
            _log(f"built in {seconds:.2f} s")
        return state

    def wait(self, seen: str | None, timeout: float) -> PageState:
        """The state once its version differs from `seen` (or after `timeout`, or when stopping)."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopping or self.version(self._state) != seen, timeout)
            return self._state

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()


class Printables:
    """The real outputs (PDFs, Anki deck, ...) built on request by `studykit build` in a child process.

    A child process keeps a long PDF build from competing with the preview's rebuilds for the
    interpreter, and it can be stopped as a whole (its own session, killed as a group) on Ctrl-C.
    """

    def __init__(self, content_dir: Path, output_dir: Path, work_dir: Path, strict: bool = False) -> None:
        self.content_dir, self.output_dir, self.strict = content_dir, output_dir, strict
        # The child's own temporary files go inside serve's temporary folder, removed with it even if it is killed.
        self.work_dir = work_dir
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._status: dict[str, str] = {"state": "idle", "message": ""}
        self.what = ""
        self._stopped = False  # set by `stop`: the child's "Aborted!" is then expected, not a failure
        self._started_at = 0.0  # when the last build started (time.time())
        self.stop_wait_seconds = 10.0  # how long `stop` lets the child end on its own before it is killed

    def status(self) -> dict[str, str]:
        with self._lock:
            return dict(self._status)

    def start(self, outputs: tuple[str, ...] = ()) -> bool:
        """Start a build of `outputs` (none: all) unless one is running; say whether one started."""
        with self._lock:
            if self._process is not None:
                return False
            command = [sys.executable, "-m", "generator", "build", "-q", *outputs]
            command += ["--content", str(self.content_dir), "--output", str(self.output_dir)]
            command += ["--strict"] if self.strict else []
            # The child imports the same `generator` as this process, wherever it is run from.
            package_root = str(Path(__file__).resolve().parent.parent)
            path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
            self.work_dir.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "PYTHONPATH": path, "TMPDIR": str(self.work_dir)}
            self._started_at = time.time()
            self._process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
            )
            self.what = ", ".join(outputs) if outputs else "every output"
            self._status = {"state": "running", "message": f"building {self.what} into {self.output_dir}/ …"}
            _log(self._status["message"])
        threading.Thread(target=self._finish, args=(self._process,), name="studykit-printables", daemon=True).start()
        return True

    def _finish(self, process: subprocess.Popen[str]) -> None:
        output, _ = process.communicate()
        with self._lock:
            self._process = None
            if self._stopped:
                self._status = {"state": "failed", "message": "the build was stopped"}
            elif process.returncode == 0:
                self._status = {"state": "done", "message": f"built {self.what} into {self.output_dir}/"}
            elif process.returncode < 0:
                self._status = {"state": "failed", "message": f"the build was killed (signal {-process.returncode})"}
            else:
                last = output.strip().splitlines()[-1:] or ["no output"]
                self._status = {"state": "failed", "message": f"the build failed: {last[0]} (see the terminal)"}
            stopped = self._stopped
        _log(self._status["message"])
        if process.returncode and not stopped:
            print(output, file=sys.stderr, flush=True)

    def stop(self) -> None:
        with self._lock:
            process = self._process
            self._stopped = True
        if process is None:
            return
        # SIGINT, as a Ctrl-C would: the build removes its half-written temporary files on the way out. To the
        # group: the child and any math workers it started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=self.stop_wait_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pipeline.remove_staged(self.output_dir, self._started_at)


# What every served page gets: overlay and toolbar styles, and the script that listens for builds.
_STYLE = """
#studykit-overlay{position:fixed;inset:0;z-index:2147483646;background:rgba(0,0,0,.45);overflow:auto;
  font:15px/1.45 system-ui,sans-serif;color:#1a1a1a}
#studykit-overlay .studykit-box{max-width:60rem;margin:3rem auto;padding:1.25rem 1.5rem;background:#fff7f7;
  border:2px solid #b00020;border-radius:.5rem}
#studykit-overlay h2{margin:0 0 .75rem;font-size:1.15rem;color:#8a0018}
#studykit-overlay ol{margin:0;padding-left:1.25rem}
#studykit-overlay li{margin:.5rem 0}
#studykit-overlay code{font:600 .9em ui-monospace,monospace;color:#1a1a1a}
#studykit-overlay .studykit-hint{color:#4a4a4a}
#studykit-overlay button,#studykit-toolbar button{font:inherit;padding:.2rem .6rem;cursor:pointer}
#studykit-toolbar{position:fixed;right:.75rem;bottom:.75rem;z-index:2147483645;display:flex;gap:.5rem;
  align-items:center;padding:.35rem .6rem;border-radius:.4rem;background:#222;color:#fff;
  font:13px/1.3 system-ui,sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:calc(100vw - 1.5rem)}
@media print{#studykit-overlay,#studykit-toolbar{display:none}}
"""

_SCRIPT = """
(function () {
  "use strict";
  // Built at version VERSION; any other version announced by the server means a newer build.
  var served = VERSION;
  function status(text) { document.getElementById("studykit-status").textContent = text; }
  function poll() {
    fetch(BUILD, {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (s) {
      status(s.message);
      if (s.state === "running") { setTimeout(poll, 1000); }
    }).catch(function () {});
  }
  // The tab reloads after every save: keep the reader where they were rather than at the top.
  history.scrollRestoration = "manual";
  function restoreScroll() {
    var y = sessionStorage.getItem("studykit-scroll");
    sessionStorage.removeItem("studykit-scroll");
    if (y !== null) { window.scrollTo(0, Number(y)); }
  }
  function attach() {
    restoreScroll();
    var overlay = document.getElementById("studykit-problems");
    if (overlay) {
      document.body.appendChild(overlay.content.cloneNode(true));
      document.getElementById("studykit-dismiss").addEventListener("click", function () {
        document.getElementById("studykit-overlay").remove();
      });
    }
    var bar = document.createElement("div");
    bar.id = "studykit-toolbar";
    bar.innerHTML = '<span>studykit serve</span><button type="button" id="studykit-build">' +
      'Build PDFs and Anki deck</button><span id="studykit-status" role="status"></span>';
    document.body.appendChild(bar);
    document.getElementById("studykit-build").addEventListener("click", function () {
      fetch(BUILD, {method: "POST", headers: {HEADER: "1"}}).then(poll, function () { status("server unreachable"); });
    });
    poll();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", attach); } else { attach(); }
  var events = new EventSource(EVENTS);
  events.onmessage = function (event) {
    if (event.data !== served) {
      events.close();
      try { sessionStorage.setItem("studykit-scroll", String(window.scrollY)); } catch (e) { /* storage off */ }
      location.reload();
    }
  };
})();
"""


def overlay(problems: Iterable[ShownProblem]) -> str:
    """The problems as HTML, every piece of text escaped (messages quote the user's TeX and Markdown)."""
    items = []
    for problem in problems:
        where = f"<code>{html.escape(problem.where)}</code> " if problem.where else ""
        hint = f'<div class="studykit-hint">hint: {html.escape(problem.hint)}</div>' if problem.hint else ""
        items.append(f'<li>{where}<span class="studykit-message">{html.escape(problem.message)}</span>{hint}</li>')
    count = len(items)
    return (
        '<div id="studykit-overlay" role="alert"><div class="studykit-box">'
        f"<h2>The build failed ({count} problem{'s' if count != 1 else ''}); the page below is the last good one</h2>"
        f"<ol>{''.join(items)}</ol>"
        "<p>Fix the note and save it: the page reloads by itself.</p>"
        '<button type="button" id="studykit-dismiss">Hide</button></div></div>'
    )


def injection(version: str, problems: Iterable[ShownProblem]) -> bytes:
    """What serving adds to a page's <head>: styles, the problems (in a <template>, valid in <head>), the script."""
    shown = list(problems)
    problems_html = f'<template id="studykit-problems">{overlay(shown)}</template>' if shown else ""
    script = (
        _SCRIPT.replace("VERSION", json.dumps(version))
        .replace("EVENTS", json.dumps(EVENTS_PATH))
        .replace("BUILD", json.dumps(BUILD_PATH))
        .replace("HEADER", json.dumps(BUILD_HEADER))
    )
    return f"<style>{_STYLE}</style>{problems_html}<script>{script}</script>".encode()


def inject(head: bytes, addition: bytes) -> bytes:
    """`head` (a page's first bytes) with `addition` after its CSP tag (which is opened to this origin) or <head>."""
    if match := _CSP_META.search(head):
        policy = _CONNECT_SRC.sub(b"", match.group(1)).rstrip(b"; ")
        tag = b'<meta http-equiv="Content-Security-Policy" content="' + policy + b"; connect-src 'self'\">"
        return head[: match.start()] + tag + addition + head[match.end() :]
    if match := _HEAD_TAG.search(head):
        return head[: match.end()] + addition + head[match.end() :]
    return addition + head


def _plain_page(title: str, body: str) -> bytes:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f'<body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto">{body}</body></html>'
    ).encode()


def index_page(state: PageState) -> bytes:
    items = "".join(
        f'<li><a href="/{html.escape(slug)}.html">{html.escape(title)}</a></li>' for slug, title in state.titles.items()
    )
    return _plain_page("studykit: decks", f"<h1>Decks</h1><ul>{items}</ul>")


def placeholder_page() -> bytes:
    return _plain_page("studykit: no page yet", "<h1>No study page yet</h1><p>The first build failed.</p>")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an open event stream must not keep the process alive
    preview: Preview
    printables: Printables


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "studykit-serve"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the terminal shows builds, not every request."""

    def _host_allowed(self) -> bool:
        # A page on another site could resolve its own name to 127.0.0.1 (DNS rebinding); only our names pass.
        port = self.server.server_address[1]
        host = (self.headers.get("Host") or "").lower()
        return host in {f"127.0.0.1:{port}", f"localhost:{port}"}

    def do_GET(self) -> None:
        if not self._host_allowed():
            self.send_error(HTTPStatus.FORBIDDEN, "unknown Host")
            return
        path = urlsplit(self.path).path
        state = self.server.preview.state
        if path == EVENTS_PATH:
            self._events()
        elif path == BUILD_PATH:
            self._json(HTTPStatus.OK, self.server.printables.status())
        elif path in ("/", "/index.html"):
            if len(state.titles) > 1:
                self._send_bytes(inject(index_page(state), self._addition(state)))
            else:
                self._send_page(next(iter(state.pages.values()), None), state)
        elif path.endswith(".html") and path[1:-5] in state.pages:
            self._send_page(state.pages[path[1:-5]], state)
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        """Start building the real outputs: `?outputs=apkg,pdf` chooses some (default: all, as the toolbar asks)."""
        url = urlsplit(self.path)
        if url.path != BUILD_PATH:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        if not self._host_allowed() or not self.headers.get(BUILD_HEADER):
            self.send_error(HTTPStatus.FORBIDDEN, f"only a served page may start a build (it sends {BUILD_HEADER})")
            return
        asked = [name for value in parse_qs(url.query).get("outputs", []) for name in value.split(",") if name]
        if unknown := sorted(set(asked) - set(writers.names())):
            self.send_error(HTTPStatus.BAD_REQUEST, f"unknown output {', '.join(unknown)}")
            return
        started = self.server.printables.start(tuple(asked))
        self._json(HTTPStatus.ACCEPTED if started else HTTPStatus.OK, self.server.printables.status())

    def _addition(self, state: PageState) -> bytes:
        return injection(self.server.preview.version(state), state.problems)

    def _headers(self, content_type: str, length: int | None = None) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send_bytes(self, body: bytes) -> None:
        self._headers("text/html; charset=utf-8", len(body))
        self.wfile.write(body)

    def _send_page(self, page: Path | None, state: PageState) -> None:
        """The built page with the addition spliced into its head; the rest streamed (pages can be hundreds of MB)."""
        if page is None:
            self._send_bytes(inject(placeholder_page(), self._addition(state)))
            return
        # The open file stays the same page even if a build renames a newer one over it meanwhile.
        with page.open("rb") as built:
            size = os.fstat(built.fileno()).st_size
            head = built.read(HEAD_BYTES)
            patched = inject(head, self._addition(state))
            self._headers("text/html; charset=utf-8", size - len(head) + len(patched))
            try:
                self.wfile.write(patched)
                shutil.copyfileobj(built, self.wfile)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the tab went away (a reload mid-transfer)

    def _json(self, code: HTTPStatus, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        """Server-Sent Events: the current version at once, then each new one as its build ends."""
        preview = self.server.preview
        self._headers("text/event-stream")
        seen: str | None = None
        try:
            self.wfile.write(b"retry: 500\n\n")  # after a restart, reconnect (and so reload) quickly
            while True:
                state = preview.wait(seen, KEEP_ALIVE_SECONDS)
                if preview.stopping:
                    return
                version = preview.version(state)
                self.wfile.write(f"data: {version}\n\n".encode() if version != seen else b": idle\n\n")
                self.wfile.flush()
                seen = version
        except (BrokenPipeError, ConnectionResetError):
            return


# Folders never watched: caches, version control, virtual environments (`--content .` would otherwise have
# every poll walk the whole of .venv), tools' packages.
_UNWATCHED_DIRS = {"__pycache__", "node_modules"}


def _ignored(name: str) -> bool:
    """Editor droppings and hidden files and folders: swap and backup files, .git, .venv."""
    return name.startswith(".") or name.endswith("~")


def snapshot(folders: Iterable[Path], skip: Iterable[Path] = ()) -> dict[Path, tuple[int, int]]:
    """Each watched file's modification time and size; any difference between two snapshots is a change.

    `skip`: folders not to enter, such as the output folder when it lies inside the content folder (the
    toolbar's build writing there must not look like an edit).
    """
    skipped = {path.resolve() for path in skip}
    seen: dict[Path, tuple[int, int]] = {}
    for folder in folders:
        for top, dirs, files in os.walk(folder):
            here = Path(top)
            dirs[:] = [
                d for d in dirs if not _ignored(d) and d not in _UNWATCHED_DIRS and (here / d).resolve() not in skipped
            ]
            for name in files:
                if _ignored(name):
                    continue
                try:
                    info = (here / name).stat()
                except OSError:  # removed between listing and stat (or a dangling link): the next poll sees it
                    continue
                seen[here / name] = (info.st_mtime_ns, info.st_size)
    return seen


def _changed_since(settled: dict[Path, tuple[int, int]], folders: list[Path], skip: list[Path]) -> bool:
    return snapshot(folders, skip) != settled


def _watch(
    preview: Preview, folders: list[Path], skip: list[Path], seen: dict[Path, tuple[int, int]], stop: threading.Event
) -> None:
    """Rebuild whenever a snapshot differs from the last; changes made during a build are caught by the next poll."""
    while not stop.wait(POLL_SECONDS):
        now = snapshot(folders, skip)
        if now == seen:
            continue
        # An editor may save in several writes (truncate, write, rename): wait until two looks agree.
        for _ in range(SETTLE_TRIES):
            if stop.wait(SETTLE_SECONDS):
                return
            if (again := snapshot(folders, skip)) == now:
                break
            now = again
        seen = now
        preview.rebuild(superseded=functools.partial(_changed_since, now, folders, skip))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def bind(port: int) -> _Server:
    try:
        return _Server((HOST, port), _Handler)
    except OSError as error:
        hint = "try another --port (0: any free one)"
        raise UsageError(f"cannot listen on {HOST}:{port}: {error.strerror}; {hint}") from error


def serve(content_dir: Path, output_dir: Path, port: int = 8000, strict: bool = False) -> None:
    """Serve until Ctrl-C (or SIGTERM); then stop every thread and child and remove the temporary folder.

    Call it from the main thread: it takes over SIGINT and SIGTERM while it runs.
    """
    work = Path(tempfile.mkdtemp(prefix="studykit-serve-"))
    stop = threading.Event()
    preview = Preview(content_dir, work / "pages", strict)
    printables = Printables(content_dir, output_dir, work / "build", strict)
    watcher: threading.Thread | None = None
    server: _Server | None = None
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` cleans up like Ctrl-C
    # Ctrl-C must stop the server even when started where SIGINT is ignored (a shell's background job).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server = bind(port)
        server.preview, server.printables = preview, printables
        folders = [content_dir, templating.TEMPLATES_DIR]
        skip = [output_dir]
        seen = snapshot(folders, skip)  # before the build, so that an edit during it is not missed
        _log("building the study page …")
        preview.rebuild()
        watcher = threading.Thread(target=_watch, args=(preview, folders, skip, seen, stop), name="studykit-watch")
        watcher.start()
        print(f"serving http://{HOST}:{server.server_address[1]}/ (Ctrl-C to stop)", flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the clean-up short (and leave the temporary folder behind).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stop.set()
            preview.stop()
            if watcher is not None:
                if preview.building:
                    _log("stopping after the build in progress …")
                watcher.join()
            if server is not None:
                server.server_close()
            printables.stop()
            shutil.rmtree(work, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
    _log("stopped")
