"""What a build's results depend on besides the notes, condensed into keys for the caches that outlive a build.

A note read in an earlier build (`reader`) and an output written by one (`outputs`) are reused only while
their key is the same: the key names studykit's own code (every file of the package, by size and time, so that an
edited checkout is not mistaken for the one that made the cache), every installed distribution's version, and
the math engine.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Entry:
    """One name under a listed folder, as `Path.rglob("*")` gives it, with what the build asks of it."""

    path: Path
    relative: tuple[str, ...]  # its path's parts below the listed folder
    info: os.stat_result | None  # its stat, links followed; None when that fails (a broken link)
    link: bool  # it is a symbolic link itself

    def is_file(self) -> bool:
        """As `Path.is_file`: a regular file, links followed."""
        return self.info is not None and stat.S_ISREG(self.info.st_mode)

    def is_dir(self) -> bool:
        """As `Path.is_dir`: a folder, links followed."""
        return self.info is not None and stat.S_ISDIR(self.info.st_mode)


def listing(folder: Path) -> list[Entry]:
    """Everything under `folder`, in the order of `sorted(folder.rglob("*"))`, each stat'ed once.

    A build asked the content folder for its notes, its stamp, its unused images and its newest file, each
    walking it with rglob and stat'ing each file again (a 1,000-note bank is 2,000 files). One listing serves
    them all. As rglob does, it lists what a linked folder is but does not go into it, and passes over a folder
    it may not read; os.scandir tells a link apart without another system call.
    """
    entries: list[Entry] = []

    def walk(directory: Path, relative: tuple[str, ...]) -> None:
        try:
            with os.scandir(directory) as found:
                children = list(found)
        except PermissionError:
            return
        except (FileNotFoundError, NotADirectoryError):
            return  # removed while being listed: rglob yields nothing from it either
        for child in children:
            path = directory / child.name
            try:
                info: os.stat_result | None = child.stat()
            except OSError:
                info = None
            link = child.is_symlink()
            entries.append(Entry(path, (*relative, child.name), info, link))
            try:
                descend = child.is_dir(follow_symlinks=False)
            except OSError:
                descend = False
            if descend:
                walk(path, (*relative, child.name))

    walk(folder, ())
    entries.sort(key=lambda entry: entry.path)
    return entries


def tree(
    folder: Path,
    by_name_only: Callable[[Path], bool] | None = None,
    listed: list[Entry] | None = None,
    relative: bool = False,
) -> list[tuple[str, int, int]]:
    """Every file under `folder` by path, time and size (a file edited, added or removed changes it).

    Files for which `by_name_only` holds count by path alone (their contents are keyed elsewhere). Folders do not
    count: an editor that saves by writing a new file and renaming it changes its folder's time, not its files'.
    `listed`: the folder's `listing`, when the build has it already.
    `relative`: each path as its place under `folder`, so that a copy of the folder (times kept) has the same tree.
    """
    entries = []
    for entry in listing(folder) if listed is None else listed:
        if entry.info is None or entry.is_dir():
            continue
        name = "/".join(entry.relative) if relative else str(entry.path)
        if by_name_only is not None and by_name_only(entry.path):
            entries.append((name, 0, 0))
        else:
            entries.append((name, entry.info.st_mtime_ns, entry.info.st_size))
    return entries
