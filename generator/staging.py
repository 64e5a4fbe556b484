"""A new content folder written whole or not at all: what `studykit import` does, from an Anki package or Markdown.

Everything goes into a staging folder beside the target first, then is moved in; a failure on the way leaves the
target as it was (absent or empty).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from generator.errors import StudykitError

Written = TypeVar("Written")


def refuse_unless_empty(into: Path, error: type[StudykitError]) -> None:
    """`error` unless `into` is absent or an empty folder."""
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise error(
            f"{into}: already holds files; studykit import writes only into a new or empty folder\n"
            "    hint: choose another folder with --into"
        )


def write_whole(into: Path, write: Callable[[Path], Written], error: type[StudykitError]) -> Written:
    """`write(staging)` into a staging folder, then its entries moved into `into`; an OSError on the way is `error`
    naming the file, and the staging folder goes in any case."""
    scratch = Path(tempfile.mkdtemp(prefix=".studykit-import-", dir=into.parent if into.parent.exists() else None))
    staging = scratch / "content"  # made by mkdir, so it has the usual permissions, not mkdtemp's owner-only ones
    try:
        staging.mkdir()
        written = write(staging)
        if into.exists():
            for entry in staging.iterdir():
                os.replace(entry, into / entry.name)
        else:
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging), into)
    except OSError as failure:
        raise error(f"{failure.filename or into}: cannot write the imported notes: {failure.strerror}") from failure
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return written
