"""pysandbox's API (libsandbox 0.3.5's Python binding), over Husk.

    from sandbox import *
    s = Sandbox(["/path/to/program"], quota=dict(wallclock=10000, cpu=1000, memory=64 << 20, disk=1 << 20))
    s.run()
    print(s.result == S_RESULT_OK, s.probe())

Programs written for pysandbox run unchanged: the same names and values, constructor keywords,
``run()``, ``probe()``, ``dump()``, ``status`` and ``result``, and policy objects called with an
event for every system call the program makes, at its entry (S_EVENT_SYSCALL, with its number
and arguments) and its return (S_EVENT_SYSRET, with the value; ``dump()`` reads the program's
memory at either), and for how it ended (exit, signal with its si_code, quota), whose actions
continue it or kill it with a result. The stops are ptrace's, as libsandbox's are.
docs/compat-pysandbox.md lists where Husk differs from libsandbox, and why.

The program runs as libsandbox runs it: in the caller's process and mount namespaces (its pid is
the one the caller sees, its writes land where they would), with an empty environment, in a
session of its own, under ``jail`` (root only) when given; Husk adds what libsandbox lacks
underneath: no network, no capabilities, its default seccomp profile, and a user namespace of
its own for a caller that is not root.
"""

from __future__ import annotations

import errno as _errno
import grp
import os
import pwd
import stat
import struct
import threading
import time
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import husk
from husk._sandbox import read_memory as _read_memory

__version__ = "0.3.5-3"
__author__ = "Husk (the API is libsandbox's and pysandbox's, by LIU Yu)"

__all__ = [
    "Sandbox",
    "SandboxEvent",
    "SandboxAction",
    "SandboxPolicy",
    "__version__",
    "__author__",
]

_INFINITY = 0xFFFFFFFFFFFFFFFF  # RLIM_INFINITY: a quota that was not given
_LONG = struct.Struct("=q")


def _signed(value: int) -> int:
    """A register's 64 bits as C's long."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class SandboxEvent(object):
    """Something that happened to the sandboxed program, as a policy sees it.

    ``type`` is an S_EVENT_* value; ``data`` the system call's number, the exit status, the
    signal or the quota (S_QUOTA_*); ``ext0`` the system call's mode (0: x86_64); ``ext1`` to
    ``ext6`` the call's arguments (for S_EVENT_SIGNAL, ext1 is the signal's code). Read-only.
    ``SandboxEvent(type[, A, B, ...])`` builds one from libsandbox's raw words.
    """

    S_EVENT_ERROR = 0
    S_EVENT_EXIT = 1
    S_EVENT_SIGNAL = 2
    S_EVENT_SYSCALL = 3
    S_EVENT_SYSRET = 4
    S_EVENT_QUOTA = 5

    __slots__ = ("_type", "_data", "_ext0", "_ext")

    def __init__(self, type: int, *words: int) -> None:
        if len(words) > 7:
            raise TypeError("SandboxEvent takes at most 8 arguments")
        words = tuple(int(w) for w in words) + (0,) * (7 - len(words))
        self._type = int(type)
        # libsandbox's first word holds the number in its low half and the mode in its high half.
        self._data = _int32(words[0])
        self._ext0 = _int32(words[0] >> 32)
        self._ext = tuple(_signed(w) for w in words[1:7])

    @classmethod
    def _make(cls, type: int, data: int = 0, ext0: int = 0, ext: Sequence[int] = ()) -> "SandboxEvent":
        e = cls.__new__(cls)
        e._type, e._data, e._ext0 = int(type), _int32(data), _int32(ext0)
        e._ext = tuple(_signed(v) for v in ext) + (0,) * (6 - len(ext))
        return e

    type = property(lambda self: self._type)
    data = property(lambda self: self._data)
    ext0 = property(lambda self: self._ext0)
    ext1 = property(lambda self: self._ext[0])
    ext2 = property(lambda self: self._ext[1])
    ext3 = property(lambda self: self._ext[2])
    ext4 = property(lambda self: self._ext[3])
    ext5 = property(lambda self: self._ext[4])
    ext6 = property(lambda self: self._ext[5])

    def __repr__(self) -> str:
        return "SandboxEvent(type=%d, data=%d, ext0=%d, ext=%r)" % (self._type, self._data, self._ext0, self._ext)


class SandboxAction(object):
    """What a policy decides: ``type`` (S_ACTION_CONT, S_ACTION_FINI, S_ACTION_KILL) and ``data``
    (the S_RESULT_* the run gets when it is finished or killed)."""

    S_ACTION_CONT = 0
    S_ACTION_FINI = 1
    S_ACTION_KILL = 2

    __slots__ = ("_type", "_data")

    def __init__(self, type: int, *words: int) -> None:
        if len(words) > 2:
            raise TypeError("SandboxAction takes at most 3 arguments")
        self._type = _int32(int(type))
        self._data = _int32(int(words[0])) if words else 0

    @property
    def type(self) -> int:
        return self._type

    @type.setter
    def type(self, value: int) -> None:
        self._type = _int32(int(value))

    @property
    def data(self) -> int:
        return self._data

    @data.setter
    def data(self, value: int) -> None:
        self._data = _int32(int(value))

    def __repr__(self) -> str:
        return "SandboxAction(type=%d, data=%d)" % (self._type, self._data)


# libsandbox's numbers, needed by the default policy below.
_SC_FORBIDDEN = {57, 58, 56, 101, 61, 247}  # fork, vfork, clone, ptrace, wait4, waitid (x86_64)
_SC_FORBIDDEN_I386 = {2, 190, 120, 26, 7, 114, 284}  # fork, vfork, clone, ptrace, waitpid, wait4, waitid
_SIGSTOP, _SIGCONT, _SIGXFSZ = 19, 18, 25


class SandboxPolicy(object):
    """A policy: called as ``policy(e, a)`` with a :class:`SandboxEvent` and a
    :class:`SandboxAction` to fill in and return. Subclass it and override ``__call__``; calling
    ``SandboxPolicy.__call__(self, e, a)`` applies libsandbox's default policy: it finishes the
    run on exit (OK, or AT for a non-zero status), kills it on a signal (RT) or a quota (TL, ML,
    OL), and on the system calls that create or trace processes (RF)."""

    def __init__(self, *args: Any, **kwds: Any) -> None:
        pass

    def __call__(self, e: SandboxEvent, a: SandboxAction) -> SandboxAction:
        if not isinstance(e, SandboxEvent) or not isinstance(a, SandboxAction):
            raise AssertionError("a policy is called with a SandboxEvent and a SandboxAction")
        t = e.type
        if t == S_EVENT_SYSCALL:
            forbidden = _SC_FORBIDDEN if e.ext0 == 0 else _SC_FORBIDDEN_I386 if e.ext0 == 1 else None
            if forbidden is None or e.data in forbidden:
                a.type, a.data = S_ACTION_KILL, S_RESULT_RF
            else:
                a.type = S_ACTION_CONT
        elif t == S_EVENT_SYSRET:
            a.type = S_ACTION_CONT
        elif t == S_EVENT_EXIT:
            a.type, a.data = S_ACTION_FINI, (S_RESULT_OK if e.data == 0 else S_RESULT_AT)
        elif t == S_EVENT_SIGNAL:
            if e.data in (_SIGSTOP, _SIGCONT):
                a.type = S_ACTION_CONT
            else:
                a.type, a.data = S_ACTION_KILL, S_RESULT_RT
        elif t == S_EVENT_QUOTA:
            a.type = S_ACTION_KILL
            a.data = {S_QUOTA_WALLCLOCK: S_RESULT_TL, S_QUOTA_CPU: S_RESULT_TL, S_QUOTA_MEMORY: S_RESULT_ML,
                      S_QUOTA_DISK: S_RESULT_OL}.get(e.data, S_RESULT_IE)
        else:
            a.type, a.data = S_ACTION_KILL, S_RESULT_IE
        return a


def _fd_of(value: Any, what: str) -> int:
    try:
        fd = value if isinstance(value, int) else value.fileno()
    except (AttributeError, OSError, ValueError):
        raise TypeError("%s should be a file object or a descriptor" % what)
    if not isinstance(fd, int) or fd < 0:
        raise TypeError("%s should be a file object or a descriptor" % what)
    return fd


def _text(value: Any, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, str):
        return value
    raise TypeError("%s should be bytes or str" % what)


class Sandbox(object):
    """A program to run under quotas and a policy (libsandbox's sandbox).

    ``Sandbox(args, jail="/", owner=None, group=None, stdin=None, stdout=None, stderr=None,
    quota=None, policy=None)``: ``args`` is the full path of an executable file and its
    arguments (no PATH search); ``jail`` a directory that becomes its root (root only; the
    program's path must lie in it); ``owner`` and ``group`` names or ids to run as (root only);
    the streams file objects or descriptors (default: the caller's); ``quota`` a dict with
    ``wallclock`` and ``cpu`` (milliseconds), ``memory`` (bytes of virtual memory) and ``disk``
    (bytes of any file written), or a sequence in that order; ``policy`` a SandboxPolicy.
    """

    S_QUOTA_WALLCLOCK = 0
    S_QUOTA_CPU = 1
    S_QUOTA_MEMORY = 2
    S_QUOTA_DISK = 3

    S_STATUS_PRE = 0
    S_STATUS_RDY = 1
    S_STATUS_EXE = 2
    S_STATUS_BLK = 3
    S_STATUS_FIN = 4

    S_RESULT_PD = 0
    S_RESULT_OK = 1
    S_RESULT_RF = 2
    S_RESULT_ML = 3
    S_RESULT_OL = 4
    S_RESULT_TL = 5
    S_RESULT_RT = 6
    S_RESULT_AT = 7
    S_RESULT_IE = 8
    S_RESULT_BP = 9
    S_RESULT_R0 = 10
    S_RESULT_R1 = 11
    S_RESULT_R2 = 12
    S_RESULT_R3 = 13
    S_RESULT_R4 = 14
    S_RESULT_R5 = 15

    # Python's structmember.h type codes, which dump() takes.
    T_SHORT = 0
    T_INT = 1
    T_LONG = 2
    T_FLOAT = 3
    T_DOUBLE = 4
    T_STRING = 5
    T_CHAR = 7
    T_BYTE = 8
    T_UBYTE = 9
    T_USHORT = 10
    T_UINT = 11
    T_ULONG = 12

    def __new__(cls, *args: Any, **kwds: Any) -> "Sandbox":
        self = super(Sandbox, cls).__new__(cls)
        self._policy = SandboxPolicy()
        self._status = Sandbox.S_STATUS_PRE
        self._result = Sandbox.S_RESULT_PD
        self._lock = threading.RLock()
        self._reset_stats()
        self._started = False
        self._pid = None
        self._blocked_pid = None
        names = ("args", "jail", "owner", "group", "stdin", "stdout", "stderr", "quota", "policy")
        if len(args) > len(names):
            raise TypeError("Sandbox takes at most %d arguments" % len(names))
        given = dict(zip(names, args))
        for k, v in kwds.items():
            if k not in names:
                raise TypeError("'%s' is an invalid keyword argument for Sandbox" % k)
            if k in given:
                raise TypeError("argument '%s' given twice" % k)
            given[k] = v
        if "args" not in given:
            raise TypeError("Sandbox needs args: the program's full path and its arguments")
        self._uid, self._gid = os.getuid(), os.getgid()
        if given.get("owner") is not None:
            self._uid = self._load_owner(given["owner"])
        if given.get("group") is not None:
            self._gid = self._load_group(given["group"])
        self._jail = "/"
        if given.get("jail") is not None:
            self._jail = self._load_jail(given["jail"])
        self._task = self._load_args(given["args"])
        self._fds = [0, 1, 2]
        self._files = [None, None, None]
        for i, (name, mode) in enumerate((("stdin", "r"), ("stdout", "w"), ("stderr", "w"))):
            if given.get(name) is not None:
                self._fds[i] = self._load_stream(given[name], name, mode)
                self._files[i] = given[name]
        self._quota = [_INFINITY] * 4
        if given.get("quota") is not None:
            self._load_quota(given["quota"])
        if given.get("policy") is not None:
            self.policy = given["policy"]
        self._check()
        self._status = Sandbox.S_STATUS_RDY
        return self

    def __init__(self, *args: Any, **kwds: Any) -> None:
        # pysandbox's own idiom: a policy= given to a subclass's __init__ is applied here too.
        if isinstance(kwds.get("policy"), SandboxPolicy):
            self.policy = kwds["policy"]

    # ---- construction ------------------------------------------------------------------------

    def _load_args(self, value: Any) -> Tuple[str, ...]:
        if isinstance(value, (str, bytes)):
            task = (_text(value, "args"),)
        else:
            try:
                task = tuple(_text(v, "args") for v in value)
            except TypeError:
                raise TypeError("args should be a str or a sequence of str")
        if not task or not task[0]:
            raise ValueError("args should name a program")
        try:
            st = os.stat(task[0])
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise ValueError("args[0] should be the full path of an executable file: %s" % task[0])
        runnable = (st.st_mode & stat.S_IXUSR and st.st_uid == self._uid) or (st.st_mode & stat.S_IXGRP and st.st_gid == self._gid) \
            or st.st_mode & stat.S_IXOTH or self._uid == 0
        if not runnable:
            raise ValueError("args[0] should be executable by the program's owner: %s" % task[0])
        return task

    def _load_jail(self, value: Any) -> str:
        jail = _text(value, "jail")
        if jail != "/":
            if os.getuid() != 0:
                raise AssertionError("only the super-user may jail a program")
            if not os.access(jail, os.X_OK | os.R_OK) or not os.path.isdir(jail):
                raise ValueError("jail should be a directory: %s" % jail)
        return jail

    def _load_owner(self, value: Any) -> int:
        try:
            uid = pwd.getpwnam(_text(value, "owner")).pw_uid if isinstance(value, (str, bytes)) else pwd.getpwuid(int(value)).pw_uid
        except KeyError:
            raise ValueError("no such user: %r" % (value,))
        except (TypeError, ValueError, OverflowError):
            raise TypeError("owner should be a user name or uid")
        if os.getuid() != 0 and uid != os.getuid():
            raise AssertionError("only the super-user may run a program as someone else")
        return uid

    def _load_group(self, value: Any) -> int:
        try:
            gid = grp.getgrnam(_text(value, "group")).gr_gid if isinstance(value, (str, bytes)) else grp.getgrgid(int(value)).gr_gid
        except KeyError:
            raise ValueError("no such group: %r" % (value,))
        except (TypeError, ValueError, OverflowError):
            raise TypeError("group should be a group name or gid")
        if os.getuid() != 0 and gid != os.getgid():
            raise AssertionError("only the super-user may run a program in another group")
        return gid

    @staticmethod
    def _load_stream(value: Any, name: str, mode: str) -> int:
        fd = _fd_of(value, name)
        try:
            st = os.fstat(fd)
        except OSError:
            raise AssertionError("%s is not an open file" % name)
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            raise AssertionError("%s should be a terminal, a regular file or a pipe" % name)
        bits = (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH) if mode == "r" else (stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH)
        if os.getuid() != 0 and not ((st.st_mode & bits[0] and st.st_uid == os.getuid()) or (st.st_mode & bits[1] and st.st_gid == os.getgid())
                                     or st.st_mode & bits[2]):
            raise AssertionError("%s should be %s by the current user" % (name, "readable" if mode == "r" else "writable"))
        return fd

    def _load_quota(self, value: Any) -> None:
        keys = ("wallclock", "cpu", "memory", "disk")
        if isinstance(value, dict):
            items = [(i, value[k]) for i, k in enumerate(keys) if k in value]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value[:4]))
        else:
            raise TypeError("quota should be a dict, list or tuple of int")
        for i, v in items:
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError("quota should be a dict, list or tuple of int")
            if v < 0 or v > _INFINITY:
                raise ValueError("quota values cannot be negative: %r" % (v,))
            self._quota[i] = v

    def _check(self) -> None:
        """libsandbox's pre-execution check: a jailed program must lie in its jail."""
        if self._jail != "/":
            jail = os.path.normpath(self._jail)
            if not os.path.normpath(self._task[0]).startswith(jail.rstrip("/") + "/"):
                raise AssertionError("the program must lie in its jail: %s is not in %s" % (self._task[0], jail))

    # ---- attributes --------------------------------------------------------------------------

    owner = property(lambda self: self._uid, doc="user id (int) the program runs as")
    group = property(lambda self: self._gid, doc="group id (int) the program runs as")
    task = property(lambda self: self._task, doc="the command line (tuple of str)")
    jail = property(lambda self: self._jail, doc="the program's root directory (str)")
    quota = property(lambda self: tuple(self._quota), doc="the quotas, indexed by S_QUOTA_*")
    status = property(lambda self: self._status, doc="where the sandbox is (S_STATUS_*)")
    result = property(lambda self: self._result, doc="how the program ended (S_RESULT_*)")

    @property
    def pid(self) -> Optional[int]:
        """The program's pid while it runs (None otherwise)."""
        return self._pid if self._status in (Sandbox.S_STATUS_EXE, Sandbox.S_STATUS_BLK) else None

    @property
    def policy(self) -> SandboxPolicy:
        """The policy (a SandboxPolicy), which cannot change while the program runs."""
        return self._policy

    @policy.setter
    def policy(self, value: SandboxPolicy) -> None:
        if self._status in (Sandbox.S_STATUS_EXE, Sandbox.S_STATUS_BLK):
            raise AssertionError("the policy cannot change while the program runs")
        if not isinstance(value, SandboxPolicy):
            raise TypeError("policy should be an instance of SandboxPolicy")
        self._policy = value

    @policy.deleter
    def policy(self) -> None:
        raise AssertionError("the policy cannot be deleted")

    # ---- running -----------------------------------------------------------------------------

    def _reset_stats(self) -> None:
        self._elapsed = 0
        self._cpu = (0, 0, 0, 0)
        self._mem = [0, 0, 0, 0, 0, 0]  # vsize, peak, rss, peak (kB), minflt, majflt
        self._signal = (0, 0)
        self._signals: Dict[int, Tuple[int, int]] = {}
        self._main_pid: Optional[int] = None
        self._syscall = (0, 0)
        self._exitcode = 0
        self._decided: Optional[SandboxAction] = None
        self._quota_hit: Optional[int] = None
        self._bad_policy = False

    def _options(self) -> list:
        opts: list = [["--share-pid"]]
        root = os.getuid() == 0
        if root:
            # libsandbox's program is the caller's own: root's is root, or owner/group as asked.
            opts.append(["--share-user"])
            if self._uid != 0 or self._gid != 0:
                opts += [["--uid", str(self._uid)], ["--gid", str(self._gid)]]
        if self._jail == "/":
            opts.append(["--share-mount"])
        else:
            # chroot(jail): the jail, writable, is the whole tree, and the program starts at its root.
            opts += [["--fs", "tmpfs"], ["--bind", self._jail, "/"], ["--chdir", "/"]]
        wall, cpu, _, disk = self._quota
        if cpu != _INFINITY:
            opts.append(["--time-limit", "%dms" % max(cpu, 1)])
        if wall != _INFINITY:
            opts.append(["--wall-time", "%dms" % max(wall, 1)])
        if disk != _INFINITY:
            # libsandbox's disk quota is RLIMIT_FSIZE itself; Husk's output limit sets one byte more.
            opts.append(["--output-limit", str(max(disk - 1, 1))])
        return opts

    def _argv(self) -> list:
        if self._jail == "/":
            return list(self._task)
        inside = "/" + os.path.relpath(os.path.normpath(self._task[0]), os.path.normpath(self._jail))
        return [inside] + list(self._task[1:])

    def run(self) -> None:
        """Runs the program to its end (the policy decides on the way); read ``result`` and ``probe()``."""
        with self._lock:
            if self._status in (Sandbox.S_STATUS_EXE, Sandbox.S_STATUS_BLK):
                raise AssertionError("the sandbox runs already")
            self._check()
            self._reset_stats()
            self._result = Sandbox.S_RESULT_PD
            self._status = Sandbox.S_STATUS_EXE
        started = time.monotonic()
        # Decided from ptrace stops, as libsandbox decides: the policy sees each call's return
        # (SYSRET) too, and the signals the program gets come with their si_code.
        box = husk.Sandbox(self._argv(), env={}, options=self._options(),
                           stdin=self._fds[0], stdout=self._fds[1], stderr=self._fds[2],
                           policy=self._on_syscall, syscalls=["*"], trace_policy=True)
        try:
            box.start()
        except husk.HuskError:
            self._status = Sandbox.S_STATUS_FIN
            self._result = Sandbox.S_RESULT_IE
            self._started = True
            return
        self._started = True
        self._pid = box.pid
        self._main_pid = box.pid
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(box, done), daemon=True)
        watcher.start()
        try:
            outcome = box.wait()
        except husk.PolicyError:
            outcome = box.wait()
        finally:
            done.set()
            watcher.join()
            box.close()
        self._elapsed = int((time.monotonic() - started) * 1000)
        self._finish(outcome)

    def _watch(self, box: "husk.Sandbox", done: threading.Event) -> None:
        """Samples the program's memory as libsandbox does (and more often): virtual memory over the quota is ML."""
        while not done.wait(0.005):
            self._sample(box)

    def _sample(self, box: Optional["husk.Sandbox"] = None) -> None:
        pid = self._pid
        if pid is None:
            return
        try:
            with open("/proc/%d/status" % pid) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            with open("/proc/%d/stat" % pid) as f:
                stat_fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            return
        if "VmSize" not in fields:
            return  # a zombie: it has no memory left to measure
        kb = lambda k: int(fields.get(k, "0 kB").split()[0])  # noqa: E731
        m = self._mem
        m[0] = kb("VmSize")
        m[1] = max(m[1], kb("VmPeak"))
        m[2] = kb("VmRSS")
        m[3] = max(m[3], kb("VmHWM"))
        m[4], m[5] = int(stat_fields[7]), int(stat_fields[9])
        memory = self._quota[Sandbox.S_QUOTA_MEMORY]
        if memory != _INFINITY and m[1] * 1024 > memory and self._quota_hit is None:
            self._quota_hit = Sandbox.S_QUOTA_MEMORY
            if box is not None:
                try:
                    box.kill()
                except husk.HuskError:
                    pass

    def _decide(self, event: SandboxEvent) -> SandboxAction:
        """The policy's action for an event; a policy that fails or returns no action is a bad policy."""
        action = SandboxAction(S_ACTION_CONT)
        try:
            answer = self._policy(event, action)
        except Exception:
            answer = None
        if not isinstance(answer, SandboxAction):
            self._bad_policy = True
            return SandboxAction(S_ACTION_KILL, S_RESULT_BP)
        return answer

    def _on_syscall(self, call: "husk.SyscallCall") -> int:
        """The program, stopped: at a call's entry (SYSCALL) or return (SYSRET), or for a signal."""
        if call.event == "signal":
            # Delivered as it is; the code of the one that ends the program is its signal_info's.
            self._signals[call.pid] = (call.number, call.code)
            return husk.ALLOW
        if self._decided is not None:
            return husk.KILL
        if call.event == "syscall":
            self._syscall = (call.number, 0)
        if self._pid is None:
            # The program's first calls come before start() returns: a policy may want its pid already.
            self._pid = call.pid
        self._sample()
        if self._quota_hit is not None:
            event = SandboxEvent._make(S_EVENT_QUOTA, self._quota_hit)
        elif call.event == "sysret":
            event = SandboxEvent._make(S_EVENT_SYSRET, call.number, 0, (call.result,))
        else:
            event = SandboxEvent._make(S_EVENT_SYSCALL, call.number, 0, call.args)
        self._status = Sandbox.S_STATUS_BLK
        self._blocked_pid = call.pid
        try:
            action = self._decide(event)
        finally:
            self._blocked_pid = None
            self._status = Sandbox.S_STATUS_EXE
        if action.type == S_ACTION_CONT:
            return husk.ALLOW
        self._decided = action
        return husk.KILL

    def _finish(self, outcome: Optional["husk.Result"]) -> None:
        """The events of the end (exit, signal or quota) and the result they give."""
        report = outcome.report if outcome is not None else {}
        user, system = report.get("user_time_s", 0.0), report.get("system_time_s", 0.0)
        self._cpu = (int((user + system) * 1000), int(user * 1000), int(system * 1000), 0)
        if self._mem[3] == 0 and report.get("peak_memory_bytes"):
            self._mem[3] = report["peak_memory_bytes"] // 1024
        code, signo = report.get("exit_code"), report.get("signal")
        self._exitcode = code or 0
        if signo:
            # The si_code of the signal as it was delivered (SIGKILL never is: 0).
            last = self._signals.get(self._main_pid) or (0, 0)
            self._signal = (signo, last[1] if last[0] == signo else 0)
        verdict = report.get("verdict")
        if self._decided is None:
            if self._quota_hit is not None:
                event = SandboxEvent._make(S_EVENT_QUOTA, self._quota_hit)
            elif verdict == "TimeLimit":
                event = SandboxEvent._make(S_EVENT_QUOTA, S_QUOTA_CPU)
            elif verdict == "WallTimeLimit":
                event = SandboxEvent._make(S_EVENT_QUOTA, S_QUOTA_WALLCLOCK)
            elif verdict == "OutputLimit" or signo == _SIGXFSZ:
                # libsandbox takes every SIGXFSZ for the disk quota, as the kernel's RLIMIT_FSIZE sends it.
                event = SandboxEvent._make(S_EVENT_QUOTA, S_QUOTA_DISK)
            elif signo:
                event = SandboxEvent._make(S_EVENT_SIGNAL, signo, 0, (self._signal[1],))
            elif code is not None:
                event = SandboxEvent._make(S_EVENT_EXIT, code)
            else:
                event = SandboxEvent._make(S_EVENT_ERROR, 0)
            action = self._decide(event)
            if action.type in (S_ACTION_FINI, S_ACTION_KILL):
                self._decided = action
        if self._decided is None:
            # The policy let the program go on, but it has gone: libsandbox's bad policy.
            self._result = Sandbox.S_RESULT_BP
        else:
            self._result = self._decided.data
        self._pid = None
        self._status = Sandbox.S_STATUS_FIN

    def probe(self, compatible: bool = True) -> Dict[str, Any]:
        """The program's statistics: elapsed (ms), cpu_info (cpu, user, system ms; tsc), mem_info
        (virtual, peak virtual, resident, peak resident kB; minor and major faults), signal_info,
        syscall_info (the last call's number and mode), exitcode; ``compatible`` adds cpu,
        cpu.usr, cpu.sys, cpu.tsc, mem.vsize, mem.rss, mem.minflt, mem.majflt, signal, syscall."""
        if not self._started:
            raise AssertionError("cannot probe a sandbox that never ran")
        elapsed = self._elapsed
        d = {
            "elapsed": elapsed,
            "cpu_info": self._cpu,
            "mem_info": tuple(self._mem),
            "signal_info": self._signal,
            "syscall_info": self._syscall,
            "exitcode": self._exitcode,
        }
        if compatible:
            d["cpu"], d["cpu.usr"], d["cpu.sys"], d["cpu.tsc"] = self._cpu
            d["mem.vsize"], d["mem.rss"] = self._mem[1], self._mem[3]
            d["mem.minflt"], d["mem.majflt"] = self._mem[4], self._mem[5]
            d["signal"] = self._signal[0]
            d["syscall"] = self._syscall[0]
        return d

    def dump(self, typeid: int, address: int) -> Any:
        """Reads the program's memory at ``address`` as ``typeid`` (T_*: an int, a float, or bytes
        for T_STRING). Only while the program is stopped for the policy; None for an address that
        cannot be read."""
        try:
            return self._dump(typeid, address)
        except ValueError:
            return None

    def _dump(self, typeid: int, address: int) -> Any:
        pid = self._blocked_pid
        if self._status != Sandbox.S_STATUS_BLK or pid is None:
            raise AssertionError("cannot dump a sandbox unless its program is stopped for the policy")
        address = int(address) & 0xFFFFFFFFFFFFFFFF
        if typeid == Sandbox.T_STRING:
            out = b""
            while True:
                word = _read_memory(pid, address + len(out), 8)
                if len(word) < 8:
                    raise ValueError("the address cannot be read")
                nul = word.find(b"\0")
                if nul >= 0:
                    return out + word[:nul]
                out += word
        word = _read_memory(pid, address, 8)
        if len(word) < 8:
            raise ValueError("the address cannot be read")
        formats = {Sandbox.T_CHAR: "b", Sandbox.T_BYTE: "b", Sandbox.T_UBYTE: "B", Sandbox.T_SHORT: "h",
                   Sandbox.T_USHORT: "H", Sandbox.T_INT: "i", Sandbox.T_UINT: "I", Sandbox.T_LONG: "q",
                   Sandbox.T_ULONG: "Q", Sandbox.T_FLOAT: "f", Sandbox.T_DOUBLE: "d"}
        if typeid not in formats:
            raise TypeError("not a type id for dump: %r" % (typeid,))
        fmt = "=" + formats[typeid]
        return struct.unpack(fmt, word[:struct.calcsize(fmt)])[0]


def _export(cls: type, prefix: str) -> None:
    for name in dir(cls):
        if name.startswith(prefix):
            globals()[name] = getattr(cls, name)
            __all__.append(name)


_export(SandboxEvent, "S_EVENT_")
_export(SandboxAction, "S_ACTION_")
_export(Sandbox, "S_QUOTA_")
_export(Sandbox, "S_STATUS_")
_export(Sandbox, "S_RESULT_")
_export(Sandbox, "T_")
del _export
