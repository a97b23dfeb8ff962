"""The functions of pyminisandbox's two modules, over one of Husk's two C libraries.

Each module makes its own :class:`MiniSandbox` and exports its methods as module functions, so a
program written for pyminisandbox (``mn_sbx.mini_sandbox_start()``) runs unchanged. Calls return
what the C functions return: 0, or a negative value with the reason in
``mini_sandbox_get_last_error_code()`` and ``mini_sandbox_get_last_error_msg()``; a library that
could not be loaded gives ``LIB_NOT_LOADED``, a function the build lacks ``FEATURE_NOT_AVAILABLE``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from typing import Callable, Dict, Optional, Union

__all__ = ["MiniSandboxErrors", "MiniSandbox", "is_platform_supported"]


class MiniSandboxErrors:
    """mini-sandbox's error codes, and the binding's own (LIB_NOT_LOADED and after)."""

    NOERROR = 0
    INVALID_FUNCTIONING_MODE = -1
    SANDBOX_ROOT_NOT_UNIQUE = -2
    INVALID_FOLDER = -3
    OVERLAY_OPTION_NOT_SET = -4
    PATH_DOES_NOT_EXIST = -5
    NOT_AN_ABSOLUTE_PATH = -6
    LOG_FILE_NOT_UNIQUE = -7
    ILLEGAL_CONFIGURATION = -8
    FILE_READ_AND_WRITE = -9
    ILLEGAL_NETWORK_CONFIGURATION = -10
    TMP_NOT_MOUNTED = -11
    GENERAL_OS_ERROR = -100
    NESTED_SANDBOX = -201
    SANDBOX_ALREADY_STARTED = -202
    UNKNOWN = -1000
    LIB_NOT_LOADED = -1001
    FEATURE_NOT_AVAILABLE = -1002
    INVALID_ARG = -1003


def is_platform_supported() -> bool:
    """Whether the libraries can run here: Linux on a machine Husk is built for."""
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "aarch64")


def _library_path(name: str) -> str:
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    if os.path.exists(here):
        return here
    # A checkout's bindings/python over artifacts/lib (tests/python's fallback): beside libhusk.so.
    husk = os.environ.get("HUSK_LIBRARY")
    if husk:
        return os.path.join(os.path.dirname(husk), name)
    return here


_STRING_FUNCTIONS = (
    "mini_sandbox_setup_hermetic", "mini_sandbox_mount_bind", "mini_sandbox_mount_write",
    "mini_sandbox_mount_tmpfs", "mini_sandbox_mount_overlay", "mini_sandbox_mount_empty_output_file",
    "mini_sandbox_set_working_dir", "mini_sandbox_enable_log", "mini_sandbox_allow_connections",
    "mini_sandbox_allow_ipv4", "mini_sandbox_allow_domain", "mini_sandbox_allow_ipv4_subnet",
)
_PLAIN_FUNCTIONS = (
    "mini_sandbox_setup_default", "mini_sandbox_start", "mini_sandbox_mount_parents_write",
    "mini_sandbox_get_last_error_code", "mini_sandbox_is_running", "mini_sandbox_share_network",
    "mini_sandbox_allow_all_domains",
)
# Functions only one build has: the other answers FEATURE_NOT_AVAILABLE.
_TAPBOX_ONLY = ("mini_sandbox_allow_connections", "mini_sandbox_allow_max_connections", "mini_sandbox_allow_ipv4",
                "mini_sandbox_allow_domain", "mini_sandbox_allow_all_domains", "mini_sandbox_allow_ipv4_subnet")


class MiniSandbox:
    """One of the two builds: libmini-sandbox (``tap_mode=False``) or libmini-tapbox."""

    def __init__(self, tap_mode: bool) -> None:
        self.tap_mode = tap_mode
        self.library = None  # type: Optional[ctypes.PyDLL]
        self.load_error = None  # type: Optional[BaseException]
        name = "libmini-tapbox.so" if tap_mode else "libmini-sandbox.so"
        if not is_platform_supported():
            return
        try:
            # PyDLL: the interpreter's lock stays held across the calls, so the process copy that
            # mini_sandbox_start makes (the one that goes on in the sandbox) holds it too.
            self.library = ctypes.PyDLL(_library_path(name))
        except OSError as e:
            self.load_error = e
            print(f"pyminisandbox: cannot load {name}: {e}", file=sys.stderr)
            return
        for fn in _STRING_FUNCTIONS + _PLAIN_FUNCTIONS + ("mini_sandbox_allow_max_connections", "mini_sandbox_get_last_error_msg"):
            f = getattr(self.library, fn, None)
            if f is None:
                continue
            f.restype = ctypes.c_int
            if fn in _STRING_FUNCTIONS:
                f.argtypes = [ctypes.c_char_p]
            elif fn == "mini_sandbox_allow_max_connections":
                f.argtypes = [ctypes.c_int]
            else:
                f.argtypes = []
        self.library.mini_sandbox_get_last_error_msg.restype = ctypes.c_char_p
        self.library.mini_sandbox_setup_custom.restype = ctypes.c_int
        self.library.mini_sandbox_setup_custom.argtypes = [ctypes.c_char_p, ctypes.c_char_p]

    def _call(self, name: str, *args: Union[str, int]) -> int:
        if self.library is None:
            return MiniSandboxErrors.LIB_NOT_LOADED if is_platform_supported() else MiniSandboxErrors.NOERROR
        if name in _TAPBOX_ONLY and not self.tap_mode:
            return MiniSandboxErrors.FEATURE_NOT_AVAILABLE
        f = getattr(self.library, name, None)
        if f is None:
            return MiniSandboxErrors.FEATURE_NOT_AVAILABLE
        converted = []
        for a in args:
            if isinstance(a, str):
                converted.append(os.fsencode(a))
            elif isinstance(a, os.PathLike):
                converted.append(os.fsencode(a))
            else:
                converted.append(a)
        return f(*converted)

    def functions(self) -> Dict[str, Callable[..., object]]:
        """The module-level functions of pyminisandbox's modules, bound to this build."""
        call = self._call

        def mini_sandbox_setup_default() -> int:
            """The default layout: host directories read-only, the working tree overlaid, an empty home, loopback only."""
            return call("mini_sandbox_setup_default")

        def mini_sandbox_setup_custom(overlayfs_dir: str, sandbox_root: str) -> int:
            """A new root of only the overlays and mounts named; the overlays' layers under overlayfs_dir."""
            return call("mini_sandbox_setup_custom", overlayfs_dir, sandbox_root)

        def mini_sandbox_setup_hermetic(sandbox_root: str) -> int:
            """A new root of only the mounts named."""
            return call("mini_sandbox_setup_hermetic", sandbox_root)

        def mini_sandbox_start() -> int:
            """Starts the sandbox: returns 0 inside it, this program going on there; -1 when it could not be set up."""
            # What was printed so far goes out once, now, rather than from the copy that goes on.
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (AttributeError, OSError, ValueError):
                    pass
            return call("mini_sandbox_start")

        def mini_sandbox_mount_bind(path: str) -> int:
            """Bind path read-only."""
            return call("mini_sandbox_mount_bind", path)

        def mini_sandbox_mount_write(path: str) -> int:
            """Bind path writable: writes reach the host."""
            return call("mini_sandbox_mount_write", path)

        def mini_sandbox_mount_tmpfs(path: str) -> int:
            """An empty tmpfs on path."""
            return call("mini_sandbox_mount_tmpfs", path)

        def mini_sandbox_mount_overlay(path: str) -> int:
            """Overlay path: writes vanish with the sandbox (default and custom modes)."""
            return call("mini_sandbox_mount_overlay", path)

        def mini_sandbox_mount_empty_output_file(path: str) -> int:
            """Create path empty when missing, and bind it writable."""
            return call("mini_sandbox_mount_empty_output_file", path)

        def mini_sandbox_set_working_dir(path: str) -> int:
            """The sandbox's working directory (default: this process's)."""
            return call("mini_sandbox_set_working_dir", path)

        def mini_sandbox_mount_parents_write(num_of_parents: int = -1) -> int:
            """The working directory's tree writable instead of overlaid; with N > 0, the directory N levels up writable."""
            if num_of_parents == -1:
                return call("mini_sandbox_mount_parents_write")
            if num_of_parents > 0:
                return call("mini_sandbox_mount_write", os.path.abspath(os.path.join(*([".."] * num_of_parents))))
            return MiniSandboxErrors.INVALID_ARG

        def mini_sandbox_enable_log(path: str) -> int:
            """Husk's debug log goes to path."""
            return call("mini_sandbox_enable_log", path)

        def mini_sandbox_share_network() -> int:
            """The host's network (libmini-sandbox's build)."""
            return call("mini_sandbox_share_network")

        def mini_sandbox_allow_connections(path: str) -> int:
            """Rules from a file, one a line (libmini-tapbox's build)."""
            return call("mini_sandbox_allow_connections", path)

        def mini_sandbox_allow_max_connections(max_connections: int) -> int:
            """At most this many connections, wherever they go (libmini-tapbox's build)."""
            return call("mini_sandbox_allow_max_connections", int(max_connections))

        def mini_sandbox_allow_ipv4(ip: str) -> int:
            """Allow an IPv4 address (libmini-tapbox's build)."""
            return call("mini_sandbox_allow_ipv4", ip)

        def mini_sandbox_allow_domain(domain: str) -> int:
            """Allow a name, exactly (libmini-tapbox's build)."""
            return call("mini_sandbox_allow_domain", domain)

        def mini_sandbox_allow_all_domains() -> int:
            """Allow everything, on purpose: rules are refused after it (libmini-tapbox's build)."""
            return call("mini_sandbox_allow_all_domains")

        def mini_sandbox_allow_ipv4_subnet(subnet: str) -> int:
            """Allow an IPv4 subnet, a.b.c.d/n (libmini-tapbox's build)."""
            return call("mini_sandbox_allow_ipv4_subnet", subnet)

        def mini_sandbox_get_last_error_code() -> int:
            """The code of the last error (0 when none yet)."""
            return call("mini_sandbox_get_last_error_code")

        def mini_sandbox_get_last_error_msg() -> Union[str, int]:
            """The text of the last error ("" when none yet)."""
            if self.library is None:
                return call("mini_sandbox_get_last_error_msg")
            return (self.library.mini_sandbox_get_last_error_msg() or b"").decode(errors="replace")

        def mini_sandbox_is_running() -> Union[bool, int]:
            """True inside a sandbox (or after a failed start)."""
            r = call("mini_sandbox_is_running")
            return r == 1 if self.library is not None else r

        return {name: fn for name, fn in locals().items() if name.startswith("mini_sandbox_")}
