# Runs inside a default husk sandbox and tries known ways out. Prints one JSON object:
# technique -> "blocked: why" or "ESCAPED: what worked". Host-side facts come in the environment
# (HUSK_ESCAPE: JSON with pids, ports, socket names, secret paths, system call numbers).
import ctypes, errno, json, os, socket, stat, struct, sys

facts = json.loads(os.environ["HUSK_ESCAPE"])
nr = facts["nr"]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
results = {}


def sc(name, *args):
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
    return r, ctypes.get_errno()


def failed(r):
    return "blocked: %s" % errno.errorcode.get(r[1], r[1]) if r[0] < 0 else None


def attempt(name, fn):
    try:
        out = fn()
    except OSError as e:
        out = "blocked: %s" % errno.errorcode.get(e.errno, e.errno)
    except Exception as e:  # anything else that stopped it
        out = "blocked: %r" % (e,)
    results[name] = out


def ptrace():
    pid = facts["host_pid"]
    for req in (16, 0x4206):  # PTRACE_ATTACH, PTRACE_SEIZE
        r = sc("ptrace", req, pid, 0, 0)
        if r[0] >= 0:
            return "ESCAPED: ptrace request %#x on host pid %d" % (req, pid)
    return failed(r)


def host_proc():
    pid = facts["host_pid"]
    if os.path.exists("/proc/%d" % pid):
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return "ESCAPED: /proc/%d shows %r" % (pid, f.read())
    init = open("/proc/1/cmdline", "rb").read()
    if b"husk-init" not in init and init:
        return "ESCAPED: /proc/1 is %r" % init
    return "blocked: /proc shows only the sandbox (%d pids)" % len([p for p in os.listdir("/proc") if p.isdigit()])


def kill_host():
    pid = facts["host_pid"]
    for sig in (0, 9):
        r = sc("kill", pid, sig)
        if r[0] == 0:
            return "ESCAPED: kill(%d, %d) succeeded" % (pid, sig)
    return failed(r)


def mount():
    tries = [("none", "/tmp", "tmpfs", 0), ("none", "/", None, 0x20 | 0x1000)]  # tmpfs; MS_REMOUNT|MS_BIND rw
    for src, dst, fs, flags in tries:
        r = sc("mount", src, dst, fs if fs else 0, flags, 0)
        if r[0] == 0:
            return "ESCAPED: mount %s on %s" % (fs, dst)
    if os.system("mount -t tmpfs none /tmp 2>/dev/null") == 0 or os.system("mount -o remount,rw / 2>/dev/null") == 0:
        return "ESCAPED: mount(8) worked"
    return failed(r)


def chroot_tricks():
    r = sc("chroot", "/tmp")
    if r[0] == 0:
        return "ESCAPED: chroot succeeded"
    r2 = sc("pivot_root", "/tmp", "/tmp")
    if r2[0] == 0:
        return "ESCAPED: pivot_root succeeded"
    handle = ctypes.create_string_buffer(struct.pack("II", 8, 1) + b"\0" * 120)
    r3 = sc("open_by_handle_at", -100, handle, 0)
    if r3[0] >= 0:
        return "ESCAPED: open_by_handle_at succeeded"
    return "blocked: chroot %s, pivot_root %s, open_by_handle_at %s" % (errno.errorcode.get(r[1]), errno.errorcode.get(r2[1]), errno.errorcode.get(r3[1]))


def nested_userns():
    r = sc("unshare", 0x10000000)
    if r[0] == 0:
        return "ESCAPED: unshare(CLONE_NEWUSER)"
    if os.system("unshare -U true 2>/dev/null") == 0 or os.system("unshare -Ur true 2>/dev/null") == 0:
        return "ESCAPED: unshare(1) made a user namespace"
    return failed(r)


def io_uring():
    params = ctypes.create_string_buffer(120)
    return "ESCAPED: io_uring_setup" if sc("io_uring_setup", 4, params)[0] >= 0 else failed(sc("io_uring_setup", 4, params))


def keyctl():
    r = sc("keyctl", 1, 0)  # KEYCTL_JOIN_SESSION_KEYRING
    if r[0] >= 0:
        return "ESCAPED: keyctl"
    r2 = sc("add_key", "user", "husk", "secret", 6, -3)
    if r2[0] >= 0:
        return "ESCAPED: add_key"
    return failed(r)


def bpf():
    attr = ctypes.create_string_buffer(struct.pack("IIII", 2, 4, 4, 1) + b"\0" * 56)  # BPF_MAP_TYPE_ARRAY
    r = sc("bpf", 0, attr, 72)
    return "ESCAPED: bpf map created" if r[0] >= 0 else failed(r)


def perf():
    attr = ctypes.create_string_buffer(struct.pack("IIQ", 1, 128, 0) + b"\0" * 112)  # software, cpu-clock
    r = sc("perf_event_open", attr, 0, -1, -1, 0)
    return "ESCAPED: perf_event_open" if r[0] >= 0 else failed(r)


def proc_sys():
    for path, data in (("/proc/sys/kernel/core_pattern", "|/tmp/pwn"), ("/proc/sys/vm/drop_caches", "3"), ("/proc/sysrq-trigger", "h"),
                       ("/proc/sys/kernel/hostname", "pwned"), ("/sys/kernel/uevent_helper", "/tmp/pwn")):
        try:
            with open(path, "w") as f:
                f.write(data)
            return "ESCAPED: wrote %s" % path
        except OSError:
            pass
    return "blocked: every write refused"


def self_exe():
    husk = facts["husk"]
    for path in [husk] + ["/proc/%s/exe" % p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            fd = os.open(path, os.O_WRONLY)
            os.close(fd)
            return "ESCAPED: opened %s for writing" % path
        except OSError:
            pass
    try:
        fd = os.open("/proc/1/exe", os.O_RDONLY)
        os.close(fd)
        return "ESCAPED: read husk-init's image through /proc/1/exe"
    except OSError:
        pass
    try:
        with open("/proc/1/mem", "rb") as f:
            f.read(1)
        return "ESCAPED: read /proc/1/mem"
    except OSError:
        pass
    return "blocked: no executable of the engine can be opened for writing"


def leaked_fds():
    fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    extra = [f for f in fds if f > 2 and os.path.exists("/proc/self/fd/%d" % f) and not os.readlink("/proc/self/fd/%d" % f).startswith("/proc/")]
    extra = [f for f in extra if f != 3 or os.readlink("/proc/self/fd/3") != "/proc/%d/fd" % os.getpid()]
    if extra:
        return "ESCAPED: descriptors %s: %s" % (extra, [os.readlink("/proc/self/fd/%d" % f) for f in extra])
    return "blocked: only %s" % fds


def abstract_socket():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect("\0" + facts["abstract"])
    return "ESCAPED: connected to the host's @%s" % facts["abstract"]


def loopback():
    s = socket.create_connection(("127.0.0.1", facts["port"]), timeout=3)
    s.close()
    return "ESCAPED: connected to the host's 127.0.0.1:%d" % facts["port"]


def mknod():
    for name, mode, dev in (("null", stat.S_IFCHR, os.makedev(1, 3)), ("sda", stat.S_IFBLK, os.makedev(8, 0)), ("mem", stat.S_IFCHR, os.makedev(1, 1))):
        path = "/tmp/husk-" + name
        try:
            os.mknod(path, mode | 0o666, dev)
        except OSError:
            continue
        try:
            with open(path, "rb") as f:
                f.read(1)
            return "ESCAPED: made and opened device %s" % path
        except OSError:
            return "ESCAPED: made device node %s (not openable)" % path
    return "blocked: mknod refused"


def secrets():
    for path in facts["secrets"]:
        try:
            with open(path) as f:
                text = f.read()
            if "SECRET" in text:  # a hidden file reads as empty
                return "ESCAPED: read %s" % path
        except OSError:
            pass
    for d in facts["secret_dirs"]:
        if os.path.isdir(d) and os.listdir(d):
            return "ESCAPED: %s lists %s" % (d, os.listdir(d))
    try:
        with open("/etc/shadow") as f:
            f.read(1)
            return "ESCAPED: read /etc/shadow"
    except OSError:
        pass
    return "blocked: secrets hidden"


for name, fn in [("ptrace", ptrace), ("host_proc", host_proc), ("kill_host", kill_host), ("mount", mount),
                 ("chroot", chroot_tricks), ("nested_userns", nested_userns), ("io_uring", io_uring), ("keyctl", keyctl),
                 ("bpf", bpf), ("perf_event_open", perf), ("proc_sys", proc_sys), ("self_exe", self_exe),
                 ("leaked_fds", leaked_fds), ("abstract_socket", abstract_socket), ("loopback", loopback),
                 ("mknod", mknod), ("secrets", secrets)]:
    attempt(name, fn)
json.dump(results, sys.stdout)
sys.stdout.write("\n")
