"""Husk: run programs in unprivileged Linux sandboxes, from Python.

    import husk
    result = husk.run(["python3", "-c", "print(6 * 7)"], time_limit=1, memory="256M", capture_output=True)
    print(result.verdict, result.stdout)

``husk.run`` takes husk run's defaults (every namespace, the host's tree through an overlay, no
network, the default seccomp profile, Landlock) and the limits you give; :class:`husk.Sandbox`
starts a sandbox and gives its streams as files. The module ``sandbox`` (pysandbox's API) comes
in the same wheel.
"""

from ._native import ForkedError, HuskError, SetupError, SpecError, lib as _lib
from ._sandbox import (
    ALLOW,
    DEVNULL,
    KILL,
    PIPE,
    PolicyError,
    Pool,
    Result,
    Sandbox,
    SyscallCall,
    Verdict,
    read_memory,
    read_string,
    run,
    spec,
    validate,
)

__version__ = _lib.husk_version().decode()

__all__ = [
    "ALLOW",
    "DEVNULL",
    "KILL",
    "PIPE",
    "ForkedError",
    "HuskError",
    "PolicyError",
    "Pool",
    "Result",
    "Sandbox",
    "SetupError",
    "SpecError",
    "SyscallCall",
    "Verdict",
    "read_memory",
    "read_string",
    "run",
    "spec",
    "validate",
    "version",
]


def version() -> str:
    """The version of libhusk in use ("0.1.0")."""
    return __version__
