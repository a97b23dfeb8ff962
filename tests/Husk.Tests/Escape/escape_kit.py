# Runs inside a default husk sandbox and tries known ways out. Prints one JSON object:
# technique -> {"outcome": "blocked" | "escaped" | "error", "errnos": [...], "note": "..."}.
# Blocked means the kernel refused: every refusal is an errno, listed in "errnos" for the test to
# check against what the policy gives (or, for a technique that looks rather than calls, a fact
# the note states). Any other exception is an "error": a broken probe, never a block.
# Host-side facts come in the environment (HUSK_ESCAPE: JSON with pids, ports, socket names,
# secret paths, system call numbers; "only": the techniques to try, when not all).
import ctypes, errno, json, os, socket, stat, struct, sys, traceback

facts = json.loads(os.environ["HUSK_ESCAPE"])
nr = facts["nr"]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
results = {}


def name_of(err):
    return errno.errorcode.get(err, str(err))


def blocked(*errs, note=""):
    return {"outcome": "blocked", "errnos": [name_of(e) for e in errs], "note": note}


def escaped(what):
    return {"outcome": "escaped", "errnos": [], "note": what}


def sc(name, *args):
    """A raw system call: (result, errno); a failure without an errno is the kit's bug."""
    conv = []
    for a in args:
        if isinstance(a, int):
            conv.append(ctypes.c_long(a))
        elif isinstance(a, str):
            conv.append(ctypes.c_char_p(a.encode()))
        else:
            conv.append(a)
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr[name]), *conv)
    e = ctypes.get_errno()
    if r < 0 and e == 0:
        raise RuntimeError("%s returned %d without an errno" % (name, r))
    return r, e


def refused(fn, *args):
    """Calls fn; the errno it fails with, or None when it worked. Only OSError with an errno counts."""
    try:
        fn(*args)
    except OSError as e:
        if e.errno is None:
            raise
        return e.errno
    return None


def attempt(name, fn):
    try:
        out = fn()
        if not (isinstance(out, dict) and out.get("outcome") in ("blocked", "escaped")):
            raise RuntimeError("the probe returned %r" % (out,))
    except OSError as e:
        out = blocked(e.errno, note=str(e)) if e.errno is not None else error(e)
    except Exception as e:
        out = error(e)
    results[name] = out


def error(e):
    return {"outcome": "error", "errnos": [], "note": "".join(traceback.format_exception(type(e), e, e.__traceback__)).strip()}


def ptrace():
    pid = facts["host_pid"]
    errs = []
    for req in (16, 0x4206):  # PTRACE_ATTACH, PTRACE_SEIZE
        r, e = sc("ptrace", req, pid, 0, 0)
        if r >= 0:
            return escaped("ptrace request %#x on host pid %d" % (req, pid))
        errs.append(e)
    return blocked(*errs)


def host_proc():
    pid = facts["host_pid"]
    if os.path.exists("/proc/%d" % pid):
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return escaped("/proc/%d shows %r" % (pid, f.read()))
    with open("/proc/1/cmdline", "rb") as f:
        init = f.read()
    if b"husk-init" not in init and init:
        return escaped("/proc/1 is %r" % init)
    return blocked(note="/proc shows only the sandbox (%d pids)" % len([p for p in os.listdir("/proc") if p.isdigit()]))


def kill_host():
    pid = facts["host_pid"]
    errs = []
    for sig in (0, 9):
        r, e = sc("kill", pid, sig)
        if r == 0:
            return escaped("kill(%d, %d) succeeded" % (pid, sig))
        errs.append(e)
    return blocked(*errs)


def mount():
    errs = []
    tries = [("none", "/tmp", "tmpfs", 0), ("none", "/", None, 0x20 | 0x1000)]  # tmpfs; MS_REMOUNT|MS_BIND rw
    for src, dst, fs, flags in tries:
        r, e = sc("mount", src, dst, fs if fs else 0, flags, 0)
        if r == 0:
            return escaped("mount %s on %s" % (fs, dst))
        errs.append(e)
    if os.system("mount -t tmpfs none /tmp 2>/dev/null") == 0 or os.system("mount -o remount,rw / 2>/dev/null") == 0:
        return escaped("mount(8) worked")
    return blocked(*errs)


def chroot_tricks():
    r, e = sc("chroot", "/tmp")
    if r == 0:
        return escaped("chroot succeeded")
    r2, e2 = sc("pivot_root", "/tmp", "/tmp")
    if r2 == 0:
        return escaped("pivot_root succeeded")
    handle = ctypes.create_string_buffer(struct.pack("II", 8, 1) + b"\0" * 120)
    r3, e3 = sc("open_by_handle_at", -100, handle, 0)
    if r3 >= 0:
        return escaped("open_by_handle_at succeeded")
    return blocked(e, e2, e3, note="chroot, pivot_root, open_by_handle_at")


def nested_userns():
    r, e = sc("unshare", 0x10000000)
    if r == 0:
        return escaped("unshare(CLONE_NEWUSER)")
    if os.system("unshare -U true 2>/dev/null") == 0 or os.system("unshare -Ur true 2>/dev/null") == 0:
        return escaped("unshare(1) made a user namespace")
    return blocked(e)


def io_uring():
    params = ctypes.create_string_buffer(120)
    r, e = sc("io_uring_setup", 4, params)
    return escaped("io_uring_setup") if r >= 0 else blocked(e)


def keyctl():
    r, e = sc("keyctl", 1, 0)  # KEYCTL_JOIN_SESSION_KEYRING
    if r >= 0:
        return escaped("keyctl")
    r2, e2 = sc("add_key", "user", "husk", "secret", 6, -3)
    if r2 >= 0:
        return escaped("add_key")
    return blocked(e, e2)


def bpf():
    attr = ctypes.create_string_buffer(struct.pack("IIII", 2, 4, 4, 1) + b"\0" * 56)  # BPF_MAP_TYPE_ARRAY
    r, e = sc("bpf", 0, attr, 72)
    return escaped("bpf map created") if r >= 0 else blocked(e)


def perf():
    attr = ctypes.create_string_buffer(struct.pack("IIQ", 1, 128, 0) + b"\0" * 112)  # software, cpu-clock
    r, e = sc("perf_event_open", attr, 0, -1, -1, 0)
    return escaped("perf_event_open") if r >= 0 else blocked(e)


def write_file(path, data):
    with open(path, "w") as f:
        f.write(data)


def proc_sys():
    errs = []
    for path, data in (("/proc/sys/kernel/core_pattern", "|/tmp/pwn"), ("/proc/sys/vm/drop_caches", "3"), ("/proc/sysrq-trigger", "h"),
                       ("/proc/sys/kernel/hostname", "pwned"), ("/sys/kernel/uevent_helper", "/tmp/pwn")):
        e = refused(write_file, path, data)
        if e is None:
            return escaped("wrote %s" % path)
        errs.append(e)
    return blocked(*errs, note="every write refused")


def open_close(path, flags):
    os.close(os.open(path, flags))


def read_one(path):
    with open(path, "rb") as f:
        f.read(1)


def self_exe():
    errs = []
    for path in [facts["husk"]] + ["/proc/%s/exe" % p for p in os.listdir("/proc") if p.isdigit()]:
        e = refused(open_close, path, os.O_WRONLY)
        if e is None:
            return escaped("opened %s for writing" % path)
        errs.append(e)
    e = refused(open_close, "/proc/1/exe", os.O_RDONLY)
    if e is None:
        return escaped("read husk-init's image through /proc/1/exe")
    errs.append(e)
    e = refused(read_one, "/proc/1/mem")
    if e is None:
        return escaped("read /proc/1/mem")
    errs.append(e)
    return blocked(*errs, note="no executable of the engine can be opened for writing")


def leaked_fds():
    fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    extra = [f for f in fds if f > 2 and os.path.exists("/proc/self/fd/%d" % f) and not os.readlink("/proc/self/fd/%d" % f).startswith("/proc/")]
    extra = [f for f in extra if f != 3 or os.readlink("/proc/self/fd/3") != "/proc/%d/fd" % os.getpid()]
    if extra:
        return escaped("descriptors %s: %s" % (extra, [os.readlink("/proc/self/fd/%d" % f) for f in extra]))
    return blocked(note="only %s" % fds)


def abstract_socket():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    e = refused(s.connect, "\0" + facts["abstract"])
    s.close()
    return escaped("connected to the host's @%s" % facts["abstract"]) if e is None else blocked(e)


def loopback():
    e = refused(lambda: socket.create_connection(("127.0.0.1", facts["port"]), timeout=3).close())
    return escaped("connected to the host's 127.0.0.1:%d" % facts["port"]) if e is None else blocked(e)


def mknod():
    errs = []
    for name, mode, dev in (("null", stat.S_IFCHR, os.makedev(1, 3)), ("sda", stat.S_IFBLK, os.makedev(8, 0)), ("mem", stat.S_IFCHR, os.makedev(1, 1))):
        path = "/tmp/husk-" + name
        e = refused(os.mknod, path, mode | 0o666, dev)
        if e is not None:
            errs.append(e)
            continue
        if refused(read_one, path) is None:
            return escaped("made and opened device %s" % path)
        return escaped("made device node %s (not openable)" % path)
    return blocked(*errs)


def read_text(path):
    with open(path) as f:
        return f.read()


def secrets():
    errs = []
    for path in facts["secrets"]:
        try:
            if "SECRET" in read_text(path):  # a hidden file reads as empty
                return escaped("read %s" % path)
        except OSError as e:
            if e.errno is None:
                raise
            errs.append(e.errno)
    for d in facts["secret_dirs"]:
        if os.path.isdir(d) and os.listdir(d):
            return escaped("%s lists %s" % (d, os.listdir(d)))
    e = refused(read_one, "/etc/shadow")
    if e is None:
        return escaped("read /etc/shadow")
    errs.append(e)
    return blocked(*errs, note="secrets hidden")


probes = [("ptrace", ptrace), ("host_proc", host_proc), ("kill_host", kill_host), ("mount", mount),
          ("chroot", chroot_tricks), ("nested_userns", nested_userns), ("io_uring", io_uring), ("keyctl", keyctl),
          ("bpf", bpf), ("perf_event_open", perf), ("proc_sys", proc_sys), ("self_exe", self_exe),
          ("leaked_fds", leaked_fds), ("abstract_socket", abstract_socket), ("loopback", loopback),
          ("mknod", mknod), ("secrets", secrets)]
only = facts.get("only")
for name, fn in probes:
    if only is None or name in only:
        attempt(name, fn)
json.dump(results, sys.stdout)
sys.stdout.write("\n")
