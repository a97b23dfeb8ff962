"""The Python package husk over libhusk: runs, limits, streams, policies, errors, forks."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import husk

PY = sys.executable


def test_a_run_gives_the_exit_the_output_and_the_report(repository):
    r = husk.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], fs="ro", capture_output=True)
    assert (r.exit_code, r.signal, r.returncode) == (3, None, 3)
    assert r.verdict is husk.Verdict.RUNTIME_ERROR and r.libsandbox == "AT"
    assert (r.stdout, r.stderr) == (b"out\n", b"err\n")
    # The report is husk run --report's object, every key of the published schema (the optional
    # syscall_counts and network only when traced or networked).
    schema = json.load(open(os.path.join(repository, "docs", "schema", "husk-result.schema.json")))
    assert set(r.report) == set(schema["properties"]) - {"syscall_counts", "network"} == set(schema["required"])


def test_success_is_ok():
    r = husk.run(["/bin/true"], fs="ro")
    assert r.ok and r.verdict is husk.Verdict.OK and r.returncode == 0


def test_the_payload_does_not_inherit_python_s_ignored_signals():
    # Python ignores SIGXFSZ (and SIGPIPE) for itself; a payload that inherited that would write
    # past RLIMIT_FSIZE forever instead of dying of it (pysandbox's rlimit_fsz test hung so).
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    r = husk.run(["/bin/cat", "/proc/self/status"], fs="ro", capture_output=True)
    ignored = int(next(line for line in r.stdout.decode().splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    assert ignored & (1 << (signal.SIGXFSZ - 1)) == 0 and ignored & (1 << (signal.SIGPIPE - 1)) == 0, hex(ignored)


def test_cpu_time_limit_kills_a_busy_loop():
    r = husk.run(["/bin/sh", "-c", "while :; do :; done"], fs="ro", time_limit=0.3)
    assert r.verdict is husk.Verdict.TIME_LIMIT
    assert r.signal == signal.SIGKILL
    assert 0.3 <= r.cpu_time < 2


def test_wall_time_limit_kills_a_sleeper():
    r = husk.run(["/bin/sleep", "30"], fs="ro", wall_time="300ms")
    assert r.verdict is husk.Verdict.WALL_TIME_LIMIT
    assert r.wall_time < 10


def test_memory_limit_kills_an_allocator():
    code = "b = bytearray(400 << 20); import time; time.sleep(5)"
    r = husk.run([PY, "-c", code], fs="ro", memory="64M", wall_time=20)
    assert r.verdict is husk.Verdict.MEMORY_LIMIT, r.message


def test_network_is_loopback_only_unless_host_is_asked():
    def interfaces(**kw):
        r = husk.run(["/bin/cat", "/proc/net/dev"], fs="ro", capture_output=True, **kw)
        return {line.split(":")[0].strip() for line in r.stdout.decode().splitlines()[2:]}

    assert interfaces() == {"lo"}
    assert interfaces(network="none") == {"lo"}
    with open("/proc/net/dev") as f:
        host = {line.split(":")[0].strip() for line in f.read().splitlines()[2:]}
    assert interfaces(network="host") == host


def test_binds_write_through_and_ro_binds_refuse(scratch):
    rw = os.path.join(scratch, "rw")
    ro = os.path.join(scratch, "ro")
    os.mkdir(rw)
    os.mkdir(ro)
    os.chmod(rw, 0o777)  # root's payload is a subordinate uid, to which root's directories are others'
    r = husk.run(["/bin/sh", "-c", "echo hi > /data/f"], fs="ro", binds={rw: "/data"})
    assert r.ok, r.message
    assert open(os.path.join(rw, "f")).read() == "hi\n"
    r = husk.run(["/bin/sh", "-c", "echo hi > " + ro + "/f"], fs="ro", ro_binds=[ro], capture_output=True)
    assert r.exit_code != 0 and b"Read-only" in r.stderr
    assert not os.path.exists(os.path.join(ro, "f"))


def test_the_default_overlay_keeps_writes_in_a_layer(scratch):
    target = os.path.join(scratch, "made-inside")
    r = husk.run(["/bin/sh", "-c", "echo x > " + target])
    try:
        assert r.ok, r.message
        assert not os.path.exists(target), "the write must land in the layer, not on the host"
        assert r.layer is not None
        assert os.path.exists(os.path.join(r.layer, "upperdir", target.lstrip("/")))
    finally:
        if r.layer:
            subprocess.run(["rm", "-rf", r.layer])


def test_the_environment_is_this_process_s_as_it_is_now_or_env():
    os.environ["HUSK_PY_TEST"] = "now"
    try:
        r = husk.run(["/bin/sh", "-c", "echo $HUSK_PY_TEST"], fs="ro", capture_output=True)
        assert r.stdout == b"now\n"
        r = husk.run(["/usr/bin/env"], fs="ro", env={"ONLY": "1"}, capture_output=True)
        assert b"ONLY=1" in r.stdout and b"HUSK_PY_TEST" not in r.stdout
    finally:
        del os.environ["HUSK_PY_TEST"]


def test_cwd_and_extra_options(scratch):
    r = husk.run(["/bin/sh", "-c", "pwd; hostname"], fs="ro", cwd=scratch, options=[["--hostname", "box"]], capture_output=True)
    assert r.stdout == (scratch + "\nbox\n").encode()


def test_input_and_captured_output():
    r = husk.run(["/bin/sh", "-c", "tr a-z A-Z"], fs="ro", input=b"hello\n", capture_output=True)
    assert r.ok and r.stdout == b"HELLO\n"


def test_a_sandbox_gives_its_streams_as_files():
    with husk.Sandbox(["/bin/sh", "-c", "read x; echo got $x; echo e >&2"], fs="ro", stdin=husk.PIPE, stdout=husk.PIPE, stderr=husk.PIPE) as s:
        assert s.pid > 0
        s.stdin.write(b"hello\n")
        s.stdin.close()
        assert s.stdout.read() == b"got hello\n"
        assert s.stderr.read() == b"e\n"
        r = s.wait()
    assert r.ok


def test_wait_times_out_and_kill_ends_it():
    s = husk.Sandbox(["/bin/sleep", "30"], fs="ro").start()
    try:
        with pytest.raises(TimeoutError):
            s.wait(timeout=0.2)
        assert s.poll() is None
        s.kill()
        r = s.wait()
        assert r.signal == signal.SIGKILL
        assert s.poll() is r
    finally:
        s.close()


def test_run_with_a_timeout_kills_the_sandbox():
    with pytest.raises(TimeoutError):
        husk.run(["/bin/sleep", "30"], fs="ro", timeout=0.3, capture_output=True)


def test_a_policy_denies_and_kills():
    seen = []

    def deny_hostname(call):
        path = call.read_string(call.args[1])
        seen.append(path)
        return errno.EACCES if path == "/etc/hostname" else husk.ALLOW

    r = husk.run(["/bin/cat", "/etc/hostname"], fs="ro", policy=deny_hostname, syscalls=["openat"], capture_output=True)
    assert "/etc/hostname" in seen
    assert r.exit_code == 1 and b"Permission denied" in r.stderr

    r = husk.run(["/bin/cat", "/etc/hostname"], fs="ro", syscalls=["openat"],
                 policy=lambda c: husk.KILL if c.read_string(c.args[1]) == "/etc/hostname" else None)
    assert r.verdict is husk.Verdict.RESTRICTED_FUNCTION and r.libsandbox == "RF"


def test_a_traced_policy_sees_each_return_and_the_signals_with_their_codes():
    seen = []

    def record(call):
        seen.append((call.event, call.name, call.result, call.code))
        return husk.ALLOW

    # The shell sends itself SIGUSR1 (SI_USER) with kill, whose return (0) comes first.
    r = husk.run(["/bin/sh", "-c", "kill -USR1 $$"], fs="ro", policy=record, syscalls=["kill"], trace_policy=True)
    assert r.signal == 10
    kills = [e for e in seen if e[1] == "kill"]
    assert [e[0] for e in kills] == ["syscall", "sysret"] and kills[1][2] == 0
    assert ("signal", "SIGUSR1", 0, 0) in seen
    assert seen.index(("signal", "SIGUSR1", 0, 0)) > seen.index(kills[1])


def test_a_policy_that_raises_kills_the_sandbox_and_says_so():
    def broken(call):
        raise KeyError("oops")

    with pytest.raises(husk.PolicyError) as e:
        husk.run(["/bin/cat", "/etc/hostname"], fs="ro", policy=broken, syscalls=["openat"])
    assert isinstance(e.value.__cause__, KeyError)


def test_a_pool_runs_warm_with_limits_and_nothing_of_one_run_is_left_for_the_next():
    with husk.Pool() as pool:
        first = pool.run(["/bin/sh", "-c", "echo one > /tmp/mark && cat /tmp/mark"], fs="ro", capture_output=True)
        assert first.ok and first.stdout == b"one\n", (first.message, first.stderr)
        second = husk.run(["/bin/ls", "-A", "/tmp"], fs="ro", capture_output=True, pool=pool)
        assert second.ok and second.stdout == b"", second.stdout
        busy = pool.run([PY, "-c", "while True: pass"], fs="ro", time_limit=0.3)
        assert busy.verdict is husk.Verdict.TIME_LIMIT and busy.signal == signal.SIGKILL
        with husk.Sandbox(["/bin/cat"], fs="ro", stdin=husk.PIPE, stdout=husk.PIPE, pool=pool) as box:
            box.stdin.write(b"through the pool")
            box.stdin.close()
            assert box.stdout.read() == b"through the pool"
            assert box.wait().ok
    with pytest.raises(husk.HuskError):
        pool.run(["/bin/true"], fs="ro")


def test_a_pool_refuses_what_it_cannot_run_and_bad_options():
    with husk.Pool(network_per_run=False) as pool:
        with pytest.raises(husk.SpecError, match="overlay"):
            pool.run(["/bin/true"])
        assert pool.run(["/bin/true"], fs="ro").ok


def test_every_problem_of_a_spec_is_listed():
    with pytest.raises(husk.SpecError) as e:
        husk.run(["/bin/true"], memory="12x")
    assert "--memory: 12x" in str(e.value)
    with pytest.raises(husk.SpecError) as e:
        husk.validate(["/bin/true"], options=[["--bogus"], ["--tty"], ["--bind", "/a"]])
    lines = str(e.value).splitlines()
    assert len(lines) == 3
    assert "unknown option --bogus" in lines[0]
    assert "--tty is not for the library" in lines[1]
    assert "--bind takes SRC DST" in lines[2]


def test_a_missing_program_is_a_setup_error():
    with pytest.raises(husk.SetupError) as e:
        husk.run(["/nonexistent/program"], fs="ro")
    assert "No such file or directory" in str(e.value)


def test_a_forked_child_is_refused_not_hung():
    husk.run(["/bin/true"], fs="ro")  # the runtime is up in this process
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            husk.run(["/bin/true"], fs="ro")
            os.write(w, b"ran")
        except husk.ForkedError:
            os.write(w, b"refused")
        os._exit(0)
    os.close(w)
    answer = os.read(r, 100)
    os.waitpid(pid, 0)
    assert answer == b"refused"


def test_the_library_refuses_a_forked_child_itself():
    """Below the Python guard: libhusk's own check, through ctypes, in a forked child."""
    from husk import _native
    husk.run(["/bin/true"], fs="ro")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        rc = _native.lib.husk_validate(b'{"command": ["true"]}')
        os.write(w, b"%d %s" % (rc, _native.lib.husk_last_error()[:40]))
        os._exit(0)
    os.close(w)
    answer = os.read(r, 200)
    os.waitpid(pid, 0)
    assert answer.startswith(b"-4 called from a forked child"), answer


def test_a_host_under_rlimit_as_can_load_the_library():
    """A judge host often runs under RLIMIT_AS: the runtime must not reserve gigabytes at start."""
    code = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        import husk
        print(husk.run(["/bin/true"], fs="ro").verdict.value)
    """)
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "OK"


def test_versions():
    assert husk.version() == husk.__version__
    assert husk.__version__.count(".") == 2
    from husk import _native
    assert _native.lib.husk_abi() == 1
