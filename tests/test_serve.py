"""`studykit serve`: a real server process on a free port, a real headless Chromium, real edits to a note.

Edit a note and the open tab shows it (the latency is measured); break a formula and an overlay
names the file and line over the last good page; fix it and the overlay goes. The served page has
the reload script and the built file does not; only 127.0.0.1 listens; Ctrl-C exits 0 and leaves
neither its temporary folder nor a child process behind.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator import build as pipeline
from generator import serve
from generator.context import BuildOptions
from generator.errors import BuildFailed, ContentFolderError, Location, Problem, UsageError
from tests.browser import SharedTab, needs_chromium
from tests.conftest import CONTENT, ROOT, content_with

ARTIFACTS = ROOT / "tests" / "artifacts" / "serve"
NOTE = "51-fine-tuning.md"
QUESTION = "question: What is fine-tuning, and when should you use it?"
VISIBLE_WITHIN = 2.0  # seconds from saving a note to the open tab showing it


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    port: int
    tmp: Path  # the server's TMPDIR: its temporary folder goes here
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[Path], Served]]:
    """Start `studykit serve --port 0` on a content folder; stopped (Ctrl-C) at the end if still running."""
    started: list[Served] = []

    def run(content: Path) -> Served:
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        stderr = tmp_path / "serve.err"
        env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "generator", "serve", "--content", str(content), "--port", "0"]
        command += ["--output", str(tmp_path / "out")]
        with stderr.open("w") as err:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []], daemon=True).start()
        try:
            line = lines.get(timeout=90)  # the first build: math rendered on a cold cache takes a while
        except queue.Empty:
            process.kill()
            pytest.fail(f"no URL printed; stderr:\n{stderr.read_text()}")
        found = re.search(r"serving (http://127\.0\.0\.1:(\d+)/)", line)
        assert found, line
        served = Served(process, found.group(1), int(found.group(2)), tmp, stderr)
        started.append(served)
        return served

    yield run
    for served in started:
        if served.process.poll() is None:
            served.process.send_signal(signal.SIGINT)
            try:
                served.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                served.process.kill()


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `condition` held (polled every 20 ms); fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


def page_state(tab: Any) -> dict[str, Any]:
    """The tab's text and whether the served script ran and the overlay shows; empty mid-reload."""
    try:
        state: dict[str, Any] = tab.evaluate(
            """() => ({
                text: document.body ? document.body.innerText : "",
                attached: !!document.getElementById("studykit-toolbar"),
                overlay: (document.getElementById("studykit-overlay") || {}).innerText || null,
            })"""
        )
    except Exception:  # the page is navigating (reloading): no execution context for a moment
        return {"text": "", "attached": False, "overlay": None}
    return state


@needs_chromium
def test_edit_break_and_fix_a_note_in_an_open_tab(
    start: Callable[[Path], Served], content_copy: Path, tab: SharedTab
) -> None:
    served = start(content_copy)
    note = content_copy / NOTE
    original = note.read_text(encoding="utf-8")
    page: Any = tab.open(served.url)
    wait_for(lambda: page_state(page)["attached"], 5, "the served script runs")
    assert "What is fine-tuning" in page_state(page)["text"]

    # 1. An edit shows up in the open tab, without touching the browser, and the tab stays where it was.
    page.evaluate("document.getElementById('q60').scrollIntoView()")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 1000
    edited = original.replace(QUESTION, "question: What is fine-tuning (edited while serving)?")
    assert edited != original
    saved = time.monotonic()
    note.write_text(edited, encoding="utf-8")
    wait_for(lambda: "edited while serving" in page_state(page)["text"], 10, "the edit shows")
    latency = time.monotonic() - saved
    print(f"\nedit -> visible in the open tab: {latency:.2f} s")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "latency.txt").write_text(f"{latency:.3f}\n")
    assert latency < VISIBLE_WITHIN, f"edit took {latency:.2f} s to show"
    wait_for(lambda: page_state(page)["attached"], 5, "the served script runs again")
    assert abs(page.evaluate("window.scrollY") - scrolled) < 100, "the reload kept the reader's place"

    # 2. A broken formula: the overlay names file and line, over the last good page.
    lines = edited.splitlines(keepends=True)
    bullet = lines.index("## Key points\n") + 2  # the first key point (0-based)
    lines[bullet] = lines[bullet].rstrip("\n") + r" Broken $\frac{a}{b$ here." + "\n"
    note.write_text("".join(lines), encoding="utf-8")
    wait_for(lambda: page_state(page)["overlay"] is not None, 10, "the overlay shows")
    shown = page_state(page)
    assert f"{NOTE}:{bullet + 1}" in shown["overlay"], shown["overlay"]
    assert "formula does not render" in shown["overlay"] and "hint:" in shown["overlay"]
    assert "edited while serving" in shown["text"], "the last good page stays under the overlay"
    page.screenshot(path=str(ARTIFACTS / "overlay.png"))

    # 3. Fixed: the next build reloads the tab, without the overlay.
    fixed = edited.replace("(edited while serving)", "(fixed while serving)")
    note.write_text(fixed, encoding="utf-8")
    wait_for(
        lambda: (s := page_state(page))["attached"] and "fixed while serving" in s["text"] and s["overlay"] is None,
        10,
        "the overlay goes once the note is fixed",
    )
    origin = served.url.rstrip("/")
    requests = tab.requests  # every request since the page was opened
    assert all(url.startswith(origin) for url in requests), [u for u in requests if not u.startswith(origin)]


def _listening_addresses(port: int) -> list[str]:
    """Local addresses with a socket listening on `port`, from /proc/net/tcp{,6} (hex, as the kernel writes them)."""
    found = []
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for row in table.read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def _descendants(pid: int) -> set[int]:
    """Every process whose chain of parents leads to `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _two_decks(root: Path) -> Path:
    content = root / "decks"
    for slug in ("deck-one", "deck-two"):
        shutil.copytree(CONTENT, content / slug)
        deck_file = content / slug / "deck.yaml"
        text = deck_file.read_text(encoding="utf-8").replace("slug: dl-interview-51-65", f"slug: {slug}")
        deck_file.write_text(text.replace("title: Deep Learning", f"title: {slug} Deep Learning"), encoding="utf-8")
    return content


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from Linux's /proc")
def test_served_not_built_loopback_only_builds_outputs_and_ctrl_c_cleans_up(
    start: Callable[[Path], Served], tmp_path: Path
) -> None:
    served = start(_two_decks(tmp_path))
    # Only the loopback address listens (0100007F is 127.0.0.1), and another loopback address is refused.
    assert _listening_addresses(served.port) == ["0100007F"]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.2", served.port), timeout=2):
        pass

    # Several decks: an index linking each deck's page.
    status, index = get(served.url)
    assert status == 200 and 'href="/deck-one.html"' in index and 'href="/deck-two.html"' in index
    assert serve.EVENTS_PATH in index

    # The served page carries the reload script and opens its CSP to the event stream; the built file does not.
    status, page = get(served.url + "deck-one.html")
    assert status == 200 and serve.EVENTS_PATH in page and "new EventSource" in page and "connect-src 'self'" in page
    (work,) = served.tmp.iterdir()
    built = sorted(work.rglob("*.html"))
    assert [p.name for p in built] == ["deck-one.html", "deck-two.html"]
    for path in built:
        text = path.read_text(encoding="utf-8")
        assert "__studykit" not in text and "EventSource" not in text and "connect-src" not in text
    version = re.search(r'var served = "([^"]+)"', page)
    assert version, "the page knows the build it came from"
    on_disk, head = (work / "pages" / "deck-one.html").read_bytes(), serve.HEAD_BYTES
    spliced = serve.inject(on_disk[:head], serve.injection(version.group(1), [])) + on_disk[head:]
    assert page.encode() == spliced, "the served page is the built one plus the injection, nothing else"
    assert get(served.url + "nothing.html")[0] == 404
    assert get(served.url, headers={"Host": "attacker.example"})[0] == 403, "DNS rebinding"

    # The printable outputs go to --output, built by a child process; a request without the header is refused.
    build_url = served.url.rstrip("/") + serve.BUILD_PATH
    assert get(build_url + "?outputs=tsv", method="POST")[0] == 403
    assert get(build_url + "?outputs=nope", {serve.BUILD_HEADER: "1"}, "POST")[0] == 400
    assert get(build_url + "?outputs=tsv", {serve.BUILD_HEADER: "1"}, "POST")[0] == 202
    wait_for(lambda: json.loads(get(build_url)[1])["state"] != "running", 30, "the tsv build ends")
    assert json.loads(get(build_url)[1])["state"] == "done", served.log()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deck-one.tsv", "deck-two.tsv"]

    # Ctrl-C in the middle of a build of every output: exit 0, no temporary folder, no child left.
    assert get(build_url, {serve.BUILD_HEADER: "1"}, "POST")[0] == 202
    wait_for(lambda: bool(_descendants(served.process.pid)), 10, "the build's child process starts")
    children = _descendants(served.process.pid)
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=15) == 0, served.log()
    assert list(served.tmp.iterdir()) == [], "the temporary folder is removed"
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert left == ["deck-one.tsv", "deck-two.tsv"], "the interrupted build leaves no half-written file"
    assert not [pid for pid in children if _alive(pid)], "a child process outlived the server"


def test_overlay_escapes_every_text() -> None:
    problem = Problem(Location(Path("notes/<x>.md"), 7), "formula `<b>&</b>` does not render", 'use "\\frac{a}{b}"')
    html = serve.overlay(serve.shown_problems(BuildFailed([problem])))
    assert "<b>" not in html and "<x>" not in html
    assert "notes/&lt;x&gt;.md:7" in html and "&lt;b&gt;&amp;&lt;/b&gt;" in html and "&quot;\\frac{a}{b}&quot;" in html
    (other,) = serve.shown_problems(ContentFolderError("content: no notes\n    hint: add <one>"))
    assert (other.where, other.message, other.hint) == ("", "content: no notes", "add <one>")


def test_injection_goes_after_the_csp_tag_and_opens_it_to_this_origin() -> None:
    csp = b"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; connect-src 'none'\">"
    head = b'<html><head><meta charset="utf-8">' + csp + b"<title>t</title>"
    patched = serve.inject(head, b"<script>X</script>")
    assert patched.endswith(b"connect-src 'self'\"><script>X</script><title>t</title>"), patched
    assert b"connect-src 'none'" not in patched
    assert serve.inject(b"<html><head><title>", b"<i>") == b"<html><head><i><title>"


def test_a_taken_port_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind((serve.HOST, 0))
        taken.listen()
        with pytest.raises(UsageError, match=r"cannot listen on 127\.0\.0\.1"):
            serve.bind(taken.getsockname()[1])


def test_the_watch_skips_hidden_folders_caches_editor_files_and_the_output(tmp_path: Path) -> None:
    for name in ("51-a.md", "figures/x.svg", ".git/index", ".venv/lib/x.py", "__pycache__/x.pyc", ".51-a.md.swp",
                 "51-a.md~", "build/deck.pdf"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    watched = serve.snapshot([tmp_path], skip=[tmp_path / "build"])
    assert sorted(str(p.relative_to(tmp_path)) for p in watched) == ["51-a.md", "figures/x.svg"]
    before = dict(watched)
    (tmp_path / "51-a.md").write_text("xy")
    assert serve.snapshot([tmp_path], skip=[tmp_path / "build"]) != before


def test_the_note_memo_makes_a_rebuild_faster_never_different(content_copy: Path, tmp_path: Path) -> None:
    """Reused notes (warnings included) give the page a fresh build gives, after note and deck edits alike."""
    preview = serve.Preview(content_copy, tmp_path / "pages", strict=True)  # strict: warnings show as problems
    assert preview.rebuild().problems == ()
    other = content_copy / "52-bounding-box-regression.md"
    other.write_text(other.read_text(encoding="utf-8").replace("---\n", "---\ncolour: blue\n", 1), encoding="utf-8")
    for _ in range(2):  # read, then reused from the memo: the warning is still there
        (problem,) = preview.rebuild().problems
        assert problem.where == f"{other}:2" and "unknown front-matter field `colour`" in problem.message
    other.write_text(other.read_text(encoding="utf-8").replace("colour: blue\n", ""), encoding="utf-8")
    note, deck = content_copy / NOTE, content_copy / "deck.yaml"
    note.write_text(note.read_text(encoding="utf-8").replace(QUESTION, "question: Memo?"), encoding="utf-8")
    deck.write_text(deck.read_text(encoding="utf-8").replace("title: Deep", "title: Memo Deep"), encoding="utf-8")
    state = preview.rebuild()
    assert state.problems == ()
    fresh = pipeline.run(BuildOptions(content_copy, tmp_path / "fresh", ("html",)))
    served = state.pages["dl-interview-51-65"].read_bytes()
    assert served == fresh.written[0].read_bytes() and b"Memo?" in served and b"Memo Deep" in served


def test_a_build_killed_on_stop_leaves_no_staged_file(tmp_path: Path) -> None:
    """A printables build that does not end on Ctrl-C in time is killed: what it had staged beside its outputs is
    removed by serve, and a staged file of another, earlier build is left alone."""
    content = content_with(tmp_path, (51, 56))
    output = tmp_path / "out"
    output.mkdir()
    others = output / ".other.pdf.0123abcd.tmp"
    others.write_bytes(b"")
    os.utime(others, (time.time() - 3600, time.time() - 3600))
    printables = serve.Printables(content, output, tmp_path / "work")
    printables.stop_wait_seconds = 0.5
    assert printables.start(("pdf", "tsv"))
    process = printables._process
    assert process is not None
    wait_for(lambda: len(list(output.glob(".*.tmp"))) > 1 or process.poll() is not None, 60, "the build stages")
    assert process.poll() is None, "the build ended before it could be stopped"
    os.killpg(process.pid, signal.SIGSTOP)  # it cannot answer the SIGINT: `stop` must kill it
    printables.stop()
    assert process.returncode == -signal.SIGKILL
    assert sorted(p.name for p in output.iterdir()) == [others.name]
