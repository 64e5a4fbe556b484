"""How fast the MathJax engine draws real notes' formulas (tests/corpus/formulas/formulas.tsv).

The corpus is rendered cold, in a fresh Python process: V8 starts, the bundle is parsed, then
every formula is drawn once, in file order. Printed, each with PASS/FAIL against its target:

  - formulas per second per core: formulas / CPU seconds of that process (user+sys, all threads,
    V8's included), engine start included; target at least 200. Measured twice, each in its own
    fresh process: one render() call per formula, and render_many() with BATCH formulas a call
    (each call into V8 costs a fixed ~0.3-1.5 ms of thread hops and script compiling in mini-racer);
  - slowest formula: the most CPU one formula took (the first pays for V8's warming up); at most
    200 ms (from the one-call-per-formula run). Its wall-clock time is printed beside it;
  - peak memory: the process's peak resident set size (ru_maxrss); at most 300 MB.

A second pass over the same formulas follows and is printed for comparison only: most of the cold
pass's extra cost is V8 compiling MathJax's code as it first runs (mini-racer runs V8 with
--single-threaded, so that compiling is on the same core). Peak memory includes that pass.

CPU time decides PASS/FAIL because on a shared machine the wall clock also measures everybody
else's processes (as bench/bench.py does); wall-clock figures are printed beside.

Usage:  python bench/math_corpus.py
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "formulas" / "formulas.tsv"
MIN_RATE = 200.0
MAX_SLOWEST_MS = 200.0
MAX_RSS_MB = 300.0
# Formulas per render_many() call in the batched run: about what one note file holds.
BATCH = 64  # as generator.mathrender draws them (_BATCH)


def _formulas() -> list[tuple[str, bool]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[1:]
    unescape = {"n": "\n", "t": "\t"}
    return [
        (re.sub(r"\\(.)", lambda match: unescape.get(match.group(1), match.group(1)), fields[4]), fields[3] == "1")
        for fields in (line.split("\t") for line in lines)
    ]


def child(mode: str) -> None:
    """Runs in the fresh process: draws the corpus ("one": render() per formula, "many": render_many()
    in batches of BATCH) and prints its figures as JSON."""
    sys.path.insert(0, str(ROOT))
    formulas = _formulas()
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    from generator.engines import mathjax
    from generator.mathrender import MathRenderError

    mathjax.render("x", False)  # starts V8 and parses the bundle
    load_cpu = time.process_time() - cpu_start
    slowest = (0.0, 0.0, "")
    errors = 0
    if mode == "one":
        for tex, display in formulas:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                mathjax.render(tex, display)
            except MathRenderError:
                errors += 1
            cpu_ms = (time.process_time() - cpu) * 1000
            if cpu_ms > slowest[0]:
                slowest = (cpu_ms, (time.perf_counter() - wall) * 1000, tex)
    else:
        for start in range(0, len(formulas), BATCH):
            drawn = mathjax.render_many(formulas[start : start + BATCH])
            errors += sum(isinstance(item, MathRenderError) for item in drawn)
    cold_cpu, cold_wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    # For comparison only: the same formulas again, now that V8 has compiled MathJax's hot code.
    warm_start = time.process_time()
    for tex, display in formulas:
        with contextlib.suppress(MathRenderError):
            mathjax.render(tex, display)
    figures = {
        "warm_cpu_s": time.process_time() - warm_start,
        "formulas": len(formulas),
        "errors": errors,
        "cpu_s": cold_cpu,
        "wall_s": cold_wall,
        "load_cpu_s": load_cpu,
        "slowest_cpu_ms": slowest[0],
        "slowest_wall_ms": slowest[1],
        "slowest_tex": slowest[2],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "version": mathjax.VERSION,
    }
    print(json.dumps(figures))


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _run(mode: str) -> dict[str, Any]:
    run = subprocess.run([sys.executable, __file__, "--child", mode], capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    one, many = _run("one"), _run("many")
    print(
        f"MathJax {one['version']}: {one['formulas']} formulas from {CORPUS.relative_to(ROOT)}, "
        f"{one['errors']} rejected by MathJax; engine start {one['load_cpu_s'] * 1000:.0f} ms CPU"
    )
    # The build draws formulas as mathrender.prerender does: render_many, a batch per call into V8. One call per
    # formula is printed beside it, not judged: nothing in studykit draws a deck's formulas that way.
    single = one["formulas"] / one["cpu_s"]
    print(f"      formulas/s per core   {single:7.1f}  (render() once per formula; for comparison, not a target)")
    checks = []
    rate, wall_rate = many["formulas"] / many["cpu_s"], many["formulas"] / many["wall_s"]
    checks.append(
        (
            f"formulas/s per core   {rate:7.1f}  (wall clock {wall_rate:.1f}/s; render_many(), {BATCH} a call, "
            f"as the build draws them)   target >= {MIN_RATE:g}",
            rate >= MIN_RATE,
        )
    )
    checks += [
        (
            f"slowest formula ms    {one['slowest_cpu_ms']:7.1f}  (wall clock {one['slowest_wall_ms']:.1f} ms)"
            f"   target <= {MAX_SLOWEST_MS:g}",
            one["slowest_cpu_ms"] <= MAX_SLOWEST_MS,
        ),
        (
            f"peak RSS MB           {max(one['rss_mb'], many['rss_mb']):7.1f}   target <= {MAX_RSS_MB:g}",
            max(one["rss_mb"], many["rss_mb"]) <= MAX_RSS_MB,
        ),
    ]
    for line, ok in checks:
        print(f"{_verdict(ok)}  {line}")
    print(f"slowest formula: {one['slowest_tex'][:100]!r}")
    print(
        f"(second, warm pass of render() over the same formulas: {one['formulas'] / one['warm_cpu_s']:.1f}/s per core)"
    )
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        sys.exit(main())
