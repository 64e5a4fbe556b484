"""What a build's results depend on besides the notes, condensed into keys for the caches that outlive a build.

A note read in an earlier build (`reader`) and an output written by one (`outputs`) are reused only while
their key is the same: the key names studykit's own code (every file of the package, by size and time, so that an
edited checkout is not mistaken for the one that made the cache), every installed distribution's version, and
the math engine.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import generator

PACKAGE = Path(generator.__file__).resolve().parent


def digest(parts: Iterable[object]) -> str:
    """A short, stable hash of `parts` (each written as its repr, one per line)."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(repr(part).encode("utf-8", "surrogatepass"))
        hashed.update(b"\n")
    return hashed.hexdigest()


def environment() -> str:
    """studykit's code, the installed distributions and the math engine, as one hash."""
    from generator import mathrender

    return _environment(os.environ.get("STUDYKIT_MATH_ENGINE", mathrender.DEFAULT_ENGINE), tuple(sys.path))


@cache
def _environment(engine: str, search_path: tuple[str, ...]) -> str:
    return digest([generator.__version__, engine, sys.version, *_code(), *_distributions(search_path)])


def _code() -> list[tuple[str, int, int]]:
    entries = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in {".py", ".js"}:
            info = path.stat()
            entries.append((path.relative_to(PACKAGE).as_posix(), info.st_mtime_ns, info.st_size))
    return entries


def _distributions(search_path: tuple[str, ...]) -> list[str]:
    """Every installed distribution by name and version (its .dist-info folder's name): one listing per folder."""
    names = []
    for folder in search_path:
        try:
            names += sorted(name for name in os.listdir(folder or ".") if name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
    return names


def tree(
    folder: Path, by_name_only: Callable[[Path], bool] | None = None, relative: bool = False
) -> list[tuple[str, int, int]]:
    """Every file under `folder` by path, time and size (a file edited, added or removed changes it).

    Files for which `by_name_only` holds count by path alone (their contents are keyed elsewhere). Folders do not
    count: an editor that saves by writing a new file and renaming it changes its folder's time, not its files'.
    `relative`: each path as its place under `folder`, so that a copy of the folder (times kept) has the same tree.
    """
    entries = []
    for path in sorted(folder.rglob("*")):
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_dir():
            continue
        name = path.relative_to(folder).as_posix() if relative else str(path)
        if by_name_only is not None and by_name_only(path):
            entries.append((name, 0, 0))
        else:
            entries.append((name, info.st_mtime_ns, info.st_size))
    return entries
