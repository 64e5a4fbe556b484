"""The booklet's title page and contents laid out alone, whole or in pieces: the peak memory and CPU it costs.

A full cold build of a 5,000-note bank takes ~25 minutes of CPU here; the title page and contents are laid out
after every question part, from the page numbers those give. This lays out only them, from a deck read as a build
reads it and page numbers made up as a 5,000-note booklet has them (about one page a question after the front),
each way in a fresh process:

- `whole`: `front_html` laid out as one WeasyPrint document and saved, as the booklet did before its pieces;
- `pieces N`: `booklet._Front` with `_FRONT_ENTRIES = N`, from an empty cache (every piece laid out and saved).

Memory: the resident set once the deck is read and WeasyPrint loaded (`before MB`), how far laying the front out
takes it above that (`+MB`: the high-water mark VmHWM, reset there through /proc/self/clear_refs, Linux), and the
process's peak (`peak MB`, reading the deck included).

Usage:  python bench/front.py CONTENT [--entries 150,300,600] [--paper a4]
        CONTENT: a deck folder, e.g. one `bench/bench.py --keep DIR` wrote, or
        python -c "import sys; sys.path.insert(0,'bench'); from bench import write_bank; from pathlib import Path;
                   write_bank(Path('/tmp/bank'), 5000)"   (then /tmp/bank/content)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _status_kb(field: str) -> int:
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    return int(next(line for line in status.splitlines() if line.startswith(f"{field}:")).split()[1])


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def measure(content: Path, mode: str, entries: int, paper: str) -> dict[str, float]:
    """Lay the front out one way in this process; what it cost."""
    sys.path.insert(0, str(ROOT))
    from generator import build as pipeline
    from generator import pdfengine, rendercache
    from generator.context import BuildOptions
    from generator.writers import booklet

    deck = pipeline.check(content).deck
    context = pipeline.context_for(deck, BuildOptions(content, paper=paper, jobs=1))
    front_pages = booklet._front_pages_guess(deck, paper)
    pages = {note.number: front_pages + 1 + round(index * 1.03) for index, note in enumerate(deck.notes)}
    with tempfile.TemporaryDirectory(prefix="studykit-front-bench-") as scratch:
        cache = rendercache.DocumentCache(Path(scratch), "bench-", pdfengine.PDF_OPTIONS)
        memory = booklet._Memory(Path(scratch) / "parts.json")
        read_peak_kb = _status_kb("VmHWM")
        Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")  # the high-water mark starts again here
        resident_kb = _status_kb("VmRSS")
        started, cpu = time.perf_counter(), _cpu()
        if mode == "whole":
            document = booklet.front_html(deck, pages, context)
            laid_out = pdfengine.layout(document, deck.content_dir, context.pdf_roots(deck.content_dir), content)
            laid = len(laid_out.pages)
            pdfengine.save_atomically(laid_out, cache.path_for(document, ""))
            del laid_out
            pieces = 1
        else:
            booklet._FRONT_ENTRIES = entries
            front = booklet._Front(deck, content, context, cache, memory, pages)
            found = front.pieces()
            front.finish(right=True)
            laid, pieces = sum(piece.pages for piece in found), len(found)
        return {
            "pages": laid,
            "pieces": pieces,
            "seconds": time.perf_counter() - started,
            "cpu": _cpu() - cpu,
            "added_mb": (_status_kb("VmHWM") - resident_kb) / 1024,
            "resident_mb": resident_kb / 1024,
            "peak_mb": max(read_peak_kb, _status_kb("VmHWM")) / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("content", type=Path)
    parser.add_argument("--entries", default="150,300,600", help="piece sizes to try, comma-separated")
    parser.add_argument("--paper", default="a4")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "ENTRIES"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        mode, entries = arguments.child
        print(json.dumps(measure(arguments.content.resolve(), mode, int(entries), arguments.paper)))
        return
    runs = [("whole", 0)] + [("pieces", int(size)) for size in arguments.entries.split(",")]
    heading = ("layout", "pages", "pieces", "wall s", "CPU s", "before MB", "+MB", "peak MB")
    print(" ".join(f"{name:>{width}}" for name, width in zip(heading, (12, 6, 6, 7, 7, 9, 6, 8), strict=True)))
    for mode, entries in runs:
        command = [sys.executable, __file__, str(arguments.content), "--paper", arguments.paper]
        output = subprocess.run([*command, "--child", mode, str(entries)], capture_output=True, text=True, check=True)
        result = json.loads(output.stdout.strip().splitlines()[-1])
        label = "whole" if mode == "whole" else f"pieces {entries}"
        print(
            f"{label:>12} {result['pages']:>6} {result['pieces']:>6} {result['seconds']:>7.1f} {result['cpu']:>7.1f}"
            f" {result['resident_mb']:>9.0f} {result['added_mb']:>+6.0f} {result['peak_mb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
