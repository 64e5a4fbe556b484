"""`make bench`, last part: the targets of issue 14 ("Fast edits"), each printed with its figure and PASS or FAIL.

Every build is what a user runs: `python -m generator build --content ... --output ... -q [outputs]` in
its own subprocess (cwd = this checkout, so its `generator` package is the one measured), with its own
STUDYKIT_CACHE_DIR: cold = a new empty folder, warm = the folder the cold build of that bank filled.

Measured for each build:

  - CPU time: user+sys of the build process and of every worker it waited for (os.wait4's rusage of
    the child, which Linux fills with the child's own usage plus its reaped children's);
  - wall clock (printed beside; PASS/FAIL is decided on CPU time, the machine being shared);
  - peak memory of the whole process tree: the resident memory of the build and all its descendants
    summed from /proc every 20 ms (bench.py's _tree_rss_mb), and never less than the largest single
    process's ru_maxrss;
  - whether a worker outlived it: the tree's pids (with their start times) are recorded while it runs;
    once the build process has exited and been reaped, none of them may still be running.

Banks: 15 is the shipped deck (content/dl-interview-51-65, copied); any other size is a synthetic bank
from bench.py's write_bank. For each size: a cold build of every output, a build with nothing changed
(same cache, same output folder), a rebuild of every output after bench.py's edit_one_note (a sentence
and a formula in one note's key points; for the shipped deck, a sentence added to one note's first key
point), then a second one-sentence edit of the same note followed by `build html` alone. At 100 notes
also `build apkg` alone, cold (new empty cache and output folder), then again with nothing changed.

Targets (issue 14):
  1. 15 notes (shipped), one-note edit, all outputs: rebuild <= 3 s CPU
  2. 1,000 notes, one-note edit, all outputs: rebuild <= 10 % of the cold build's CPU;
     5,000 notes (when 5000 is in --sizes): rebuild <= 10 s CPU
  3. 1,000 notes, `build html` after a one-note edit: <= 1 s CPU
  4. 1,000 notes, `build` with nothing changed, all outputs: < 2 s CPU;
     no-op `make all` in the project: < 0.3 s CPU of make and its children (skipped when the project
     has no .venv, as a git worktree usually has not)
  5. 5,000 notes, peak memory of the process tree, all outputs: < 1 GB (NOT MEASURED unless 5000 is in
     --sizes; the peak at every measured size is printed anyway)
  6. 100 notes, cold build of every output: <= 25 s CPU
  7. 100 notes, `build apkg`: cold <= 3 s CPU; warm (nothing changed) <= 0.7 s CPU
  8. no worker process outlives any build above

The script exits 0 whatever the verdicts: the figures are the point.

Usage:  python bench/targets.py [--sizes 15,100,1000] [--quick] [--keep DIR] [--project DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import _tree_rss_mb, edit_one_note, write_bank

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "content" / "dl-interview-51-65"
SHIPPED_SIZE = 15
DEFAULT_SIZES = (15, 100, 1000)
QUICK_SIZES = (15, 100)
SAMPLE_S = 0.02
# A descendant still running this long after the build exited outlived it; one that ends sooner (multiprocessing's
# resource tracker reads EOF and exits a few ms after the build) is printed as lingering, not counted.
GRACE_S = 1.0

# Targets (issue 14), CPU seconds unless named otherwise.
EDIT_SHIPPED_MAX_S = 3.0
EDIT_1000_MAX_SHARE = 0.10
EDIT_5000_MAX_S = 10.0
PAGE_EDIT_MAX_S = 1.0
NOOP_MAX_S = 2.0
MAKE_NOOP_MAX_S = 0.3
PEAK_MAX_MB = 1024.0
COLD_100_MAX_S = 25.0
APKG_COLD_MAX_S = 3.0
APKG_WARM_MAX_S = 0.7


# --------------------------------------------------------------------------------------------
# One build, watched
# --------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) of a process, or None when there is none by that pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return fields[0], fields[19]  # fields 3 and 22 of proc(5)


def _tree_pids(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue  # ended while we looked
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


class TreeWatch:
    """Samples a process tree every 20 ms: its summed resident memory, and every pid that belonged to it."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_mb = 0.0
        self.seen: dict[int, tuple[str, str]] = {}  # pid -> (start time, command line)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        self.peak_mb = max(self.peak_mb, _tree_rss_mb(self.root))
        for pid in _tree_pids(self.root):
            if pid not in self.seen and (stat := _stat(pid)) is not None:
                self.seen[pid] = (stat[1], _cmdline(pid))

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(SAMPLE_S):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def survivors(self) -> list[tuple[int, str]]:
        """Descendants seen during the run that are still running (same pid and start time, not a zombie)."""
        alive = []
        for pid, (start, command) in self.seen.items():
            if pid == self.root:
                continue
            stat = _stat(pid)
            if stat is not None and stat[1] == start and stat[0] not in ("Z", "X"):
                alive.append((pid, command))
        return alive


@dataclass
class Run:
    label: str
    wall: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0
    processes: int = 0
    outlived: list[str] = field(default_factory=list)
    lingered: list[str] = field(default_factory=list)
    ok: bool = True

    def figure(self) -> str:
        if not self.ok:
            return "build failed"
        return f"{self.cpu:.2f} s CPU (wall {self.wall:.2f} s)"


def build(content: Path, output: Path, cache: Path, outputs: list[str], label: str) -> Run:
    """Run `python -m generator build` once; its CPU (with its workers'), wall clock, tree peak and survivors."""
    env = dict(os.environ, STUDYKIT_CACHE_DIR=str(cache), PYTHONWARNINGS="ignore")
    env.pop("SOURCE_DATE_EPOCH", None)
    command = [sys.executable, "-m", "generator", "build", "--content", str(content), "--output", str(output), "-q"]
    command += outputs
    run = Run(label)
    with tempfile.TemporaryFile() as log:
        began = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        watch = TreeWatch(process.pid)
        _, status, usage = os.wait4(process.pid, 0)  # usage: the build's own plus its reaped workers'
        run.wall = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        watch.stop()
        run.cpu = usage.ru_utime + usage.ru_stime
        run.peak_mb = max(watch.peak_mb, usage.ru_maxrss / 1024)  # KiB on Linux
        run.processes = len(watch.seen)
        exited = time.perf_counter()
        alive = watch.survivors()
        while alive and time.perf_counter() - exited < GRACE_S:
            time.sleep(0.01)
            still = watch.survivors()
            lag = (time.perf_counter() - exited) * 1000
            run.lingered += [f"{pid} {line[:80]} ({lag:.0f} ms)" for pid, line in alive if (pid, line) not in still]
            alive = still
        for pid, line in alive:
            run.outlived.append(f"{pid} {line[:100]}")
            os.kill(pid, signal.SIGTERM)  # a worker of our own build: do not let it skew the next measurement
        if process.returncode != 0:
            run.ok = False
            log.seek(0)
            sys.stdout.write(log.read().decode(errors="replace")[-3000:])
    lingering = f"; OUTLIVED BY {len(run.outlived)}: {', '.join(run.outlived)}" if run.outlived else ""
    if run.lingered:
        lingering += f"; ended after the build: {', '.join(run.lingered)}"
    print(
        f"    {label:44} {run.figure():34} peak {run.peak_mb:5.0f} MB, {run.processes} process(es) seen{lingering}",
        flush=True,
    )
    return run


# --------------------------------------------------------------------------------------------
# Banks and edits
# --------------------------------------------------------------------------------------------


def shipped_bank(folder: Path) -> Path:
    content = folder / "content"
    shutil.copytree(SHIPPED, content)
    return content


def add_to_first_key_point(path: Path, sentence: str) -> None:
    """Append one sentence to the note's first key point (the line after `## Key points` starting with '- ')."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == "## Key points")
    first = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("- "))
    lines[first] = lines[first].rstrip("\n") + " " + sentence + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    later = time.time() + 2  # a newer mtime even on a coarse file system
    os.utime(path, (later, later))


def edit_shipped(content: Path) -> Path:
    notes = sorted(content.glob("*.md"))
    path = notes[len(notes) // 2]
    add_to_first_key_point(path, "This sentence was added by the bench.")
    return path


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    number: str
    what: str
    figure: str
    limit: str
    verdict: str

    def line(self) -> str:
        return f"[{self.number}] {self.what}: {self.figure} (limit {self.limit})  {self.verdict}"


def machine_speed() -> str:
    """CPU seconds of a fixed pure-Python loop: the shared VM's speed swings between runs and within one, and a
    figure above is only comparable with another taken at a similar speed."""
    began = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i * i
    return f"{time.process_time() - began:.2f} s CPU for a fixed loop"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, number: str, what: str, figure: str, limit: str, result: str) -> None:
        row = Row(number, what, figure, limit, result)
        self.rows.append(row)
        print(("  " if result != "FAIL" else "! ") + row.line(), flush=True)

    def cpu_at_most(self, number: str, what: str, run: Run, limit: float, strict: bool = False) -> None:
        ok = run.ok and (run.cpu < limit if strict else run.cpu <= limit)
        self.add(number, what, run.figure(), f"{'<' if strict else '<='} {limit:g} s CPU", verdict(ok))

    def not_measured(self, number: str, what: str, limit: str, why: str) -> None:
        self.add(number, what, f"not measured: {why}", limit, "NOT MEASURED")


def measure_size(size: int, root: Path, report: Report, peaks: dict[int, float], runs: list[Run]) -> None:
    folder = root / f"bank-{size}"
    if folder.exists():
        shutil.rmtree(folder)
    began = time.perf_counter()
    if size == SHIPPED_SIZE:
        content = shipped_bank(folder)
        name = f"{size} notes (shipped deck)"
    else:
        content = write_bank(folder, size)
        name = f"{size:,} notes (synthetic)"
    print(f"\n== {name} ==", flush=True)
    cache, output, everything = folder / "cache", folder / "build", ["all"]

    cold = build(content, output, cache, everything, "cold, all outputs (empty cache)")
    noop = build(content, output, cache, everything, "nothing changed, all outputs")
    edited = edit_shipped(content) if size == SHIPPED_SIZE else edit_one_note(content, size)
    rebuild = build(content, output, cache, everything, f"one-note edit ({edited.name}), all outputs")
    add_to_first_key_point(edited, "A second sentence, added for the page alone.")
    page = build(content, output, cache, ["html"], "one-note edit, `build html` alone")
    runs += [cold, noop, rebuild, page]
    peaks[size] = max(r.peak_mb for r in (cold, noop, rebuild))  # the all-output builds

    if size == SHIPPED_SIZE:
        report.cpu_at_most(
            "1", "15 notes (shipped), rebuild after a one-note edit, all outputs", rebuild, EDIT_SHIPPED_MAX_S
        )
    if size == 100:
        report.cpu_at_most("6", "100 notes, cold build, all outputs", cold, COLD_100_MAX_S)
        apkg_cache, apkg_output = folder / "cache-apkg", folder / "build-apkg"
        apkg_cold = build(content, apkg_output, apkg_cache, ["apkg"], "`build apkg`, cold (empty cache and output)")
        apkg_warm = build(content, apkg_output, apkg_cache, ["apkg"], "`build apkg` again, nothing changed")
        runs += [apkg_cold, apkg_warm]
        report.cpu_at_most("7a", "100 notes, `build apkg` cold", apkg_cold, APKG_COLD_MAX_S)
        report.cpu_at_most("7b", "100 notes, `build apkg` warm (a no-op)", apkg_warm, APKG_WARM_MAX_S)
    if size == 1000:
        share = rebuild.cpu / cold.cpu if cold.ok and cold.cpu else float("nan")
        report.add(
            "2a",
            "1,000 notes, rebuild after a one-note edit vs cold build, all outputs",
            f"{rebuild.cpu:.2f} s / {cold.cpu:.2f} s CPU = {share:.1%}" if rebuild.ok and cold.ok else "build failed",
            f"<= {EDIT_1000_MAX_SHARE:.0%}",
            verdict(rebuild.ok and cold.ok and share <= EDIT_1000_MAX_SHARE),
        )
        report.cpu_at_most("3", "1,000 notes, `build html` after a one-note edit", page, PAGE_EDIT_MAX_S)
        report.cpu_at_most("4a", "1,000 notes, `build` with nothing changed, all outputs", noop, NOOP_MAX_S, True)
    if size == 5000:
        report.cpu_at_most("2b", "5,000 notes, rebuild after a one-note edit, all outputs", rebuild, EDIT_5000_MAX_S)
        report.add(
            "5",
            "5,000 notes, peak memory of the process tree, all outputs",
            f"{peaks[size]:,.0f} MB",
            f"< {PEAK_MAX_MB:,.0f} MB",
            verdict(peaks[size] < PEAK_MAX_MB),
        )
    print(f"  ({name}: {time.perf_counter() - began:,.0f} s)", flush=True)


def make_noop(project: Path, report: Report) -> None:
    what = f"no-op `make all` in {project}"
    if not (project / ".venv" / "bin" / "python").exists():
        report.add("4b", what, "SKIPPED: the project has no .venv", f"< {MAKE_NOOP_MAX_S:g} s CPU", "SKIPPED")
        return
    print(f"\n== `make all` in {project} ==", flush=True)
    first = subprocess.run(["make", "all"], cwd=project, capture_output=True, text=True, check=False)
    if first.returncode != 0:
        sys.stdout.write(first.stdout[-2000:] + first.stderr[-2000:])
        report.add("4b", what, "make all failed", f"< {MAKE_NOOP_MAX_S:g} s CPU", "FAIL")
        return
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    second = subprocess.run(["make", "all"], cwd=project, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    did = "" if "Nothing to be done" in second.stdout + second.stderr else "; it ran commands: not up to date"
    ok = second.returncode == 0 and cpu < MAKE_NOOP_MAX_S
    report.add("4b", what, f"{cpu:.2f} s CPU (wall {wall:.2f} s){did}", f"< {MAKE_NOOP_MAX_S:g} s CPU", verdict(ok))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="comma-separated note counts; 15 is the shipped deck (default %(default)s; add 5000 for targets 2b and 5)",
    )
    parser.add_argument("--quick", action="store_true", help="only the 15- and 100-note targets (no make all)")
    parser.add_argument("--keep", type=Path, help="write the banks and outputs here and keep them")
    parser.add_argument("--project", type=Path, default=ROOT, help="where to time a no-op `make all` (default: here)")
    options = parser.parse_args()

    sizes = list(QUICK_SIZES) if options.quick else [int(s.replace("_", "")) for s in options.sizes.split(",") if s]
    began = time.perf_counter()
    print(
        f"studykit targets (issue 14): sizes {', '.join(f'{s:,}' for s in sizes)}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start; Python {sys.version.split()[0]}; generator from {ROOT}"
    )
    print(
        "Each build: `python -m generator build -q` in a subprocess with its own STUDYKIT_CACHE_DIR. CPU = user+sys\n"
        "of the build and its workers (wait4); peak = the process tree's resident memory, sampled every 20 ms.\n"
        "PASS/FAIL on CPU time (the machine is shared); the wall clock is printed beside it."
    )
    print(f"Machine speed before: {machine_speed()}; this VM's time for it varies by 30 % or more")
    report = Report()
    peaks: dict[int, float] = {}
    runs: list[Run] = []
    root = options.keep if options.keep else Path(tempfile.mkdtemp(prefix="studykit-targets-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        for size in sizes:
            measure_size(size, root, report, peaks, runs)
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)

    print("\n== Targets not reached by these sizes, and the rest ==")
    numbers = {row.number for row in report.rows}
    if SHIPPED_SIZE not in sizes:
        report.not_measured("1", "15 notes (shipped), rebuild after a one-note edit", "<= 3 s CPU", "15 not in --sizes")
    if 1000 not in sizes:
        for number, what, limit in (
            ("2a", "1,000 notes, rebuild after a one-note edit vs cold build", f"<= {EDIT_1000_MAX_SHARE:.0%}"),
            ("3", "1,000 notes, `build html` after a one-note edit", f"<= {PAGE_EDIT_MAX_S:g} s CPU"),
            ("4a", "1,000 notes, `build` with nothing changed", f"< {NOOP_MAX_S:g} s CPU"),
        ):
            report.not_measured(number, what, limit, "1000 not in --sizes")
    if "2b" not in numbers:
        report.not_measured(
            "2b", "5,000 notes, rebuild after a one-note edit", f"<= {EDIT_5000_MAX_S:g} s CPU", "5000 not in --sizes"
        )
    if options.quick:
        report.not_measured("4b", "no-op `make all`", f"< {MAKE_NOOP_MAX_S:g} s CPU", "--quick")
    else:
        make_noop(options.project.resolve(), report)
    if "5" not in numbers:
        report.not_measured(
            "5", "5,000 notes, peak memory of the process tree", f"< {PEAK_MAX_MB:,.0f} MB", "5000 not in --sizes"
        )
    for size, peak in peaks.items():
        report.add("5", f"{size:,} notes, peak memory of the process tree, all outputs", f"{peak:,.0f} MB", "-", "INFO")
    if 100 not in sizes:
        report.not_measured(
            "6", "100 notes, cold build, all outputs", f"<= {COLD_100_MAX_S:g} s CPU", "100 not in --sizes"
        )
        report.not_measured(
            "7",
            "100 notes, `build apkg` cold and warm",
            f"<= {APKG_COLD_MAX_S:g} / {APKG_WARM_MAX_S:g} s",
            "100 not in --sizes",
        )
    outlived = [r for r in runs if r.outlived]
    lingered = [r for r in runs if r.lingered]
    for r in outlived:
        print(f"  still running {GRACE_S:g} s after `{r.label}`: {', '.join(r.outlived)}")
    for r in lingered:
        print(f"  ended within {GRACE_S:g} s after `{r.label}` (not counted): {', '.join(r.lingered)}")
    report.add(
        "8",
        "no worker process outlives a build",
        f"{len(runs)} builds, {len(outlived)} left a process running {GRACE_S:g} s after "
        f"({len(lingered)} had one end within {GRACE_S:g} s)",
        "none",
        verdict(not outlived and bool(runs)),
    )

    order = {"1": 0, "2a": 1, "2b": 2, "3": 3, "4a": 4, "4b": 5, "5": 6, "6": 7, "7a": 8, "7b": 9, "7": 9, "8": 10}
    rows = sorted(report.rows, key=lambda row: order.get(row.number, 99))
    what, figure, limit = (max(len(getattr(row, name)) for row in rows) for name in ("what", "figure", "limit"))
    print("\n== Summary (issue 14; CPU time of the build and its workers) ==")
    print(f"{'#':4} {'target':{what}}  {'figure':{figure}}  {'limit':{limit}}  verdict")
    for row in rows:
        print(f"{row.number:4} {row.what:{what}}  {row.figure:{figure}}  {row.limit:{limit}}  {row.verdict}")
    failed = sum(row.verdict == "FAIL" for row in rows)
    print(f"\nMachine speed after: {machine_speed()}")
    print(f"targets.py took {time.perf_counter() - began:,.0f} s; {failed} target(s) FAIL.")


if __name__ == "__main__":
    main()
