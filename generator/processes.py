"""Worker processes for CPU work (drawing math, laying out PDFs) that end with the work that started them.

A build starts them, uses them and ends them: no worker, and no resource-tracker process of
multiprocessing's, is left running when the build returns (`studykit serve` builds again and again in one
process; a library caller's process goes on after the build).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from multiprocessing import resource_tracker


@contextlib.contextmanager
def worker_pool(jobs: int) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """Spawned worker processes, every one of them ended and reaped when the block is left (even by an error or
    an interrupt), and multiprocessing's resource tracker too if this pool started it: nothing outlives a build."""
    tracker_before = _tracker_pid()
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # joins every worker; the pool lets go of its queues
        multiprocessing.active_children()  # reaps what has exited
        if tracker_before is None:
            gc.collect()  # the queues' semaphores unregister from the tracker when collected: before it stops
            stop_resource_tracker()


def _tracker_pid() -> int | None:
    return getattr(resource_tracker._resource_tracker, "_pid", None)


def stop_resource_tracker() -> None:
    """End the resource tracker process a spawned pool started (it would otherwise live as long as this process)."""
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None and _tracker_pid() is not None:
        with contextlib.suppress(Exception):
            stop()


# prctl(2): the signal a process gets when the thread that started it ends (Linux).
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Worker start-up: end this worker when the build that started it ends, however it ends.

    `worker_pool` ends its workers when the build leaves the block, even by an error or Ctrl-C; a build killed
    outright (SIGTERM, SIGKILL, an out-of-memory kill, a closed terminal) never gets there, and its workers went on:
    seen here, two of a killed 5,000-note build's still running half an hour later, 290 MB each. On Linux the
    kernel sends them SIGTERM when the build's process goes; elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the build ended before this worker asked: nothing would signal it
        os._exit(1)
