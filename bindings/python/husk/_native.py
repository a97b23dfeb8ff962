"""The C ABI of libhusk.so (husk.h), loaded with ctypes."""

from __future__ import annotations

import ctypes
import os
from typing import Optional

__all__ = ["lib", "HuskError", "SpecError", "SetupError", "ForkedError", "check", "take_string"]

HUSK_OK = 0
HUSK_RUNNING = 1
HUSK_E_INTERNAL = -1
HUSK_E_SPEC = -2
HUSK_E_SETUP = -3
HUSK_E_FORKED = -4
HUSK_E_HANDLE = -5
HUSK_E_ARGUMENT = -6


class HuskError(Exception):
    """Something Husk could not do; the message says what and why."""


class SpecError(HuskError, ValueError):
    """The sandbox asked for cannot run as given: every problem, one per line."""


class SetupError(HuskError, OSError):
    """The sandbox could not be set up, or its command could not be run."""


class ForkedError(HuskError, RuntimeError):
    """Husk was called from a forked child of the process that first used it.

    The .NET runtime inside libhusk cannot survive ``fork()``: call Husk from the parent, or use
    multiprocessing's "spawn" or "forkserver" start method.
    """


class HuskSyscall(ctypes.Structure):
    """husk.h's husk_syscall."""

    _fields_ = [
        ("size", ctypes.c_int32),
        ("event", ctypes.c_int32),
        ("pid", ctypes.c_int32),
        ("number", ctypes.c_int32),
        ("name", ctypes.c_char_p),
        ("args", ctypes.c_uint64 * 6),
        ("result", ctypes.c_int64),
        ("code", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
    ]


POLICY = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(HuskSyscall))


def _library_path() -> str:
    override = os.environ.get("HUSK_LIBRARY")
    if override:
        return override
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "libhusk.so")


def _load() -> ctypes.CDLL:
    path = _library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"husk: cannot load {path}: {e} (set HUSK_LIBRARY to libhusk.so)") from e
    c_char_pp = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "husk_version": ([], ctypes.c_char_p),
        "husk_abi": ([], ctypes.c_int32),
        "husk_last_error": ([], ctypes.c_char_p),
        "husk_validate": ([ctypes.c_char_p], ctypes.c_int32),
        "husk_run": ([ctypes.c_char_p, POLICY, ctypes.c_void_p, c_char_pp], ctypes.c_int32),
        "husk_start": ([ctypes.c_char_p, POLICY, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)], ctypes.c_int32),
        "husk_pid": ([ctypes.c_int64], ctypes.c_int32),
        "husk_stdio": ([ctypes.c_int64, ctypes.c_int32], ctypes.c_int32),
        "husk_wait": ([ctypes.c_int64, ctypes.c_int32, c_char_pp], ctypes.c_int32),
        "husk_kill": ([ctypes.c_int64, ctypes.c_int32], ctypes.c_int32),
        "husk_free": ([ctypes.c_int64], ctypes.c_int32),
        "husk_pool_new": ([ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)], ctypes.c_int32),
        "husk_pool_run": ([ctypes.c_int64, ctypes.c_char_p, POLICY, ctypes.c_void_p, c_char_pp], ctypes.c_int32),
        "husk_pool_start": ([ctypes.c_int64, ctypes.c_char_p, POLICY, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)], ctypes.c_int32),
        "husk_pool_free": ([ctypes.c_int64], ctypes.c_int32),
        "husk_string_free": ([ctypes.c_void_p], None),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


lib = _load()

# The runtime inside the library cannot survive fork(): remember who loaded it, and refuse early
# in a child rather than let the library refuse (or, before it first ran, start a second runtime
# in a copy whose parent may hold its locks).
_loaded_in = os.getpid()


def _refuse_in_child() -> None:
    global _forked
    _forked = True


_forked = False
os.register_at_fork(after_in_child=_refuse_in_child)


def last_error() -> str:
    text = lib.husk_last_error()
    return text.decode("utf-8", "replace") if text else ""


def guard() -> None:
    """Raise ForkedError in a forked child of the process that loaded Husk."""
    if _forked or os.getpid() != _loaded_in:
        raise ForkedError(
            "husk was called from a forked child of the process that loaded it: call it from the parent, "
            "or use multiprocessing's 'spawn' or 'forkserver' start method"
        )


def check(rc: int) -> int:
    """Raise the exception for a failed call's code; return the code otherwise."""
    if rc >= 0:
        return rc
    message = last_error()
    if rc == HUSK_E_SPEC:
        raise SpecError(message)
    if rc == HUSK_E_SETUP:
        raise SetupError(message)
    if rc == HUSK_E_FORKED:
        raise ForkedError(message)
    raise HuskError(message or f"husk: error {rc}")


def take_string(pointer: ctypes.c_void_p) -> Optional[str]:
    """The text of a string the library returned, freed."""
    if not pointer.value:
        return None
    try:
        return ctypes.string_at(pointer.value).decode("utf-8")
    finally:
        lib.husk_string_free(pointer)
