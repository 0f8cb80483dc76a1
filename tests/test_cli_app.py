"""The `copydesk` process: glibc's malloc keeps at most two arenas, however many threads
allocate (each arena keeps its own freed memory, so more arenas meant a higher peak RSS)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_ARENAS = """
import ctypes, sys, threading
from copydesk.graphs.cli.app import fewer_malloc_arenas

if sys.argv[1] == "fewer":
    fewer_malloc_arenas()
start = threading.Barrier(8)

def allocate():
    start.wait()  # all at once: each thread asks for an arena while the others hold theirs
    blocks = [bytearray(64_000) for _ in range(200)]
    start.wait()
    del blocks

threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.open_memstream.restype = ctypes.c_void_p
buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
print(buffer.value.decode().count("<heap nr="))
"""


def _arenas(mode: str, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", _ARENAS, mode],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_threads_share_at_most_two_malloc_arenas() -> None:
    assert _arenas("default") > 2  # without it, the threads took arenas of their own
    assert _arenas("fewer") <= 2
    assert _arenas("fewer", MALLOC_ARENA_MAX="4") > 2  # the environment's word wins
