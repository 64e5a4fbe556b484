"""`make bench`: how studykit's build scales with the size of the bank (issue 6, "Fast as it grows").

For each size this script writes a synthetic content folder into a temporary directory (every note
has inline and display math, a code block, a table and a figure: a small SVG in the bank's figures/
folder; deck.yaml is the English deck's, content/dl-interview-51-65/deck.yaml, with a slug and id of its own), then
runs, each in a fresh Python subprocess so that memory and in-process caches are honest:

  1. a cold build: empty output folder, STUDYKIT_CACHE_DIR a fresh empty folder for this size;
  2. a rebuild after editing one note (one sentence and one formula): same output folder, so the
     previous .apkg is there to compare with, and the math cache the cold build filled;
  3. the target measurements, warm math cache: studykit's apkg packing from converted notes
     (anki.pack; the whole anki.write is printed beside it) against a bare genanki script writing
     the same field strings and media, and studykit's cheat-sheet writer (parts on `jobs` worker
     processes, as the build runs it, their CPU counted) against WeasyPrint rendering the writer's
     whole-sheet HTML (generator.writers.sheet.html_of) alone in one process.

Builds call `generator.build.build` as the command line does (jobs = number of CPUs). Stage times
come from wrapping, in the child, what build() calls: `reader.read_deck` (read + validate, Markdown
included), `reader._check_math` (math; the reader renders every formula up front, the writers then
hit the in-process cache) and each writer's `write`. "read+validate" is read_deck minus the math in
it. A stage that build() no longer reaches through those names shows as n/a.

Times are wall clock and CPU (user+sys of the child plus the worker processes it waited for).
PASS/FAIL uses CPU time, because on a shared 2-core machine the wall clock also measures everybody
else's processes; the wall-clock ratio is printed beside it. Peak memory: the build process's own
`resource.getrusage(...).ru_maxrss` (peak resident set size, Python and C alike; not tracemalloc),
the largest worker's (RUSAGE_CHILDREN), and the resident memory of the whole process tree (build +
math and PDF workers) summed from /proc every 20 ms: the target counts the larger of the tree's
fullest moment and the build process's own peak.

By default the builds write the three outputs of issue 6 (apkg, pdf, html); `--outputs all` adds
the full-answer booklet and the flashcards, which `studykit build` also writes now.

Usage:  python bench/bench.py [--sizes 100,1000] [--outputs apkg,pdf,html|all] [--jobs N]
                              [--repeat N] [--keep DIR] [--profile SIZE]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# content/ holds one folder per deck; the synthetic banks take the English deck's identity and credit.
DECK_YAML = ROOT / "content" / "dl-interview-51-65" / "deck.yaml"
# A synthetic bank's deck id: this plus its size (Anki's range, 2^30 to 2^62, far from the shipped decks' ids).
BANK_ID_BASE = 3_000_000_000_000
# 5,000 takes far longer than the ~15 minutes `make bench` may take on a 2-core machine; ask for it.
DEFAULT_SIZES = (100, 1000)
ISSUE_OUTPUTS = ("apkg", "pdf", "html")
TAGS = ["calculus", "optimisation", "detection", "cnn", "rnn", "probability", "linear-algebra", "training"]
# Every output, by the name the command line gives it (not imported from generator: this process stays small).
WRITERS = ("apkg", "pdf", "html", "full", "cards", "tsv")

# Targets (issue 6).
APKG_MAX_RATIO = 1.5
PDF_MAX_RATIO = 1.3
REBUILD_MIN_SPEEDUP = 5.0
PEAK_MAX_MB = 1024.0
PEAK_AT = 5000


# --------------------------------------------------------------------------------------------
# The synthetic bank
# --------------------------------------------------------------------------------------------

# The note's number is worked into each formula, so that no two notes share one and the
# in-process cache of mathrender.render cannot make a big bank look cheap.
INLINE_FORMULAS = [
    r"x_{{{n}}} = \alpha_{{k}} + \beta^{{2}}",
    r"\frac{{\partial L}}{{\partial w_{{{n}}}}}",
    r"\sigma(z) = \frac{{1}}{{1 + e^{{-{n}z}}}}",
    r"\lVert \mathbf{{v}}_{{{n}}} \rVert_2 \le {n}",
    r"p(y \mid x) \propto e^{{\theta_{{{n}}}^\top x}}",
    r"\sqrt{{{n} + \lambda^2}}",
]
DISPLAY_FORMULAS = [
    r"\frac{{\partial L}}{{\partial x_{{{n}}}}} = \sum_{{j=1}}^{{m}} \frac{{\partial L}}{{\partial y_j}}"
    r"\,\frac{{\partial y_j}}{{\partial x_{{{n}}}}}",
    r"\hat{{x}}_{{{n}}} = \frac{{x - \mu_{{\mathcal{{B}}}}}}{{\sqrt{{\sigma_{{\mathcal{{B}}}}^2 + \epsilon}}}},"
    r" \quad y = \gamma \hat{{x}} + {n}",
    r"\operatorname{{softmax}}(z)_i = \frac{{e^{{z_i / {n}}}}}{{\sum_{{k=1}}^{{K}} e^{{z_k / {n}}}}}",
    r"\mathrm{{IoU}}_{{{n}}} = \frac{{|A \cap B|}}{{|A \cup B|}} \ge 0.{n}",
]
FORMULA_MIX = "7 per note: 3 inline and 2 display formulas of its own, and $n$ and $m$ in a table (shared by all notes)"


def note_text(n: int, rng: random.Random, edited: bool = False) -> str:
    def inline(k: int, number: int = n) -> str:
        return "$" + INLINE_FORMULAS[(n + k) % len(INLINE_FORMULAS)].format(n=number) + "$"

    def display(k: int) -> str:
        return "$$\n" + DISPLAY_FORMULAS[(n + k) % len(DISPLAY_FORMULAS)].format(n=n) + "\n$$"

    tags = ", ".join(sorted(rng.sample(TAGS, 2)))
    first = inline(0, n + 1_000_000) if edited else inline(0)
    change = "this sentence was edited for the rebuild, and " if edited else ""
    return f"""---
id: bench{n:06d}
number: {n}
question: What does synthetic property {n} say, and when does it hold?
tags: [{tags}]
---

## Key points

- Property {n} relates the quantity {first} to its neighbours; {change}it holds for every batch.
- Its gradient is {inline(1)}, which backpropagation computes in one backward pass.
- Rule of thumb: check the shapes first, then the scale, then the learning rate.

## Full answer

### Statement

Property {n} is a synthetic statement written by the benchmark. It has *emphasis*, **strong text**,
`inline code` and a [link](https://example.org/{n}), and its main formula reads

{display(0)}

### Why it holds

Take {inline(2)}; then the second formula follows by the same argument:

{display(1)}

![Figure {n}: two boxes, input and output, joined by an arrow](figures/fig-{n:05d}.svg){{.figure}}

| symbol | meaning |
| --- | --- |
| $n$ | the note's number, here {n} |
| $m$ | the number of outputs |

```python
import math


def property_{n}(values: list[float]) -> float:
    # Numerically stable log-sum-exp of the values, scaled by {n}.
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values)) / {n}


assert property_{n}([0.0, 0.0]) > 0
```
"""


def figure_svg(n: int) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="80" viewBox="0 0 240 80">'
        '<rect x="4" y="20" width="80" height="40" fill="#e8eef8" stroke="#234"/>'
        '<rect x="156" y="20" width="80" height="40" fill="#f8eee8" stroke="#432"/>'
        '<path d="M88 40 H150 M142 34 L150 40 L142 46" fill="none" stroke="#000"/>'
        f'<text x="44" y="45" font-size="12" text-anchor="middle">in {n}</text>'
        f'<text x="196" y="45" font-size="12" text-anchor="middle">out {n}</text>'
        "</svg>\n"
    )


def write_bank(folder: Path, size: int) -> Path:
    content = folder / "content"
    (content / "figures").mkdir(parents=True)
    # The English deck's credit and language, but a slug and id of the bank's own: the PDF cache names its files by
    # slug and the note store by id, so a bank built into the user's cache would otherwise make builds of the
    # shipped deck forget its cached parts (and `make test` lay them out again).
    deck = DECK_YAML.read_text(encoding="utf-8")
    deck = re.sub(r"(?m)^slug: .*$", f"slug: bench-bank-{size}", deck, count=1)
    deck = re.sub(r"(?m)^id: .*$", f"id: {BANK_ID_BASE + size}", deck, count=1)
    (content / "deck.yaml").write_text(deck, encoding="utf-8")
    rng = random.Random(size)
    for n in range(1, size + 1):
        (content / f"{n:05d}-property.md").write_text(note_text(n, rng), encoding="utf-8")
        (content / "figures" / f"fig-{n:05d}.svg").write_text(figure_svg(n), encoding="utf-8")
    return content


def edit_one_note(content: Path, size: int) -> Path:
    n = size // 2 + 1
    rng = random.Random(size)
    for _ in range(1, n):  # replay the tag choices so that only the sentence and the formula change
        rng.sample(TAGS, 2)
    path = content / f"{n:05d}-property.md"
    path.write_text(note_text(n, rng, edited=True), encoding="utf-8")
    later = time.time() + 2  # a newer mtime even on a coarse file system
    os.utime(path, (later, later))
    return path


# --------------------------------------------------------------------------------------------
# Children: each runs in a fresh interpreter and prints one JSON line
# --------------------------------------------------------------------------------------------


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _worker_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants right now (from /proc), in MB."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0]) / 1024 if "VmRSS:" in status else 0
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return total


class TreeMemory:
    """Samples the build's process tree (the build and its math and PDF workers) every 20 ms.

    What was resident at the same moment, summed: the figure the memory target is about. ru_maxrss
    alone gives each process's own peak, which may not coincide with the others'.
    """

    def __init__(self) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(os.getpid()))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


class Clock:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = _cpu()

    def lap(self) -> dict[str, float]:
        return {"wall": time.perf_counter() - self.wall, "cpu": _cpu() - self.cpu, "peak_mb": _peak_mb()}


def _cache_entries(cache: Path) -> int:
    return sum(1 for _ in cache.glob("*.json")) if cache.is_dir() else 0


def child_build(content: Path, output: Path, outputs: list[str], jobs: int, profile: Path | None) -> dict[str, Any]:
    start = Clock()
    import dataclasses

    from generator import build as pipeline
    from generator import mathrender, reader, writers

    result: dict[str, Any] = {"imports": start.lap(), "stages": {}}
    stages: dict[str, dict[str, float]] = result["stages"]

    def timed(module: object, name: str, stage: str) -> None:
        setattr(module, name, clocked(getattr(module, name), stage))

    def clocked(original: Any, stage: str) -> Any:
        def wrapper(*args: object, **kwargs: object) -> object:
            clock = Clock()
            try:
                return original(*args, **kwargs)
            finally:
                lap = clock.lap()
                if stage in stages:  # called more than once: add up
                    stages[stage]["wall"] += lap["wall"]
                    stages[stage]["cpu"] += lap["cpu"]
                    stages[stage]["peak_mb"] = lap["peak_mb"]
                else:
                    stages[stage] = lap

        return wrapper

    timed(reader, "read_deck", "read_deck")
    timed(reader, "_check_math", "math")
    for kind in outputs:  # the build calls each writer through the registry
        writer = writers.WRITERS[kind]
        writers.WRITERS[kind] = dataclasses.replace(writer, write=clocked(writer.write, kind))

    kwargs: dict[str, Any] = {"outputs": tuple(outputs)}
    parameters = inspect.signature(pipeline.build).parameters
    if "jobs" in parameters:
        kwargs["jobs"] = jobs
    cache = mathrender.cache_dir()
    cached_before = _cache_entries(cache)
    memory = TreeMemory()
    clock = Clock()
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        report = profiler.runcall(pipeline.build, content, output, **kwargs)
        profiler.dump_stats(profile)
    else:
        report = pipeline.build(content, output, **kwargs)
    result["total"] = clock.lap()
    result["tree_peak_mb"] = memory.stop()
    result["process"] = start.lap()
    formulas = report.deck.formulas
    result["jobs"] = kwargs.get("jobs", 1)
    result["notes"] = len(report.deck.notes)
    result["formulas"] = len(formulas)
    result["unique_formulas"] = len({(f.tex, f.display) for f in formulas})
    result["drawn"] = _cache_entries(cache) - cached_before
    result["peak_mb"] = _peak_mb()
    result["worker_peak_mb"] = _worker_peak_mb()
    result["outputs_mb"] = {path.name.split(".", 1)[1]: path.stat().st_size / 1e6 for path in report.written}
    result["markdown_s"] = report.timings.get("markdown")  # the reader's own clock (wall) around Markdown
    return result


def bare_genanki(
    target: Path,
    deck_id: int,
    title: str,
    spec: dict[str, Any],
    notes: list[tuple[str, list[str], list[str]]],
    media: list[str],
) -> None:
    """The reference: a plain genanki script writing the same field strings, tags and media."""
    import genanki

    model = genanki.Model(
        spec["id"],
        spec["name"],
        fields=[{"name": name} for name in spec["fields"]],
        templates=[{"name": spec["card"], "qfmt": spec["qfmt"], "afmt": spec["afmt"]}],
        css=spec["css"],
    )
    deck = genanki.Deck(deck_id, title)
    for guid, fields, tags in notes:
        deck.add_note(genanki.Note(model=model, fields=fields, guid=guid, tags=tags))
    package = genanki.Package(deck)
    package.media_files = media
    package.write_to_file(str(target))


def child_targets(content: Path, scratch: Path, repeat: int, pdfua_reference: bool, jobs: int) -> dict[str, Any]:
    import dataclasses

    import genanki
    import weasyprint

    from generator import build, pdfengine, reader
    from generator.context import BuildOptions
    from generator.writers import anki
    from generator.writers import sheet as pdf

    deck = reader.read_deck(content).deck  # warm disk cache; fills mathrender's in-process cache as a build does
    context = build.context_for(deck, BuildOptions(content, output_dir=scratch, jobs=jobs))

    # What studykit writes, computed before any timing: the field strings of already-converted notes.
    notes = [(str(genanki.guid_for(n.id)), anki.fields_of(n, deck), list(n.tags)) for n in deck.notes]
    media = sorted({str(deck.content_dir / m) for n in deck.notes for m in n.media})
    spec = {
        "id": anki.NOTE_TYPE_ID,
        "name": anki.NOTE_TYPE_NAME,
        "fields": anki.FIELDS,
        "card": anki.CARD_NAME,
        "qfmt": context.template_text("anki/front.html"),
        "afmt": context.template_text("anki/back.html"),
        "css": anki.note_type(context).css,
    }
    document = pdf.html_of(deck, context)
    base_url = str(deck.content_dir.resolve()) + "/"
    fresh = iter(range(1_000_000))

    def sheet_without_cached_parts() -> None:
        # The writer keeps rendered parts of the sheet in the cache: point it at an empty folder each
        # run, so that every part is laid out (the formulas stay warm: they are in memory by now).
        empty = dataclasses.replace(context, cache_dir=scratch / f"empty-cache-{next(fresh)}")
        # As the build runs it: parts on `jobs` worker processes, whose CPU time the clock counts.
        pdf.write(deck, scratch / "studykit.pdf", empty)

    converted = anki.convert(deck, context, previous={})
    runs = {
        "apkg_studykit": lambda: anki.write(deck, scratch / "studykit.apkg", context),
        "apkg_pack": lambda: anki.pack(converted, deck, scratch / "packed.apkg", context),
        "apkg_bare": lambda: bare_genanki(scratch / "bare.apkg", deck.id, deck.title, spec, notes, media),
        "pdf_studykit": sheet_without_cached_parts,
        "pdf_bare": lambda: weasyprint.HTML(string=document, base_url=base_url).write_pdf(scratch / "bare.pdf"),
    }
    if pdfua_reference:
        runs["pdf_bare_pdfua"] = lambda: weasyprint.HTML(string=document, base_url=base_url).write_pdf(
            scratch / "bare-ua.pdf", **pdfengine.PDF_OPTIONS
        )

    # Warm-up: first-use costs (fonts, lazy imports inside the libraries) go to neither side.
    weasyprint.HTML(string="<p>warm-up</p>").write_pdf(scratch / "warm.pdf")
    bare_genanki(scratch / "warm.apkg", deck.id, deck.title, spec, notes[:1], [])

    best: dict[str, dict[str, float]] = {}
    order = list(runs)
    for round_ in range(repeat):
        for name in order if round_ % 2 == 0 else order[::-1]:  # neither side always runs second
            clock = Clock()
            runs[name]()
            lap = clock.lap()
            if name not in best or lap["cpu"] < best[name]["cpu"]:
                best[name] = lap
    return {"best": best, "repeat": repeat, "peak_mb": _peak_mb(), "html_mb": len(document) / 1e6, "jobs": jobs}


def run_child(mode: str, args: dict[str, Any], cache_dir: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["STUDYKIT_CACHE_DIR"] = str(cache_dir)
    env.pop("SOURCE_DATE_EPOCH", None)
    env["PYTHONWARNINGS"] = "ignore"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, json.dumps(args)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"bench: the {mode} child failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fmt_s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f}s"


def stage_rows(build: dict[str, Any], outputs: list[str]) -> dict[str, dict[str, float] | None]:
    stages: dict[str, dict[str, float]] = build["stages"]
    total = build["total"]
    rows: dict[str, dict[str, float] | None] = {}
    read, math = stages.get("read_deck"), stages.get("math")
    name = "read+validate (YAML, Markdown, checks)"
    rows[name] = None
    if read is not None:
        inside = math or {"wall": 0.0, "cpu": 0.0}
        rows[name] = {"wall": read["wall"] - inside["wall"], "cpu": read["cpu"] - inside["cpu"]}
    if build.get("markdown_s") is not None:  # one process, so its wall time is CPU time too
        rows["  of which Markdown to HTML"] = {"wall": build["markdown_s"], "cpu": build["markdown_s"]}
    rows[f"math rendering (jobs={build['jobs']})"] = math
    for kind in outputs:
        rows[f"writer {kind}"] = stages.get(kind)
    accounted = [stages[k] for k in ("read_deck", *outputs) if k in stages]
    rows["other (mtimes, staging, renames)"] = {
        "wall": total["wall"] - sum(s["wall"] for s in accounted),
        "cpu": total["cpu"] - sum(s["cpu"] for s in accounted),
    }
    rows["build() total"] = total
    rows["python start-up + imports (not in build)"] = build["imports"]
    return rows


def build_peak(build: dict[str, Any]) -> float:
    """The most the build's process tree held at once (sampled), and never less than the build process's own peak."""
    return max(build["peak_mb"], build["tree_peak_mb"])


def print_size(size: int, cold: dict[str, Any], warm: dict[str, Any], bank_mb: float, outputs: list[str]) -> None:
    print()
    print(
        f"== {size:,} notes: {cold['formulas']:,} formulas ({cold['unique_formulas']:,} distinct); "
        f"bank {bank_mb:.1f} MB =="
    )
    print(f"{'stage':42}{'cold wall':>11}{'cpu':>10}{'peak RSS':>10}  |{'rebuild wall':>13}{'cpu':>10}{'peak RSS':>10}")
    cold_rows, warm_rows = stage_rows(cold, outputs), stage_rows(warm, outputs)

    def cells(row: dict[str, float] | None, first: int) -> str:
        if row is None:
            return f"{'n/a':>{first}}{'n/a':>10}{'':>10}"
        peak = f"{row['peak_mb']:.0f} MB" if "peak_mb" in row else ""
        return f"{fmt_s(row['wall']):>{first}}{fmt_s(row['cpu']):>10}{peak:>10}"

    for name, row in cold_rows.items():
        print(f"{name:42}{cells(row, 11)}  |{cells(warm_rows.get(name), 13)}")
    for label, build in (("cold", cold), ("rebuild", warm)):
        workers = (
            f", largest worker {build['worker_peak_mb']:.0f} MB (up to {build['jobs']} at once)"
            if build["worker_peak_mb"]
            else ", no worker processes"
        )
        print(
            f"  peak memory {label:8}: build process {build['peak_mb']:.0f} MB{workers}; "
            f"process tree at its fullest {build['tree_peak_mb']:.0f} MB; counted for the target "
            f"{build_peak(build):.0f} MB"
        )
    for label, build in (("cold", cold), ("rebuild", warm)):
        math = build["stages"].get("math")
        rate = "n/a"
        if math and math["wall"] > 0:
            rate = (
                f"{build['formulas'] / math['wall']:,.0f} formulas/s wall "
                f"({build['formulas'] / max(math['cpu'], 1e-9):,.0f}/s per CPU-second)"
            )
        print(
            f"  math {label:8}: {rate}; {build['drawn']:,} drawn by ziamath, "
            f"{build['unique_formulas'] - build['drawn']:,} read from the disk cache"
        )
    print("  outputs: " + ", ".join(f"{kind} {mb:.1f} MB" for kind, mb in cold["outputs_mb"].items()))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ratio_line(size: int, what: str, ours: dict[str, float], theirs: dict[str, float], limit: float) -> bool:
    """Print one at-most-`limit` ratio target (CPU time, wall clock in brackets); whether it holds."""
    ratio = ours["cpu"] / theirs["cpu"]
    ok = ratio <= limit
    print(
        f"{size:>6,} notes  {what}: {ours['cpu']:.3f}s vs {theirs['cpu']:.3f}s = {ratio:.2f}x (target <= {limit}x) "
        f"[wall {ours['wall'] / theirs['wall']:.2f}x]  {verdict(ok)}"
    )
    return ok


def print_targets(results: list[dict[str, Any]]) -> int:
    print()
    print("== Targets (ratios measured in this run; PASS/FAIL on CPU time, wall-clock ratio in brackets) ==")
    failures = 0
    for entry in results:
        size, best = entry["size"], entry["targets"]["best"]
        a, b, e = best["apkg_pack"], best["apkg_bare"], best["apkg_studykit"]
        what = "apkg from converted notes (anki.pack) vs bare genanki, same fields"
        failures += not ratio_line(size, what, a, b, APKG_MAX_RATIO)
        print(
            f"{'':14}(not a target: the whole writer, converting the notes' HTML to Anki fields first, "
            f"{e['cpu']:.3f}s = {e['cpu'] / b['cpu']:.2f}x the bare script)"
        )
        p, q = best["pdf_studykit"], best["pdf_bare"]
        what = f"cheat sheet writer (-j {entry['targets']['jobs']}, worker CPU counted), warm math, vs WeasyPrint alone"
        failures += not ratio_line(size, what, p, q, PDF_MAX_RATIO)
        if "pdf_bare_pdfua" in best:
            u = best["pdf_bare_pdfua"]
            print(
                f"{'':14}(reference: WeasyPrint alone with studykit's PDF/UA options {u['cpu']:.2f}s; "
                f"the writer is {p['cpu'] / u['cpu']:.2f}x that)"
            )
        c, w = entry["cold"]["total"], entry["warm"]["total"]
        speedup = c["cpu"] / w["cpu"]
        failures += (ok := speedup >= REBUILD_MIN_SPEEDUP) is False
        print(
            f"{size:>6,} notes  rebuild after editing one note vs cold build: {w['cpu']:.2f}s vs {c['cpu']:.2f}s = "
            f"{speedup:.2f}x faster (target >= {REBUILD_MIN_SPEEDUP:.0f}x) [wall {c['wall'] / w['wall']:.2f}x]  "
            f"{verdict(ok)}"
        )
    big = [e for e in results if e["size"] == PEAK_AT]
    if big:
        peak = max(build_peak(big[0]["cold"]), build_peak(big[0]["warm"]))
        failures += (ok := peak < PEAK_MAX_MB) is False
        print(
            f"{PEAK_AT:>6,} notes  peak memory of a build (cold or rebuild, process tree): {peak:,.0f} MB "
            f"(target < {PEAK_MAX_MB:,.0f} MB)  {verdict(ok)}"
        )
    else:
        largest = max(results, key=lambda e: e["size"])
        peak = max(build_peak(largest["cold"]), build_peak(largest["warm"]))
        print(
            f"{PEAK_AT:>6,} notes  peak memory: NOT MEASURED ({PEAK_AT:,} not in --sizes; "
            f"at {largest['size']:,} notes it was {peak:,.0f} MB)"
        )
    return failures


def profile(size: int, outputs: list[str], jobs: int, keep: Path | None) -> None:
    import pstats

    root = keep if keep else Path(tempfile.mkdtemp(prefix="studykit-profile-"))
    try:
        folder = root / f"profile-{size}"
        if folder.exists():
            shutil.rmtree(folder)
        content = write_bank(folder, size)
        cache, output = folder / "math-cache", folder / "build"
        for label in ("cold", "rebuild"):
            if label == "rebuild":
                edit_one_note(content, size)
            stats_file = folder / f"{label}.pstats"
            args = {
                "content": str(content),
                "output": str(output),
                "outputs": outputs,
                "jobs": jobs,
                "profile": str(stats_file),
            }
            result = run_child("build", args, cache)
            print(
                f"\n##### {label} build of {size:,} notes, jobs={jobs}: {result['total']['wall']:.1f}s wall, "
                f"{result['total']['cpu']:.1f}s CPU (under cProfile)"
            )
            for key in ("tottime", "cumulative"):
                print(f"\n===== {label}: top 35 by {key} =====")
                pstats.Stats(str(stats_file)).strip_dirs().sort_stats(key).print_stats(35)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="comma-separated note counts (default %(default)s; 5000 measures the memory target)",
    )
    parser.add_argument(
        "--outputs",
        default=",".join(ISSUE_OUTPUTS),
        help="outputs each build writes: comma-separated, or all (default %(default)s)",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="math processes (default: CPUs)")
    parser.add_argument(
        "--repeat", type=int, default=0, help="target measurements: best of N (default 3 below 1,000 notes, else 1)"
    )
    parser.add_argument("--keep", type=Path, help="write the banks and outputs here and keep them")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="SIZE",
        help="instead: cProfile a cold build and a rebuild of SIZE notes (jobs 1 unless --jobs)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args()

    if options.child:
        mode, raw = options.child
        args = json.loads(raw)
        if mode == "build":
            stats = Path(args["profile"]) if args.get("profile") else None
            out = child_build(Path(args["content"]), Path(args["output"]), args["outputs"], args["jobs"], stats)
        else:
            out = child_targets(
                Path(args["content"]), Path(args["scratch"]), args["repeat"], args["pdfua"], args["jobs"]
            )
        print(json.dumps(out))
        return

    if options.outputs == "all":  # not imported from generator: this process stays small (see ru_maxrss)
        outputs = list(WRITERS)
    else:
        outputs = [kind.strip() for kind in options.outputs.split(",") if kind.strip()]
    if options.profile:
        jobs = options.jobs if "--jobs" in sys.argv else 1
        profile(options.profile, outputs, jobs, options.keep)
        return

    sizes = [int(s.replace("_", "")) for s in options.sizes.split(",") if s.strip()]
    began = time.perf_counter()
    root = options.keep if options.keep else Path(tempfile.mkdtemp(prefix="studykit-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"studykit bench: sizes {', '.join(f'{s:,}' for s in sizes)}; outputs {', '.join(outputs)}; "
        f"jobs {options.jobs}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
        f"Python {sys.version.split()[0]}"
    )
    print(
        "Every build runs in a fresh subprocess. Times: wall clock and CPU (user+sys, math workers included).\n"
        "Peak memory: ru_maxrss of the child (whole-process peak RSS, not tracemalloc), and its process tree\n"
        "(build + workers) sampled from /proc every 20 ms.\n"
        f"Formulas: {FORMULA_MIX}.\n"
        "Cold: empty STUDYKIT_CACHE_DIR (fresh per size), empty output folder. Rebuild: one note edited (one new\n"
        "formula), same cache and output folder. Peak RSS in a stage row is the process's peak so far."
    )
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            folder = root / f"bank-{size}"
            if folder.exists():
                shutil.rmtree(folder)
            content = write_bank(folder, size)
            bank_mb = sum(p.stat().st_size for p in content.rglob("*") if p.is_file()) / 1e6
            cache, output = folder / "math-cache", folder / "build"
            args = {"content": str(content), "output": str(output), "outputs": outputs, "jobs": options.jobs}
            cold = run_child("build", args, cache)
            print(f"  ... {size:,}: cold build {cold['total']['wall']:.0f}s", file=sys.stderr, flush=True)
            edit_one_note(content, size)
            warm = run_child("build", args, cache)
            print(f"  ... {size:,}: rebuild {warm['total']['wall']:.0f}s", file=sys.stderr, flush=True)
            scratch = folder / "targets"
            scratch.mkdir()
            repeat = options.repeat or (3 if size < 1000 else 1)
            targets = run_child(
                "targets",
                {
                    "content": str(content),
                    "scratch": str(scratch),
                    "repeat": repeat,
                    "pdfua": size < 1000,
                    "jobs": args["jobs"],
                },
                cache,
            )
            print_size(size, cold, warm, bank_mb, outputs)
            print(f"  (bench time so far {time.perf_counter() - began:,.0f}s)", flush=True)
            results.append({"size": size, "cold": cold, "warm": warm, "targets": targets})
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    failures = print_targets(results)
    print(f"\nbench took {time.perf_counter() - began:,.0f}s; {failures} target(s) failed.")


if __name__ == "__main__":
    main()
