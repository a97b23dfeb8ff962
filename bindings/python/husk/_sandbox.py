"""Husk's Pythonic API: run a program in a sandbox, or start one and talk to it."""

from __future__ import annotations

import ctypes
import enum
import io
import json
import os
import signal as _signal
import threading
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native
from ._native import HUSK_OK, HUSK_RUNNING, HuskError, SetupError, check, guard, lib, take_string

__all__ = [
    "PIPE",
    "DEVNULL",
    "ALLOW",
    "KILL",
    "Verdict",
    "Result",
    "SyscallCall",
    "Sandbox",
    "run",
    "spec",
    "validate",
    "PolicyError",
]

#: A stream connected to a pipe: :class:`Sandbox` gives the other end as a file object (subprocess.PIPE).
PIPE = -1
#: A stream connected to /dev/null (subprocess.DEVNULL).
DEVNULL = -3

#: A policy's answer: the call goes ahead.
ALLOW = 0
#: A policy's answer: the whole sandbox is killed; the verdict is RestrictedFunction.
KILL = -1

Stream = Union[None, int, IO[Any]]
Policy = Callable[["SyscallCall"], Union[None, bool, int]]
PathPairs = Union[Mapping[str, str], Iterable[Union[str, Tuple[str, str]]], None]


class PolicyError(HuskError):
    """A policy callback raised: the sandbox was killed (the exception is the cause)."""


class Verdict(str, enum.Enum):
    """How a run ended, judged against its limits (husk run --report's ``verdict``)."""

    OK = "OK"
    TIME_LIMIT = "TimeLimit"
    WALL_TIME_LIMIT = "WallTimeLimit"
    MEMORY_LIMIT = "MemoryLimit"
    OUTPUT_LIMIT = "OutputLimit"
    RESTRICTED_FUNCTION = "RestrictedFunction"
    RUNTIME_ERROR = "RuntimeError"
    INTERNAL_ERROR = "InternalError"


@dataclass(frozen=True)
class Result:
    """The outcome of a sandboxed run: husk run --report's object, with the captured output."""

    verdict: Verdict
    message: str
    exit_code: Optional[int]
    signal: Optional[int]
    cpu_time: float
    wall_time: float
    peak_memory: int
    layer: Optional[str]
    report: Dict[str, Any]
    stdout: Optional[bytes] = None
    stderr: Optional[bytes] = None

    @property
    def ok(self) -> bool:
        """The payload exited with status 0 within every limit."""
        return self.verdict is Verdict.OK

    @property
    def returncode(self) -> int:
        """As subprocess has it: the exit status, or minus the signal that killed the payload."""
        if self.exit_code is not None:
            return self.exit_code
        return -(self.signal or 0)

    @property
    def libsandbox(self) -> str:
        """libsandbox's code for the verdict: OK, TL, ML, OL, RF, RT, AT or IE."""
        return str(self.report.get("libsandbox", "IE"))

    @classmethod
    def from_json(cls, text: str, stdout: Optional[bytes] = None, stderr: Optional[bytes] = None) -> "Result":
        r = json.loads(text)
        return cls(
            verdict=Verdict(r["verdict"]),
            message=r["message"],
            exit_code=r["exit_code"],
            signal=r["signal"],
            cpu_time=r["cpu_time_s"],
            wall_time=r["wall_time_s"],
            peak_memory=r["peak_memory_bytes"],
            layer=r.get("layer"),
            report=r,
            stdout=stdout,
            stderr=stderr,
        )


@dataclass(frozen=True)
class SyscallCall:
    """A system call the payload is making, stopped until the policy answers.

    ``args`` are the raw register values: pointers point into the payload's memory, which
    :meth:`read` reads (never trust it: it may change after the answer). With
    ``trace_policy=True`` the policy is also called at each call's return (``event`` "sysret",
    ``result`` the return value, a negative errno on failure: KILL kills, anything else goes on)
    and for each signal about to be delivered (``event`` "signal", ``number`` and ``name`` the
    signal's, ``code`` its si_code: ALLOW delivers it, an errno drops it).
    """

    pid: int
    number: int
    name: str
    args: Tuple[int, int, int, int, int, int]
    event: str = "syscall"
    result: int = 0
    code: int = 0

    def read(self, address: int, size: int) -> bytes:
        """Up to ``size`` bytes of the payload's memory at ``address`` (empty when unreadable)."""
        return read_memory(self.pid, address, size)

    def read_string(self, address: int, limit: int = 4096) -> Optional[str]:
        """The NUL-terminated string at ``address``, or None when it cannot be read."""
        return read_string(self.pid, address, limit)


def read_memory(pid: int, address: int, size: int) -> bytes:
    """Reads a process's memory with process_vm_readv; empty when it cannot be read."""
    if address == 0 or size <= 0:
        return b""
    buf = ctypes.create_string_buffer(size)
    local = _Iovec(ctypes.cast(buf, ctypes.c_void_p), size)
    remote = _Iovec(ctypes.c_void_p(address), size)
    n = _libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return buf.raw[:n] if n > 0 else b""


def read_string(pid: int, address: int, limit: int = 4096) -> Optional[str]:
    """The NUL-terminated string at ``address`` in a process, page by page; None when unreadable."""
    if address == 0:
        return None
    out = b""
    while len(out) < limit:
        # Never read across a page boundary at once: the next page may be unmapped.
        chunk = 4096 - ((address + len(out)) % 4096)
        data = read_memory(pid, address + len(out), min(chunk, limit - len(out)))
        if not data:
            return None if not out else out.decode("utf-8", "surrogateescape")
        nul = data.find(b"\0")
        if nul >= 0:
            return (out + data[:nul]).decode("utf-8", "surrogateescape")
        out += data
    return out.decode("utf-8", "surrogateescape")


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
_libc.process_vm_readv.restype = ctypes.c_ssize_t


def _duration(value: Union[int, float, str]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value <= 0:
        raise ValueError(f"a time limit must be a positive number of seconds: {value!r}")
    return f"{value}s"


def _size(value: Union[int, str]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value <= 0:
        raise ValueError(f"a size must be a positive number of bytes: {value!r}")
    return str(int(value))


def _pairs(value: PathPairs, what: str) -> List[Tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [(os.fspath(k), os.fspath(v)) for k, v in value.items()]
    if isinstance(value, (str, bytes, os.PathLike)):
        value = [value]  # type: ignore[list-item]
    pairs = []
    for item in value:  # type: ignore[union-attr]
        if isinstance(item, (str, os.PathLike)):
            text = os.fspath(item)
            src, sep, dst = text.partition(":")
            pairs.append((src, dst if sep else src))
        elif isinstance(item, Sequence) and len(item) == 2:
            pairs.append((os.fspath(item[0]), os.fspath(item[1])))
        else:
            raise ValueError(f"{what}: expected 'PATH', 'SRC:DST' or (SRC, DST): {item!r}")
    return [(os.path.abspath(s), d if d.startswith("/") else os.path.abspath(d)) for s, d in pairs]


def _stream(value: Stream, which: str) -> Union[str, int]:
    if value is None:
        return "inherit"
    if value == PIPE:
        return "pipe"
    if value == DEVNULL:
        return "null"
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{which}: not a descriptor: {value}")
        return value
    if hasattr(value, "fileno"):
        return value.fileno()
    raise TypeError(f"{which}: expected None, PIPE, DEVNULL, a descriptor or a file object: {value!r}")


def spec(
    args: Sequence[Union[str, os.PathLike]],
    *,
    time_limit: Union[None, int, float, str] = None,
    wall_time: Union[None, int, float, str] = None,
    memory: Union[None, int, str] = None,
    network: Union[None, bool, str] = None,
    binds: PathPairs = None,
    ro_binds: PathPairs = None,
    fs: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    cwd: Union[None, str, os.PathLike] = None,
    options: Iterable[Union[str, Sequence[str]]] = (),
    stdin: Stream = None,
    stdout: Stream = None,
    stderr: Stream = None,
    syscalls: Optional[Iterable[str]] = None,
    trace_policy: bool = False,
) -> Dict[str, Any]:
    """The JSON spec (as a dict) the keywords describe: husk run's options, in husk.h's format.

    ``trace_policy`` decides ``syscalls`` from ptrace stops (libsandbox's way): the policy then
    also sees each call's return and each signal (see :class:`SyscallCall`); slower.

    Everything left out keeps husk run's default: every namespace but time, the host's tree
    through an overlay whose writes land in a layer (``fs="ro"``: read-only), no network, no
    capabilities, the default seccomp profile, Landlock, and no limits.
    """
    if isinstance(args, (str, bytes)):
        raise TypeError("args must be a sequence such as ['ls', '-l'], not a string")
    command = [os.fspath(a) for a in args]
    opts: List[List[str]] = []
    if fs is not None:
        opts.append(["--fs", fs])
    if time_limit is not None:
        opts.append(["--time-limit", _duration(time_limit)])
    if wall_time is not None:
        opts.append(["--wall-time", _duration(wall_time)])
    if memory is not None:
        opts.append(["--memory", _size(memory)])
    if network is not None:
        mode = {True: "host", False: "none"}.get(network, network) if isinstance(network, bool) else network
        opts.append(["--net", str(mode)])
    # The payload's environment is this process's as it is now (as subprocess has it), or env.
    opts.append(["--clearenv"])
    for key, value in (os.environ if env is None else env).items():
        opts.append(["--setenv", key, value])
    if cwd is not None:
        opts.append(["--chdir", os.fspath(cwd)])
    for src, dst in _pairs(binds, "binds"):
        opts.append(["--bind", src, dst])
    for src, dst in _pairs(ro_binds, "ro_binds"):
        opts.append(["--ro-bind", src, dst])
    for item in options:
        opts.append([item] if isinstance(item, str) else [os.fspath(x) for x in item])
    result: Dict[str, Any] = {
        "command": command,
        "options": opts,
        "stdin": _stream(stdin, "stdin"),
        "stdout": _stream(stdout, "stdout"),
        "stderr": _stream(stderr, "stderr"),
    }
    if syscalls is not None:
        result["syscalls"] = list(syscalls)
    if trace_policy:
        result["trace_policy"] = True
    return result


def validate(args: Sequence[Union[str, os.PathLike]], **keywords: Any) -> None:
    """Checks what :func:`run` would be given, without running it; raises SpecError listing every problem."""
    guard()
    check(lib.husk_validate(json.dumps(spec(args, **keywords)).encode()))


class _PolicyBridge:
    """Calls a Python policy from the library's thread; an exception kills the sandbox."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.error: Optional[BaseException] = None
        self.c_function = _native.POLICY(self._call)

    def _call(self, _context: Any, pointer: Any) -> int:
        try:
            c = pointer.contents
            event = ("syscall", "sysret", "signal")[c.event] if 0 <= c.event <= 2 else "syscall"
            call = SyscallCall(c.pid, c.number, c.name.decode(), tuple(c.args), event, c.result, c.code)  # type: ignore[arg-type]
            answer = self.policy(call)
        except BaseException as e:  # noqa: B902 - nothing may cross into C
            self.error = self.error or e
            return KILL
        if answer is None or answer is True:
            return ALLOW
        if answer is False:
            return 1  # EPERM
        return int(answer)


class Pool:
    """Warm sandboxes: a template prepared once per shape of spec, each run cloned from it.

    Every run still gets fresh pid, mount, IPC and UTS namespaces (and network, unless
    ``network_per_run=False``: the runs then share the template's, loopback only), its own
    writable tmpfs, limits and result, and the same policy as a cold run; specs a pool cannot
    take (the default overlay among them: use ``fs="ro"`` with tmpfs where runs write) raise
    SpecError. Pass it to :func:`run` or :class:`Sandbox` as ``pool=``. Use it as a context
    manager, or call :meth:`close` (its templates end, and runs still going with them).
    """

    def __init__(self, *, network_per_run: bool = True):
        guard()
        handle = ctypes.c_int64()
        options = None if network_per_run else json.dumps({"network_per_run": False}).encode()
        check(lib.husk_pool_new(options, ctypes.byref(handle)))
        self._handle: Optional[int] = handle.value

    def _live(self) -> int:
        if self._handle is None:
            raise HuskError("the pool is closed")
        guard()
        return self._handle

    def run(self, args: Sequence[Union[str, os.PathLike]], **keywords: Any) -> "Result":
        """:func:`run` from this pool."""
        return run(args, pool=self, **keywords)

    def close(self) -> None:
        if self._handle is not None and not _native._forked:
            lib.husk_pool_free(self._handle)
        self._handle = None

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Sandbox:
    """A sandboxed process: start it, talk to it through its streams, wait for its result.

    Takes the keywords of :func:`spec`, plus ``policy`` (called with a :class:`SyscallCall` for
    each call named in ``syscalls``: return None or ALLOW, an errno to fail the call, or KILL)
    and ``pool`` (a :class:`Pool` to start from instead of a cold start).
    Streams given as PIPE become file objects: ``stdin`` to write (close it for end of file),
    ``stdout`` and ``stderr`` to read. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        args: Sequence[Union[str, os.PathLike]],
        *,
        stdin: Stream = None,
        stdout: Stream = None,
        stderr: Stream = None,
        policy: Optional[Policy] = None,
        syscalls: Optional[Iterable[str]] = None,
        pool: Optional[Pool] = None,
        **keywords: Any,
    ):
        self._spec = spec(args, stdin=stdin, stdout=stdout, stderr=stderr, syscalls=syscalls, **keywords)
        self._pool = pool
        self._bridge = _PolicyBridge(policy) if policy is not None else None
        self._handle: Optional[int] = None
        self._result: Optional[Result] = None
        self.stdin: Optional[IO[bytes]] = None
        self.stdout: Optional[IO[bytes]] = None
        self.stderr: Optional[IO[bytes]] = None

    def start(self) -> "Sandbox":
        """Starts the sandbox; returns once the payload runs. Raises SetupError when it cannot."""
        if self._handle is not None:
            raise HuskError("the sandbox is started already")
        guard()
        handle = ctypes.c_int64()
        fn = self._bridge.c_function if self._bridge else _native.POLICY()
        body = json.dumps(self._spec).encode()
        if self._pool is not None:
            check(lib.husk_pool_start(self._pool._live(), body, fn, None, ctypes.byref(handle)))
        else:
            check(lib.husk_start(body, fn, None, ctypes.byref(handle)))
        self._handle = handle.value
        for fd, mode in ((0, "wb"), (1, "rb"), (2, "rb")):
            if self._spec[("stdin", "stdout", "stderr")[fd]] == "pipe":
                end = lib.husk_stdio(self._handle, fd)
                if end < 0:
                    raise HuskError(_native.last_error())
                setattr(self, ("stdin", "stdout", "stderr")[fd], io.open(end, mode, buffering=0 if fd == 0 else -1))
        return self

    def __enter__(self) -> "Sandbox":
        return self if self._handle is not None else self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def pid(self) -> int:
        """The pid of the sandbox's first process (its init), in this process's pid namespace."""
        return check(lib.husk_pid(self._started()))

    def _started(self) -> int:
        if self._handle is None:
            raise HuskError("the sandbox is not started (call start())")
        guard()
        return self._handle

    def send_signal(self, sig: int) -> None:
        """Sends a signal to the sandbox (its init passes it on to the payload)."""
        check(lib.husk_kill(self._started(), int(sig)))

    def kill(self) -> None:
        """Kills the whole sandbox."""
        self.send_signal(_signal.SIGKILL)

    def terminate(self) -> None:
        """Sends SIGTERM to the payload."""
        self.send_signal(_signal.SIGTERM)

    def poll(self) -> Optional[Result]:
        """The result if the sandbox has ended, else None."""
        return self.wait(timeout=0, _raise=False)

    def wait(self, timeout: Optional[float] = None, _raise: bool = True) -> Optional[Result]:
        """Waits for the end and returns the result; TimeoutError when ``timeout`` seconds pass first."""
        if self._result is not None:
            return self._result
        handle = self._started()
        out = ctypes.c_void_p()
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        rc = check(lib.husk_wait(handle, ms, ctypes.byref(out)))
        if rc == HUSK_RUNNING:
            if _raise:
                raise TimeoutError(f"the sandbox still runs after {timeout} s")
            return None
        self._result = Result.from_json(take_string(out) or "{}")
        if self._bridge is not None and self._bridge.error is not None:
            raise PolicyError(f"the policy raised {self._bridge.error!r}: the sandbox was killed") from self._bridge.error
        return self._result

    def communicate(self, input: Optional[bytes] = None, timeout: Optional[float] = None) -> Result:
        """Writes ``input`` to a piped stdin, reads piped stdout and stderr to their end, and waits.

        The returned result carries what was read as ``stdout`` and ``stderr``.
        """
        self._started()
        readers: List[threading.Thread] = []
        captured: Dict[str, bytes] = {}

        def drain(name: str, stream: IO[bytes]) -> None:
            captured[name] = stream.read()
            stream.close()

        for name in ("stdout", "stderr"):
            stream = getattr(self, name)
            if stream is not None:
                t = threading.Thread(target=drain, args=(name, stream), daemon=True)
                t.start()
                readers.append(t)
        if self.stdin is not None:
            try:
                if input:
                    self.stdin.write(input)
            except BrokenPipeError:
                pass
            finally:
                self.stdin.close()
        result = self.wait(timeout)
        for t in readers:
            t.join()
        assert result is not None
        return Result(**{**result.__dict__, "stdout": captured.get("stdout"), "stderr": captured.get("stderr")})

    def close(self) -> None:
        """Kills the sandbox if it still runs, waits for it and lets it go."""
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass
        if self._handle is not None and not _native._forked:
            lib.husk_free(self._handle)
            self._handle = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def run(
    args: Sequence[Union[str, os.PathLike]],
    *,
    input: Optional[bytes] = None,
    capture_output: bool = False,
    timeout: Optional[float] = None,
    stdin: Stream = None,
    stdout: Stream = None,
    stderr: Stream = None,
    policy: Optional[Policy] = None,
    syscalls: Optional[Iterable[str]] = None,
    pool: Optional[Pool] = None,
    **keywords: Any,
) -> Result:
    """Runs ``args`` in a sandbox to its end and returns the result (verdict, exit, usage).

    Keywords: ``time_limit`` (CPU seconds, or "1.5s"), ``wall_time``, ``memory`` (bytes, or
    "256M"), ``network`` (None or "none": loopback only; "host" or True: the host's), ``binds``
    and ``ro_binds`` ({src: dst}, ["path", "src:dst", (src, dst)]), ``fs`` ("overlay", the
    default, "ro", "tmpfs", "host" or a root directory), ``env``, ``cwd``, and ``options`` for
    any other option of husk run (["--hostname", "box"], "--share-net"). ``capture_output``
    and ``input`` pipe the streams (the output lands in the result). ``timeout`` kills the
    sandbox after that many seconds and raises TimeoutError. Raises SpecError for a spec that
    cannot run and SetupError when the sandbox cannot be set up (a missing program, say).
    ``pool`` (a :class:`Pool`) runs it warm, from the pool's template.
    """
    if capture_output:
        stdout = PIPE if stdout is None else stdout
        stderr = PIPE if stderr is None else stderr
    if input is not None:
        stdin = PIPE
    piped = PIPE in (stdin, stdout, stderr)
    if not piped and policy is None and timeout is None:
        guard()
        body = json.dumps(spec(args, stdin=stdin, stdout=stdout, stderr=stderr, syscalls=syscalls, **keywords)).encode()
        out = ctypes.c_void_p()
        if pool is not None:
            rc = lib.husk_pool_run(pool._live(), body, _native.POLICY(), None, ctypes.byref(out))
        else:
            rc = lib.husk_run(body, _native.POLICY(), None, ctypes.byref(out))
        text = take_string(out)
        if rc != HUSK_OK:
            check(rc)
        return Result.from_json(text or "{}")
    sandbox = Sandbox(args, stdin=stdin, stdout=stdout, stderr=stderr, policy=policy, syscalls=syscalls, pool=pool, **keywords)
    with sandbox:
        try:
            return sandbox.communicate(input, timeout)
        except TimeoutError:
            sandbox.kill()
            sandbox.wait()
            raise
