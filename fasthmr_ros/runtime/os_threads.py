"""The calling thread's Python name given to the operating system too, so that `top -H`, py-spy and /proc show
which of the node's threads (fasthmr-stage1, fasthmr-stage2, fasthmr-visual, ...) uses the CPU: Python 3.11 leaves
every thread it starts named after the interpreter."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

_PR_SET_NAME = 15  # prctl option (linux/prctl.h)
_MAX_NAME = 15  # the kernel keeps 16 bytes, the last a NUL


def name_os_thread() -> None:
    """Name the calling thread at the OS level after its threading name (Linux; elsewhere nothing happens)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_NAME, threading.current_thread().name.encode()[:_MAX_NAME], 0, 0, 0)
    except (OSError, AttributeError):  # no libc or no prctl: names are a convenience, never a failure
        pass
