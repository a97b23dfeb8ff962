"""The C ABI (husk.h) from C: a small client compiled here against artifacts/include and artifacts/lib."""

import os
import subprocess

import pytest

CLIENT = r"""
#include <husk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int calls;

static int32_t kill_on_uname(void *context, const husk_syscall *call)
{
    calls++;
    if (call->size < (int32_t)sizeof(husk_syscall) || call->event != HUSK_EVENT_SYSCALL || *(int *)context != 42)
        return HUSK_ALLOW;
    return strcmp(call->name, "uname") == 0 ? HUSK_KILL : HUSK_ALLOW;
}

static void expect(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok" : "FAILED", what);
    if (!ok)
        printf("  last error: %s\n", husk_last_error());
}

int main(void)
{
    char *result = NULL;
    expect(husk_abi() == HUSK_ABI_VERSION, "abi");
    expect(strlen(husk_version()) > 0, "version");
    expect(husk_validate("{\"command\": [\"true\"], \"frobnicate\": 1}") == HUSK_E_SPEC
           && strstr(husk_last_error(), "unknown key frobnicate") != NULL, "validate lists the problem");
    expect(husk_validate("{\"command\": [\"true\"]}") == HUSK_OK && husk_last_error()[0] == 0, "validate clears the error");

    expect(husk_run("{\"command\": [\"/bin/sh\", \"-c\", \"exit 7\"], \"options\": [[\"--fs\", \"ro\"]]}", NULL, NULL, &result) == HUSK_OK
           && strstr(result, "\"exit_code\":7") && strstr(result, "\"verdict\":\"RuntimeError\""), "run gives the result");
    husk_string_free(result);

    result = NULL;
    expect(husk_run("{\"command\": [\"/nonexistent\"], \"options\": [[\"--fs\", \"ro\"]]}", NULL, NULL, &result) == HUSK_E_SETUP
           && result && strstr(result, "\"verdict\":\"InternalError\"") && strstr(husk_last_error(), "No such file"), "a setup failure still has a result");
    husk_string_free(result);

    husk_handle h = 0;
    expect(husk_start("{\"command\": [\"/bin/sh\", \"-c\", \"read x; echo got $x\"], \"options\": [[\"--fs\", \"ro\"]], \"stdin\": \"pipe\", \"stdout\": \"pipe\"}",
                      NULL, NULL, &h) == HUSK_OK && h > 0, "start");
    expect(husk_pid(h) > 0, "pid");
    int in = husk_stdio(h, 0), out = husk_stdio(h, 1);
    expect(in >= 0 && out >= 0 && husk_stdio(h, 1) == -1, "stdio, once");
    expect(write(in, "hi\n", 3) == 3, "write stdin");
    close(in);
    char buf[64] = {0};
    ssize_t n = read(out, buf, sizeof buf - 1);
    expect(n == 7 && strcmp(buf, "got hi\n") == 0, "read stdout");
    close(out);
    expect(husk_wait(h, -1, &result) == HUSK_OK && strstr(result, "\"verdict\":\"OK\""), "wait");
    husk_string_free(result);
    expect(husk_free(h) == HUSK_OK && husk_free(h) == HUSK_E_HANDLE && husk_pid(h) == HUSK_E_HANDLE, "free, once");

    expect(husk_start("{\"command\": [\"/bin/sleep\", \"30\"], \"options\": [[\"--fs\", \"ro\"]]}", NULL, NULL, &h) == HUSK_OK, "start a sleeper");
    result = NULL;
    expect(husk_wait(h, 100, &result) == HUSK_RUNNING && result == NULL, "wait times out");
    expect(husk_kill(h, 9) == HUSK_OK && husk_wait(h, -1, &result) == HUSK_OK && strstr(result, "\"signal\":9"), "kill");
    husk_string_free(result);
    husk_free(h);

    int context = 42;
    expect(husk_run("{\"command\": [\"/bin/uname\"], \"options\": [[\"--fs\", \"ro\"]], \"stdout\": \"null\", \"syscalls\": [\"uname\", \"openat\"]}",
                    kill_on_uname, &context, &result) == HUSK_OK
           && strstr(result, "\"verdict\":\"RestrictedFunction\"") && calls > 0, "a policy kills");
    husk_string_free(result);
    expect(husk_run("{\"command\": [\"true\"], \"syscalls\": [\"uname\"]}", NULL, NULL, &result) == HUSK_E_SPEC, "syscalls need a policy");
    expect(husk_run("{\"command\": [\"true\"], \"stdout\": \"pipe\"}", NULL, NULL, &result) == HUSK_E_SPEC, "run refuses pipes");
    expect(husk_run(NULL, NULL, NULL, &result) == HUSK_E_ARGUMENT && husk_start("{}", NULL, NULL, NULL) == HUSK_E_ARGUMENT, "NULL arguments");

    husk_pool pool = 0;
    expect(husk_pool_new("{\"network_per_run\": 1}", &pool) == HUSK_E_SPEC && strstr(husk_last_error(), "network_per_run") != NULL,
           "pool options are checked");
    expect(husk_pool_new(NULL, &pool) == HUSK_OK && pool != 0, "a pool");
    expect(husk_pool_run(pool, "{\"command\": [\"/bin/sh\", \"-c\", \"exit 5\"], \"options\": [[\"--fs\", \"ro\"]]}", NULL, NULL, &result) == HUSK_OK
           && strstr(result, "\"exit_code\":5") != NULL, "a run from the pool");
    husk_string_free(result);
    expect(husk_pool_start(pool, "{\"command\": [\"/bin/echo\", \"warm\"], \"options\": [[\"--fs\", \"ro\"]], \"stdout\": \"pipe\"}", NULL, NULL, &h) == HUSK_OK,
           "a start from the pool");
    char warm[16] = { 0 };
    out = husk_stdio(h, 1);
    expect(out >= 0 && read(out, warm, sizeof warm - 1) == 5 && strcmp(warm, "warm\n") == 0, "its output");
    close(out);
    expect(husk_wait(h, -1, &result) == HUSK_OK && strstr(result, "\"verdict\":\"OK\"") != NULL, "its result");
    husk_string_free(result);
    husk_free(h);
    expect(husk_pool_run(pool, "{\"command\": [\"true\"]}", NULL, NULL, &result) == HUSK_E_SPEC && strstr(husk_last_error(), "overlay") != NULL,
           "a spec a pool cannot take");
    husk_string_free(result);
    expect(husk_pool_free(pool) == HUSK_OK && husk_pool_free(pool) == HUSK_E_HANDLE && husk_pool_run(pool, "{}", NULL, NULL, &result) == HUSK_E_HANDLE,
           "free a pool, once");

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        int rc = husk_validate("{\"command\": [\"true\"]}");
        printf("%s forked child refused (%d: %.30s)\n", rc == HUSK_E_FORKED ? "ok" : "FAILED", rc, husk_last_error());
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("done\n");
    return 0;
}
"""


def test_a_c_client_uses_every_function(artifacts, cc, scratch):
    header = os.path.join(artifacts, "include", "husk.h")
    lib = os.path.join(artifacts, "lib")
    if not os.path.exists(header):
        pytest.skip("artifacts/include/husk.h is missing: run ./build.sh")
    src = os.path.join(scratch, "client.c")
    exe = os.path.join(scratch, "client")
    with open(src, "w") as f:
        f.write(CLIENT)
    build = subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-o", exe, src, "-I", os.path.dirname(header), "-L", lib, "-lhusk", "-Wl,-rpath," + lib],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([exe], capture_output=True, text=True, timeout=120)
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout + run.stderr
    assert lines[-1] == "done"
    failed = [line for line in lines if not line.startswith(("ok ", "  last error", "done"))]
    assert not failed, run.stdout
    assert sum(line.startswith("ok ") for line in lines) == 29


LAYOUT = r"""
#include <husk.h>
#include <stddef.h>
#include <stdio.h>
int main(void)
{
    printf("%zu %zu %zu %zu %zu %zu %zu %zu %zu\n", sizeof(husk_syscall), offsetof(husk_syscall, size), offsetof(husk_syscall, event),
           offsetof(husk_syscall, pid), offsetof(husk_syscall, number), offsetof(husk_syscall, name), offsetof(husk_syscall, args),
           offsetof(husk_syscall, result), offsetof(husk_syscall, code));
    return 0;
}
"""


def test_the_python_view_of_husk_syscall_is_the_header_s(artifacts, cc, scratch):
    import ctypes
    from husk import _native
    header = os.path.join(artifacts, "include")
    src, exe = os.path.join(scratch, "layout.c"), os.path.join(scratch, "layout")
    with open(src, "w") as f:
        f.write(LAYOUT)
    subprocess.run([cc, "-o", exe, src, "-I", header], check=True)
    c = [int(x) for x in subprocess.run([exe], capture_output=True, text=True, check=True).stdout.split()]
    s = _native.HuskSyscall
    py = [ctypes.sizeof(s)] + [getattr(s, f).offset for f in ("size", "event", "pid", "number", "name", "args", "result", "code")]
    assert py == c
