namespace Husk.Tests.Mkosi;

/// <summary>Who a case is meaningful for.</summary>
public enum CaseMode
{
    Any,
    /// <summary>sandbox.py and Husk differ on purpose for an unprivileged caller (see docs/compat-mkosi-sandbox.md).</summary>
    RootOnly,
}

/// <summary>The command lines compared between sandbox.py and Husk's mkosi-sandbox.</summary>
public static class MkosiCases
{
    private const string F = MkosiHarness.Fixture;

    public static readonly MkosiCase[] All =
    [
        new("plain"),
        new("become-root") { Options = ["--become-root"] },
        new("dev") { Options = ["--dev", "/dev"], List = ["/dev"] },
        new("tmpfs-modes")
        {
            Options = ["--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/data", "--tmpfs", "/deep/er/x"],
            List = ["/tmp", "/var", "/data", "/deep"],
        },
        new("dirs")
        {
            Options = ["--dir", "/a/b/c", "--dir", "/x/tmp", "--dir", "/var/tmp", "--dir", "/a"],
            List = ["/a", "/x", "/var"],
        },
        new("symlinks")
        {
            Options = ["--symlink", "target", "/l", "--write", "old", "/f", "--symlink", "new", "/f", "--symlink", "target", "/l",
                "--symlink", "/nowhere", "/dangle", "--symlink", "other", "/dangle"],
            Script = "readlink /l /f /dangle",
            List = ["/l", "/f", "/dangle"],
        },
        new("write")
        {
            Options = ["--write", "hello\nworld", "/etc/greeting", "--write", "données", "/deep/a/b/file", "--write", "", "/etc/empty"],
            Script = "cat /etc/greeting /deep/a/b/file /etc/empty",
            List = ["/etc", "/deep"],
        },
        new("bind-wins-over-tmpfs") { Options = ["--bind", $"{F}/sub", "/x", "--tmpfs", "/x"], Script = "ls /x" },
        new("parents-first")
        {
            Options = ["--bind", $"{F}/file", "/a/b/h", "--tmpfs", "/a", "--write", "hello", "/a/w"],
            Script = "cat /a/b/h /a/w",
            List = ["/a"],
        },
        new("ro-and-try")
        {
            Options = ["--ro-bind", F, "/ro", "--bind-try", "/nonexistent", "/nope", "--ro-bind-try", $"{F}/missing", "/nope2", "--bind", $"{F}/sub", "/rw"],
            Script = "touch /ro/x 2>&1 | sed 's/.*: //'; touch /rw/new && echo rw-ok; test -e /nope || echo no-nope; test -e /nope2 || echo no-nope2",
            List = ["/rw"],
        },
        new("relative-sources")
        {
            Options = ["--dir", "/data", "--write", "x", "/data/f", "--bind", "+/data", "/alias", "--bind", "+/usr/bin", "/ubin",
                "--ro-bind-try", "+/missing", "/m"],
            Script = "cat /alias/f; test -x /ubin/sh && echo ubin-ok; test -e /m || echo no-m",
        },
        new("redundant-nested-binds")
        {
            Options = ["--debug", "--bind", F, "/d", "--bind", $"{F}/sub", "/d/sub", "--ro-bind", $"{F}/sub", "/d/sub2", "--bind", F, "/d"],
        },
        new("nofollow")
        {
            Options = ["--bind-nofollow", $"{F}/link", "/lnk", "--ro-bind-nofollow", $"{F}/dangling", "/dl", "--bind", $"{F}/link", "/followed"],
            Script = "readlink /lnk /dl; cat /followed",
            List = ["/lnk", "/dl", "/followed"],
        },
        new("bind-onto-symlink")
        {
            Options = ["--symlink", "/target", "/l", "--write", "t", "/target", "--bind", $"{F}/file", "/l"],
            Script = "cat /target /l",
        },
        new("overlay-tmpfs-upper")
        {
            Options = ["--overlay-lowerdir", $"{F}/a", "--overlay-lowerdir", $"{F}/b", "--overlay-upperdir", "tmpfs", "--overlay", "/tmp"],
            Script = "cat /tmp/both; echo new > /tmp/new && cat /tmp/new",
            List = ["/tmp"],
        },
        new("overlay-persistent")
        {
            Options = ["--overlay-lowerdir", $"{F}/a", "--overlay-upperdir", $"{F}/upper", "--overlay-workdir", $"{F}/work", "--overlay", "/o",
                "--ro-bind", $"{F}/upper", "/check"],
            Script = "echo new > /o/new; cat /o/fa; ls /check",
        },
        new("overlay-readonly")
        {
            Options = ["--overlay-lowerdir", $"{F}/a", "--overlay-lowerdir", $"{F}/b", "--overlay", "/ro"],
            Script = "cat /ro/both; ls /ro; touch /ro/x 2>&1 | sed 's/.*: //'",
        },
        new("environment")
        {
            Options = ["--setenv", "FOO", "bar", "--setenv", "PATH", "/usr/bin:/bin", "--unsetenv", "MKOSI_TEST_VAR", "--setenv", "FOO", "baz",
                "--setenv", "EMPTY", "", "--unsetenv", "NOT_SET"],
        },
        new("chdir") { Options = ["--chdir", "/usr/share"] },
        new("chdir-relative") { Options = ["--bind", F, F, "--chdir", "sub"] },
        new("same-dir") { Options = ["--bind", F, F, "--same-dir"] },
        new("unshare-net-ipc") { Options = ["--unshare-net", "--unshare-ipc"] },
        new("pack-fds")
        {
            Options = ["--pack-fds"],
            Script = "[ \"$LISTEN_PID\" = \"$$\" ] && echo listen-pid-is-the-payload",
        },
        new("relative-destinations")
        {
            Options = ["--tmpfs", "rel", "--dir", "./x/../y", "--bind", "sub", "s2"],
            List = [F],
        },
        new("become-root-build-root")
        {
            Options = ["--become-root", "--dev", "/dev", "--tmpfs", "/tmp", "--write", "x", "/tmp/f", "--dir", "/var/tmp", "--bind", F, "/work"],
            Script = "touch /work/made-inside && stat -c '%u:%g' /work/made-inside",
            List = ["/tmp", "/var"],
        },
        new("debug-order")
        {
            Options = ["--debug", "--bind", $"{F}/file", "/a/b/h", "--tmpfs", "/a", "--write", "hello", "/a/w", "--bind", "+/a", "/rel",
                "--dev", "/dev", "--overlay-lowerdir", $"{F}/a", "--overlay-lowerdir", $"{F}/b", "--overlay-upperdir", "tmpfs", "--overlay", "/ov"],
            Command = ["true"],
        },
        new("no-command-runs-bash") { Command = [] },
        new("missing-command") { Command = ["no-such-command-anywhere"] },
        new("not-executable") { Command = ["/usr/share/common-licenses/GPL"], ErrorTextDiffers = true },
        new("exit-status") { Command = ["sh", "-c", "exit 42"] },
        new("killed-by-signal") { Command = ["sh", "-c", "kill -TERM $$"] },
        new("sigpipe-ignored") { Command = ["sh", "-c", "yes | head -1; echo done"] },
        new("unknown-option") { Options = ["--frobnicate"], Command = ["true"], ErrorTextDiffers = true },
        new("missing-argument") { Options = ["--tmpfs"], Command = [], ErrorTextDiffers = true },
        new("help") { Options = ["--help"], Command = ["true"], ErrorTextDiffers = true },
        new("version") { Options = ["--version"], Command = ["true"] },
        new("missing-bind-source") { Options = ["--bind", "/nonexistent", "/x"], Command = ["true"], ErrorTextDiffers = true },
        new("missing-overlay-layer") { Options = ["--overlay-lowerdir", "/nonexistent", "--overlay-lowerdir", $"{F}/a", "--overlay", "/o"], Command = ["true"], ErrorTextDiffers = true },
        new("symlink-missing-parent") { Options = ["--symlink", "x", "/no/parent/l"], Command = ["true"], ErrorTextDiffers = true },
        new("symlink-over-directory") { Options = ["--dir", "/d", "--symlink", "x", "/d"], Command = ["true"], ErrorTextDiffers = true },
        new("missing-chdir") { Options = ["--chdir", "/nonexistent"], Command = ["true"], ErrorTextDiffers = true },
        new("bind-foreign") { Options = ["--bind-foreign", F, "/f"], Command = ["true"], ErrorTextDiffers = true },
        new("map-delegate") { Options = ["--map-delegate", "1"], Command = ["true"], ErrorTextDiffers = true },
        new("map-delegate-zero") { Options = ["--map-delegate", "0"] },
        new("map-foreign") { Options = ["--map-foreign"], Command = ["true"], ErrorTextDiffers = true },
        new("suppress-chown-as-root") { Options = ["--suppress-chown"], Mode = CaseMode.RootOnly },
        new("suppress-chown") { Options = ["--tmpfs", "/t", "--suppress-chown"], Script = "touch /t/f && chown 12345:12345 /t/f && echo chowned && stat -c %u /t/f" },
        new("suppress-sync") { Options = ["--tmpfs", "/t", "--suppress-sync"], Script = "echo x > /t/f && sync && sync -f /t/f && dd if=/t/f of=/t/g conv=fsync status=none && echo synced" },
        new("pack-many-fds") { Options = ["--pack-fds"], ExtraFds = 60, Script = "[ \"$LISTEN_PID\" = \"$$\" ] && echo listen-pid-is-the-payload" },
        new("pack-many-fds-exec-failure") { Options = ["--pack-fds"], ExtraFds = 60, Command = ["/proc/version"], ErrorTextDiffers = true },
        // Options of mkosi 25 and 26, compared with what 70ce10d's sandbox.py does for them.
        new("proc")
        {
            Options = ["--proc", "/deep/er/proc"],
            ReferenceOptions = ["--bind", "/proc", "/deep/er/proc"],
            Script = "stat -c '%n %a %F' /deep /deep/er; test -r /deep/er/proc/self/status && echo proc-ok",
        },
        new("exec-fd") { Options = ["--exec-fd", "5"], ReferenceOptions = [], ReferenceClosedFds = [5] },
        new("exec-fd-pack-fds")
        {
            Options = ["--exec-fd", "5", "--pack-fds"],
            ReferenceOptions = ["--pack-fds"],
            ReferenceClosedFds = [5],
            Script = "[ \"$LISTEN_PID\" = \"$$\" ] && echo listen-pid-is-the-payload",
        },
        new("tmpfs-on-root") { Options = ["--tmpfs", "/", "--dir", "/after"], List = ["/after"] },
        new("bind-root-same-dir") { Options = ["--bind", "/", "/", "--same-dir"] },
        new("plus-relative-path") { Options = ["--dir", $"{F}/inside", "--write", "in", $"{F}/inside/f", "--bind", "+inside", "/x"], Script = "cat /x/f" },
        new("overlay-upper-without-workdir") { Options = ["--overlay-lowerdir", $"{F}/a", "--overlay-upperdir", $"{F}/upper", "--overlay", "/o"], Command = ["true"], ErrorTextDiffers = true },
        new("same-dir-missing") { Options = ["--same-dir"], Command = ["true"], ErrorTextDiffers = true },
        new("bind-dir-onto-file") { Options = ["--write", "x", "/f", "--bind", $"{F}/sub", "/f"], Command = ["true"], ErrorTextDiffers = true },
        new("nested")
        {
            // mkosi runs mkosi-sandbox inside mkosi-sandbox: the inner one reuses the outer one's privileges.
            Options = ["--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/tmp"],
            Command = ["sh", "-c", $"{MkosiHarness.Runner} --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 " +
                "--bind /proc /proc --tmpfs /tmp --unshare-net sh -c 'id; grep -E \"^Cap(Eff|Amb)\" /proc/self/status; cat /proc/self/uid_map; " +
                "readlink /proc/self/ns/user /proc/self/ns/net | sort | uniq | wc -l'"],
        },
        new("nested-become-root")
        {
            Options = ["--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/tmp"],
            Command = ["sh", "-c", $"{MkosiHarness.Runner} --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 " +
                "--bind /proc /proc --become-root --unshare-net sh -c 'id; grep -E \"^Cap(Eff|Amb)\" /proc/self/status; cat /proc/self/uid_map'"],
        },
    ];

    /// <summary>The cases for xunit, by name.</summary>
    public static TheoryData<string> Names(bool root)
    {
        var data = new TheoryData<string>();
        foreach (var c in All.Where(c => root || c.Mode != CaseMode.RootOnly))
            data.Add(c.Name);
        return data;
    }

    public static MkosiCase Get(string name) => All.Single(c => c.Name == name);
}
