"""The module sandbox: pysandbox 0.3.5's API over Husk.

The sample judge: a whitelist policy in the manner of pysandbox's own sample (sample2.py), over
programs that read their input, loop, allocate, and open a file they may not; each gets the
verdict it gets under libsandbox.
"""

import os
import subprocess
import textwrap

import pytest

import sandbox
from sandbox import *  # noqa: F403 - the way pysandbox programs import it

# What a static glibc 2.36 program calls on its way in and out, and for stdio and malloc:
# read write close fstat lseek mmap mprotect munmap brk ioctl readlink arch_prctl
# set_tid_address exit_group newfstatat set_robust_list prlimit64 getrandom rseq exit.
JUDGE_SAFE = {0, 1, 3, 5, 8, 9, 10, 11, 12, 16, 89, 158, 218, 231, 262, 273, 302, 318, 334, 60}


class JudgePolicy(SandboxPolicy):
    """A whitelist: any system call not listed is a restricted function (RF)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __call__(self, e, a):
        if e.type in (S_EVENT_SYSCALL, S_EVENT_SYSRET):
            self.calls.append(e.data)
            if (e.data, e.ext0) not in {(n, 0) for n in JUDGE_SAFE}:
                a.type, a.data = S_ACTION_KILL, S_RESULT_RF
                return a
            a.type = S_ACTION_CONT
            return a
        return SandboxPolicy.__call__(self, e, a)


PROGRAMS = {
    "reader": r"""
        #include <stdio.h>
        int main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 2; printf("%ld\n", a + b); return 0; }
    """,
    "loop": r"""
        int main(void) { volatile unsigned long n = 0; for (;;) n++; }
    """,
    "allocator": r"""
        #include <stdlib.h>
        #include <string.h>
        int main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 3; memset(p, 1, 1 << 20); } }
    """,
    "opener": r"""
        #include <stdio.h>
        int main(void) { FILE *f = fopen("/etc/passwd", "r"); return f ? 0 : 1; }
    """,
    "exit3": r"""
        int main(void) { return 3; }
    """,
    "crasher": r"""
        int main(void) { return *(volatile int *)0; }
    """,
    "open_close": r"""
        #include <fcntl.h>
        #include <unistd.h>
        int main(void) { int fd = open("/etc/hostname", O_RDONLY); if (fd < 0) return 1; return close(fd) ? 2 : 0; }
    """,
}


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    import shutil
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = {}
    d = tmp_path_factory.mktemp("judge")
    for name, code in PROGRAMS.items():
        src = d / (name + ".c")
        src.write_text(textwrap.dedent(code))
        exe = d / name
        p = subprocess.run(["gcc", "-O0", "-static", "-o", str(exe), str(src)], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip("cannot build static programs (libc6-dev's libc.a): " + p.stderr[-200:])
        out[name] = str(exe)
    return out


def judge(program, stdin=None, quota=None, stdout=None):
    quota = quota or dict(wallclock=10000, cpu=1000, memory=64 << 20, disk=1 << 20)
    policy = JudgePolicy()
    s = Sandbox([program], quota=quota, policy=policy, stdin=stdin, stdout=stdout)
    s.run()
    return s, policy


def test_a_reader_of_stdin_is_ok(programs, scratch):
    inp = os.path.join(scratch, "in")
    out = os.path.join(scratch, "out")
    with open(inp, "w") as f:
        f.write("40 2\n")
    with open(inp) as i, open(out, "w") as o:
        s, policy = judge(programs["reader"], stdin=i, stdout=o)
    assert s.status == S_STATUS_FIN
    assert s.result == S_RESULT_OK
    assert open(out).read() == "42\n"
    assert 0 in policy.calls and 231 in policy.calls  # read, exit_group: one event per call
    d = s.probe()
    assert d["exitcode"] == 0 and d["syscall_info"] == (231, 0)


def test_a_loop_is_tl_within_the_suite_s_tolerance(programs):
    s, _ = judge(programs["loop"], quota=dict(wallclock=10000, cpu=500))
    assert s.result == S_RESULT_TL
    cpu = s.probe()["cpu_info"][0]
    assert 500 <= cpu < 500 + 300


def test_an_allocator_is_ml(programs):
    s, _ = judge(programs["allocator"], quota=dict(wallclock=10000, cpu=2000, memory=16 << 20))
    assert s.result == S_RESULT_ML
    assert s.probe()["mem_info"][1] * 1024 > 16 << 20


def test_a_forbidden_open_is_rf_at_the_call(programs):
    s, _ = judge(programs["opener"])
    assert s.result == S_RESULT_RF
    assert s.probe()["syscall_info"] == (257, 0)  # openat: killed before it ran


def test_a_non_zero_exit_is_at(programs):
    s, _ = judge(programs["exit3"])
    assert s.result == S_RESULT_AT and s.probe()["exitcode"] == 3


def test_dump_reads_the_program_s_memory_in_the_policy(programs):
    seen = []

    class Reader(JudgePolicy):
        def __call__(self, e, a):
            # As libsandbox, the call comes twice: at its entry, and at its return (SYSRET).
            if e.type == S_EVENT_SYSCALL and e.data == 257:
                seen.append(box.dump(T_STRING, e.ext2))
                seen.append(box.dump(T_STRING, 0))  # an address that cannot be read: None
            if e.data == 257:
                a.type = S_ACTION_CONT
                return a
            return super().__call__(e, a)

    box = Sandbox([programs["opener"]], policy=Reader())
    box.run()
    assert seen[:2] == [b"/etc/passwd", None]
    assert box.result == S_RESULT_OK
    with pytest.raises(AssertionError):
        box._dump(T_STRING, 0)  # only while the program is stopped for the policy


def test_the_fatal_signal_comes_with_its_code(programs):
    # libsandbox reports the signal's si_code, which Husk reads at its delivery (ptrace).
    s, _ = judge(programs["crasher"])
    assert s.result == S_RESULT_RT
    assert s.probe()["signal_info"] == (11, 1)  # SIGSEGV, SEGV_MAPERR


def test_sysret_events_carry_what_the_call_returned(programs):
    class CloseWhatWasOpened(JudgePolicy):
        """pysandbox's suite's SelectiveOpenPolicy in small: a descriptor may be closed only once an open returned it."""

        def __init__(self):
            super().__init__()
            self.opened = set()

        def __call__(self, e, a):
            if e.data in (2, 257) and e.type in (S_EVENT_SYSCALL, S_EVENT_SYSRET):
                if e.type == S_EVENT_SYSRET and e.ext1 >= 0:
                    self.opened.add(e.ext1)
                a.type = S_ACTION_CONT
                return a
            if e.type == S_EVENT_SYSCALL and e.data == 3 and e.ext1 not in self.opened:
                a.type, a.data = S_ACTION_KILL, S_RESULT_RF
                return a
            return super().__call__(e, a)

    policy = CloseWhatWasOpened()
    s = Sandbox([programs["open_close"]], policy=policy)
    s.run()
    assert policy.opened == {3}
    assert s.result == S_RESULT_OK, s.probe()


def test_names_and_values_are_pysandbox_s():
    assert sandbox.__version__ >= "0.3.5-1"
    assert (S_EVENT_ERROR, S_EVENT_EXIT, S_EVENT_SIGNAL, S_EVENT_SYSCALL, S_EVENT_SYSRET, S_EVENT_QUOTA) == (0, 1, 2, 3, 4, 5)
    assert (S_ACTION_CONT, S_ACTION_FINI, S_ACTION_KILL) == (0, 1, 2)
    assert (S_QUOTA_WALLCLOCK, S_QUOTA_CPU, S_QUOTA_MEMORY, S_QUOTA_DISK) == (0, 1, 2, 3)
    assert (S_STATUS_PRE, S_STATUS_RDY, S_STATUS_EXE, S_STATUS_BLK, S_STATUS_FIN) == (0, 1, 2, 3, 4)
    assert [S_RESULT_PD, S_RESULT_OK, S_RESULT_RF, S_RESULT_ML, S_RESULT_OL, S_RESULT_TL, S_RESULT_RT,
            S_RESULT_AT, S_RESULT_IE, S_RESULT_BP, S_RESULT_R5] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15]
    assert (T_SHORT, T_INT, T_LONG, T_FLOAT, T_DOUBLE, T_STRING, T_CHAR, T_BYTE, T_UBYTE, T_USHORT, T_UINT, T_ULONG) == (
        0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12)
    e = SandboxEvent(S_EVENT_SYSCALL, (1 << 32) | 257, -100)
    assert (e.type, e.data, e.ext0, e.ext1) == (S_EVENT_SYSCALL, 257, 1, -100)
    with pytest.raises(AttributeError):
        e.data = 1
    a = SandboxAction(S_ACTION_KILL, S_RESULT_RF)
    assert (a.type, a.data) == (S_ACTION_KILL, S_RESULT_RF)


def test_the_default_policy_finishes_kills_and_forbids_process_creation():
    p = SandboxPolicy()
    a = SandboxAction(S_ACTION_CONT)
    assert p(SandboxEvent(S_EVENT_EXIT, 0), a).type == S_ACTION_FINI and a.data == S_RESULT_OK
    assert p(SandboxEvent(S_EVENT_EXIT, 1), a).data == S_RESULT_AT
    assert (p(SandboxEvent(S_EVENT_SIGNAL, 11), a).type, a.data) == (S_ACTION_KILL, S_RESULT_RT)
    assert p(SandboxEvent(S_EVENT_SIGNAL, 19), a).type == S_ACTION_CONT
    assert p(SandboxEvent(S_EVENT_QUOTA, S_QUOTA_MEMORY), a).data == S_RESULT_ML
    assert p(SandboxEvent(S_EVENT_QUOTA, S_QUOTA_DISK), a).data == S_RESULT_OL
    assert p(SandboxEvent(S_EVENT_SYSCALL, 56), a).data == S_RESULT_RF  # clone
    assert p(SandboxEvent(S_EVENT_SYSCALL, 0), a).type == S_ACTION_CONT
    with pytest.raises(AssertionError):
        p(None, a)


def test_constructor_keywords_and_their_errors(programs):
    s = Sandbox(programs["exit3"], quota=[1000, 2000], policy=SandboxPolicy())
    assert s.task == (programs["exit3"],)
    assert s.jail == "/" and s.status == S_STATUS_RDY and s.result == S_RESULT_PD and s.pid is None
    assert s.quota[:2] == (1000, 2000) and s.quota[2] == 2 ** 64 - 1
    assert (s.owner, s.group) == (os.getuid(), os.getgid())
    with pytest.raises(ValueError):
        Sandbox("/non/existence")
    with pytest.raises(TypeError):
        Sandbox([programs["exit3"]], policy=object())
    with pytest.raises(TypeError):
        s.policy = object()
    with pytest.raises(ValueError):
        Sandbox([programs["exit3"]], quota=dict(cpu=-1))
    with pytest.raises(AssertionError):
        s.probe()  # never started


def test_a_bad_policy_is_bp(programs):
    class Bad(SandboxPolicy):
        def __call__(self, e, a):
            return None

    s = Sandbox([programs["exit3"]], policy=Bad())
    s.run()
    assert s.result == S_RESULT_BP


def test_a_policy_that_never_finishes_is_bp(programs):
    class Forever(SandboxPolicy):
        def __call__(self, e, a):
            return a

    s = Sandbox([programs["exit3"]], policy=Forever())
    s.run()
    assert s.result == S_RESULT_BP


def test_a_subclass_that_is_its_own_policy_as_in_pysandbox_s_sample(programs):
    class Both(SandboxPolicy, Sandbox):
        def __init__(self, *args, **kwds):
            SandboxPolicy.__init__(self)
            Sandbox.__init__(self, *args, **kwds)
            self.policy = self

        def __call__(self, e, a):
            return SandboxPolicy.__call__(self, e, a)

    s = Both(args=[programs["exit3"]], quota=dict(cpu=1000))
    s.run()
    assert s.result == S_RESULT_AT
    assert s.probe(False)["exitcode"] == 3
