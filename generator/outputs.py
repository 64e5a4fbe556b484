"""Outputs an earlier build wrote, kept track of so that a build with nothing changed writes nothing.

For every output file the build records, under the cache folder, the fingerprint of everything that went into it
(the deck's sources, studykit's code and libraries, the templates, the build's options and timestamp) and the
hash of the file it wrote. A later build whose fingerprint for that output is the same, and which finds the file
still holding those bytes, leaves the file alone and skips the writer: no Markdown, no HTML, no layout. An
output whose file was changed or removed is written again. The writer's own report (warnings, notices) is kept
beside the record and given again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator import stamps
from generator.context import BuildContext, cache_root

if TYPE_CHECKING:
    from generator.writers import Writer, WriteResult


@dataclass(frozen=True)
class Record:
    fingerprint: str
    sha256: str
    result: WriteResult


def fingerprint(deck_fingerprint: str, context: BuildContext, writer: Writer, target: Path) -> str:
    """Everything `writer` makes `target` from, as one hash; "" (never matched) when the deck's is not known."""
    if not deck_fingerprint:
        return ""
    return stamps.digest(
        [
            deck_fingerprint,
            writer.name,
            writer.suffix,
            _function(writer.write),
            str(target.resolve()),
            context.timestamp,
            context.fixed_epoch,
            context.paper,
            context.language,
            context.fonts,
            context.deck_templates,
            *stamps.tree(context.templates_dir),
        ]
    )


def _function(function: object) -> str:
    """A writer's function by name and compiled code: one replaced (a test's, a plugin's) is another output."""
    code = getattr(function, "__code__", None)
    if code is None:
        return repr(function)  # a partial or a callable object: its repr names its address, so it never matches
    name = f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"
    return f"{name} {stamps.digest(_code_parts(code))}"


def _code_parts(code: types.CodeType) -> list[object]:
    """A function's bytecode, names and constants, the same in every process (marshal's bytes are not: they
    depend on reference counts)."""
    parts: list[object] = [code.co_code, code.co_names, code.co_varnames]
    for constant in code.co_consts:
        parts += _code_parts(constant) if isinstance(constant, types.CodeType) else [constant]
    return parts


def _record_path(target: Path) -> Path:
    return cache_root() / "outputs" / f"{stamps.digest([str(target.resolve())])[:32]}.pickle"


def _file_hash(path: Path) -> str | None:
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return None


def unchanged(target: Path, fingerprint: str) -> WriteResult | None:
    """The report of the build that wrote `target` from the same inputs, if the file still holds what it wrote."""
    if not fingerprint:
        return None
    try:
        record = pickle.loads(_record_path(target).read_bytes())
    except Exception:  # missing, damaged, or from another studykit: write the output
        return None
    if not isinstance(record, Record) or record.fingerprint != fingerprint:
        return None
    if _file_hash(target) != record.sha256:
        return None
    return record.result


def record(target: Path, fingerprint: str, result: WriteResult) -> None:
    """Remember that `target` as it is now was written from `fingerprint` (none: forget it)."""
    path = _record_path(target)
    digest = _file_hash(target)
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        if not fingerprint or digest is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(pickle.dumps(Record(fingerprint, digest, result), protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(temporary, path)
