"""The modules pyminisandbox.pyminisandbox and pyminisandbox.pyminitapbox, and the C libraries under them.

mini_sandbox_start() turns the calling process into the sandbox's payload, so each case runs a
small program of its own and looks at what it printed and how it ended.
"""

import http.server
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading

import pytest

import pyminisandbox.pyminisandbox as mn_sbx
import pyminisandbox.pyminitapbox as mn_tap


def run_program(code, cwd, timeout=120):
    """Runs a Python program (dedented) in cwd; returns (exit status, stdout, stderr)."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def test_the_program_goes_on_inside_and_its_status_is_the_process_s(scratch):
    code, out, err = run_program("""
        import os, sys
        import pyminisandbox.pyminisandbox as m
        before = os.getpid()
        print("outside", flush=False)
        assert m.mini_sandbox_setup_default() == 0
        assert m.mini_sandbox_is_running() is False
        assert m.mini_sandbox_start() == 0
        # What the program starts knows it runs inside (os.environ is Python's copy from its start).
        print("inside", os.getpid() != before, m.mini_sandbox_is_running(), os.popen("echo $__INTERNAL_MINI_SANDBOX_ON").read().strip())
        # A second start, and any configuration, is refused: the sandbox is running.
        print("again", m.mini_sandbox_start(), m.mini_sandbox_get_last_error_code() == m.MiniSandboxErrors.SANDBOX_ALREADY_STARTED)
        print("mount", m.mini_sandbox_mount_write("/"), m.mini_sandbox_get_last_error_msg())
        sys.exit(5)
        """, scratch)
    assert code == 5, out + err
    lines = out.splitlines()
    # What was printed before the start comes out once.
    assert lines[0] == "outside" and out.count("outside") == 1, out
    assert lines[1] == "inside True True 1", out
    assert lines[2] == "again -1 True", out
    assert lines[3] == "mount -1 [MiniSbxMountWrite:751]:  : Sandbox was already started. Cannot change the configuration.", out


@pytest.fixture
def home_dir():
    """A fresh directory right below $HOME: -x shows $HOME empty but for what is bound there."""
    path = os.path.join(os.path.expanduser("~"), "pyminisandbox-" + os.urandom(4).hex())
    os.makedirs(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_default_layout_writes_persist_only_where_asked(scratch, home_dir):
    # The working directory's tree (from the directory below $HOME) is overlaid, so a bind inside it
    # would be covered by the overlay, as with mini-sandbox: the read-only one is beside it.
    kept, overlaid, bound = os.path.join(scratch, "kept"), os.path.join(scratch, "overlaid"), home_dir
    for d in (kept, overlaid):
        os.makedirs(d)
    work = os.path.join(scratch, "work")
    os.makedirs(work)
    code, out, err = run_program(f"""
        import errno, os, socket
        import pyminisandbox.pyminisandbox as m
        assert m.mini_sandbox_setup_default() == 0
        assert m.mini_sandbox_mount_write({kept!r}) == 0
        assert m.mini_sandbox_mount_overlay({overlaid!r}) == 0
        assert m.mini_sandbox_mount_bind({bound!r}) == 0
        assert m.mini_sandbox_start() == 0
        def write(path):
            try:
                with open(path, "w") as f:
                    f.write("x")
                return "ok"
            except OSError as e:
                return errno.errorcode[e.errno]
        print(write({kept!r} + "/a"), write({overlaid!r} + "/b"), write({bound!r} + "/c"), write("here"))
        # No network but the loopback.
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("192.0.2.1", 80))
            print("connected")
        except OSError as e:
            print("network", errno.errorcode.get(e.errno, e.errno))
        """, work)
    assert code == 0, out + err
    first, network = out.splitlines()
    assert first == "ok ok EROFS ok", out
    assert network == "network ENETUNREACH", out
    assert os.path.exists(os.path.join(kept, "a"))
    assert not os.path.exists(os.path.join(overlaid, "b"))
    assert os.path.exists(os.path.join(work, "here"))


def test_descriptors_and_signal_handlers_of_the_program_stay_the_engine_s_go(scratch):
    code, out, err = run_program("""
        import os, signal
        import pyminisandbox.pyminisandbox as m
        got = []
        signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
        r, w = os.pipe()
        os.set_inheritable(w, False)
        before = set(os.listdir("/proc/self/fd"))
        assert m.mini_sandbox_setup_default() == 0
        assert m.mini_sandbox_start() == 0
        os.write(w, b"through the pipe")
        print(os.read(r, 100).decode())
        os.kill(os.getpid(), signal.SIGUSR1)
        print("handler", got)
        # The runtime's handlers are gone: a segfault is the default one again, and SIGPIPE as Python set it.
        print("segv", signal.getsignal(signal.SIGSEGV) == signal.SIG_DFL, "pipe", signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN)
        now = set(os.listdir("/proc/self/fd"))
        print("fds", sorted(now - before, key=int) == [] or sorted(now - before, key=int))
        """, scratch)
    assert code == 0, out + err
    assert out.splitlines() == ["through the pipe", "handler [1]", "segv True pipe True", "fds True"], out


def test_a_sandbox_that_cannot_be_set_up_leaves_the_program_outside_with_the_reason(scratch):
    a_file = os.path.join(scratch, "file")
    open(a_file, "w").close()
    code, out, err = run_program(f"""
        import os
        import pyminisandbox.pyminisandbox as m
        before = os.getpid()
        assert m.mini_sandbox_setup_default() == 0
        # A file cannot be overlaid: the sandbox fails while it is set up.
        assert m.mini_sandbox_mount_overlay({a_file!r}) == 0
        print(m.mini_sandbox_start(), os.getpid() == before, m.mini_sandbox_get_last_error_code() == m.MiniSandboxErrors.GENERAL_OS_ERROR)
        print(m.mini_sandbox_get_last_error_msg())
        print(m.mini_sandbox_start(), m.mini_sandbox_get_last_error_code() == m.MiniSandboxErrors.SANDBOX_ALREADY_STARTED, m.mini_sandbox_is_running())
        """, scratch)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "-1 True True", out
    assert lines[1].startswith("husk: ") and a_file in lines[1], out
    assert lines[2] == "-1 True True", out


def test_configuration_errors_have_mini_sandbox_s_codes_and_words(scratch):
    code, out, err = run_program("""
        import pyminisandbox.pyminisandbox as m
        E = m.MiniSandboxErrors
        def check(result, code):
            print(result, m.mini_sandbox_get_last_error_code() == code, m.mini_sandbox_get_last_error_msg())
        check(m.mini_sandbox_mount_overlay("/bin"), E.OVERLAY_OPTION_NOT_SET)
        check(m.mini_sandbox_setup_default(), 0)
        check(m.mini_sandbox_mount_write("relative/missing"), E.NOT_AN_ABSOLUTE_PATH)
        check(m.mini_sandbox_setup_hermetic("/tmp"), E.INVALID_FUNCTIONING_MODE)
        check(m.mini_sandbox_enable_log("/nonexistent-dir/log"), E.PATH_DOES_NOT_EXIST)
        print(m.mini_sandbox_allow_ipv4("10.0.0.1") == E.FEATURE_NOT_AVAILABLE, m.mini_sandbox_mount_parents_write(0) == E.INVALID_ARG)
        """, scratch)
    assert code == 0, out + err
    assert out.splitlines() == [
        "-1 True [MiniSbxMountOverlay:803]: Overlay option not enabled",
        "0 False [MiniSbxMountOverlay:803]: Overlay option not enabled",
        "-1 True [ValidatePath:146]: Must use absolute paths: relative/missing",
        "-1 True [MiniSbxSetupHermetic:907]: Only one between default, overlayfs and hermetic must be used",
        "-1 True [ValidateDirPath:168]: Path does not exist: /nonexistent-dir",
        "True True",
    ], out


def test_a_program_started_inside_does_not_nest_a_second_sandbox(scratch):
    code, out, err = run_program("""
        import subprocess, sys
        import pyminisandbox.pyminisandbox as m
        assert m.mini_sandbox_setup_default() == 0
        assert m.mini_sandbox_start() == 0
        inner = "import pyminisandbox.pyminisandbox as m; print(m.mini_sandbox_is_running(), m.mini_sandbox_start(), m.mini_sandbox_get_last_error_code())"
        print(subprocess.run([sys.executable, "-c", inner], capture_output=True, text=True).stdout.strip())
        """, scratch)
    assert code == 0, out + err
    assert out.strip() == "True -2 -201", out


class _Web(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"reached"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    """An HTTP server of the test's own on the host's loopback: its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def require_allowlist():
    if shutil.which("nft", path="/usr/sbin:/sbin:/usr/bin:/bin") is None or shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin") is None:
        pytest.skip("the allowlist needs nft (nftables) and ip (iproute2): .ci/run installs them")


# Asks the sandbox's resolver (the supervisor) directly: /etc/hosts would answer "localhost" with
# the sandbox's own loopback. Then connects to the (fake) address it gave and fetches a page.
TAP_CLIENT = """
import errno, socket, struct
def resolve(name):
    q = struct.pack(">6H", 7, 0x100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0" + struct.pack(">2H", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10); s.sendto(q, ("127.0.0.1", 53)); r = s.recv(4096)
    i = len(q)
    for _ in range(struct.unpack(">H", r[6:8])[0]):
        while r[i] and r[i] < 0xC0: i += r[i] + 1
        i += 2 if r[i] else 1
        typ, _, _, n = struct.unpack(">HHIH", r[i:i + 10]); i += 10
        if typ == 1 and n == 4: return socket.inet_ntoa(r[i:i + 4])
        i += n
    return None
def fetch(addr, port):
    try:
        s = socket.create_connection((addr, port), 10); s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); data = b""
        while True:
            d = s.recv(65536)
            if not d: break
            data += d
        return data.decode().split("\\r\\n\\r\\n", 1)[-1] or "closed"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
"""


def test_tapbox_rules_are_the_egress_allowlist(scratch, web):
    require_allowlist()
    code, out, err = run_program(TAP_CLIENT + f"""
import pyminisandbox.pyminitapbox as m
E = m.MiniSandboxErrors
assert m.mini_sandbox_setup_default() == 0
assert m.mini_sandbox_allow_domain("localhost") == 0
# A rule after allow_all_domains is refused, and allow_all_domains after a rule.
print(m.mini_sandbox_allow_all_domains(), m.mini_sandbox_get_last_error_code() == E.ILLEGAL_NETWORK_CONFIGURATION)
print(m.mini_sandbox_share_network() == E.FEATURE_NOT_AVAILABLE)
assert m.mini_sandbox_start() == 0
addr = resolve("localhost")
print(fetch(addr, {web}) if addr else "no address")
print(resolve("elsewhere.example"))
""", scratch)
    assert code == 0, out + err
    assert out.splitlines() == ["-1 True", "True", "reached", "None"], out


def test_tapbox_budget_of_connections_refuses_what_is_past_it(scratch, web):
    require_allowlist()
    # minitap counts a socket asking names as a connection: one question spends a budget of one.
    # (A budget that lets a connection reach a server is run against mini-sandbox's own tests with a
    # test upstream: the host's loopback, all a test here has, is closed to a budget without a rule.)
    code, out, err = run_program(TAP_CLIENT + f"""
import pyminisandbox.pyminitapbox as m
assert m.mini_sandbox_setup_default() == 0
assert m.mini_sandbox_allow_max_connections(1) == 0
assert m.mini_sandbox_start() == 0
addr = resolve("localhost")
print(addr is not None)
print(fetch(addr, {web}))
print(resolve("localhost"))
""", scratch)
    assert code == 0, out + err
    # Past the budget a connection is refused before its handshake, and names get no answer.
    assert out.splitlines() == ["True", "ECONNREFUSED", "None"], out


C_CLIENT = r"""
#include <linux-sandbox-api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    pid_t before = getpid();
    printf("outside\n");
    if (mini_sandbox_setup_default() != 0)
        return 20;
    if (argc > 1 && mini_sandbox_mount_overlay(argv[1]) != 0)
        return 21;
    int r = mini_sandbox_start();
    if (r != 0) {
        printf("not started %d %d %d %s\n", r, getpid() == before, mini_sandbox_get_last_error_code(), mini_sandbox_get_last_error_msg());
        return 0;
    }
    printf("inside %d %d\n", getpid() != before, mini_sandbox_is_running());
    r = mini_sandbox_start();
    printf("again %d %d\n", r, mini_sandbox_get_last_error_code() == MINI_SANDBOX_SANDBOX_ALREADY_STARTED);
    fflush(stdout);
    execl("/bin/sh", "sh", "-c", "echo exec; exit 3", (char *)NULL);
    return 30;
}
"""


def test_a_c_client_links_libmini_sandbox_and_continues_in_the_sandbox(artifacts, cc, scratch):
    header = os.path.join(artifacts, "include", "linux-sandbox-api.h")
    lib = os.path.join(artifacts, "lib")
    if not os.path.exists(header) or not os.path.exists(os.path.join(lib, "libmini-sandbox.so")):
        pytest.skip("libmini-sandbox is not built: run ./build.sh")
    src, exe = os.path.join(scratch, "client.c"), os.path.join(scratch, "client")
    with open(src, "w") as f:
        f.write(C_CLIENT)
    build = subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-o", exe, src, "-I", os.path.dirname(header), "-L", lib, "-lmini-sandbox",
                            "-Wl,-rpath," + lib], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    # Standard output is a pipe, so fully buffered: "outside" is written once, before the copy.
    run = subprocess.run([exe], capture_output=True, text=True, timeout=120, cwd=scratch)
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stdout.splitlines() == ["outside", "inside 1 1", "again -1 1", "exec"], run.stdout
    a_file = os.path.join(scratch, "file")
    open(a_file, "w").close()
    failed = subprocess.run([exe, a_file], capture_output=True, text=True, timeout=120, cwd=scratch)
    assert failed.returncode == 0, failed.stdout + failed.stderr
    lines = failed.stdout.splitlines()
    assert lines[0] == "outside" and lines[1].startswith("not started -1 1 -100 husk: "), failed.stdout


def test_the_modules_have_pyminisandbox_s_names():
    names = {n for n in dir(mn_sbx) if n.startswith("mini_sandbox_")}
    assert {"mini_sandbox_setup_default", "mini_sandbox_setup_custom", "mini_sandbox_setup_hermetic", "mini_sandbox_start",
            "mini_sandbox_mount_bind", "mini_sandbox_mount_write", "mini_sandbox_mount_tmpfs", "mini_sandbox_mount_overlay",
            "mini_sandbox_mount_empty_output_file", "mini_sandbox_set_working_dir", "mini_sandbox_mount_parents_write",
            "mini_sandbox_enable_log", "mini_sandbox_get_last_error_code", "mini_sandbox_get_last_error_msg",
            "mini_sandbox_is_running", "mini_sandbox_share_network", "mini_sandbox_allow_connections",
            "mini_sandbox_allow_max_connections", "mini_sandbox_allow_ipv4", "mini_sandbox_allow_domain",
            "mini_sandbox_allow_all_domains", "mini_sandbox_allow_ipv4_subnet"} <= names
    assert names == {n for n in dir(mn_tap) if n.startswith("mini_sandbox_")}
    assert mn_sbx.MiniSandboxErrors.SANDBOX_ALREADY_STARTED == -202 and mn_tap.MiniSandboxErrors.INVALID_ARG == -1003
    assert mn_sbx.is_platform_supported()
