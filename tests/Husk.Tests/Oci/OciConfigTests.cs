using System.Text.Json.Nodes;
using Husk.Cli.Personalities.Oci;
using Husk.Policy;

namespace Husk.Tests.Oci;

/// <summary>config.json onto the spec: what each field becomes, and one error naming the field for bad input.</summary>
public class OciConfigTests
{
    /// <summary>runc's template with the given changes made to its JSON.</summary>
    private static string Config(Action<JsonObject>? change = null, bool rootless = false)
    {
        var doc = JsonNode.Parse(InfoCommands.Template(rootless, 1000, 1000))!.AsObject();
        doc["process"]!["terminal"] = false;
        change?.Invoke(doc);
        return doc.ToJsonString();
    }

    private static OciMapping Map(string json, OciHost? host = null) =>
        OciSpecMapper.Map(OciConfig.Parse(json), "/srv/bundle", "c1", host ?? OciTestHost.Root);

    private static string Error(string json, OciHost? host = null) =>
        Assert.Throws<OciConfigException>(() => Map(json, host)).Message;

    [Theory]
    [InlineData("process.user.uid", "\"zero\"", "process.user.uid: expected a non-negative 32-bit integer, got the string \"zero\"")]
    [InlineData("process.args", "\"sh\"", "process.args: expected an array, got the string \"sh\"")]
    [InlineData("process.noNewPrivileges", "1", "process.noNewPrivileges: expected true or false, got the number 1")]
    [InlineData("linux.resources.memory.limit", "\"1G\"", "linux.resources.memory.limit: expected an integer, got the string \"1G\"")]
    [InlineData("linux.resources.pids", "[]", "linux.resources.pids: expected an object, got an array")]
    public void A_field_of_the_wrong_type_is_one_error_naming_it(string field, string value, string expected)
    {
        string json = Config(doc =>
        {
            string[] path = field.Split('.');
            JsonObject node = doc;
            foreach (string part in path[..^1])
            {
                node[part] ??= new JsonObject();
                node = node[part]!.AsObject();
            }
            node[path[^1]] = JsonNode.Parse(value);
        });
        Assert.Equal(expected, Error(json));
    }

    [Fact]
    public void Bad_values_name_their_field()
    {
        Assert.Equal("config.json: not valid JSON (line 1, byte 2)", Assert.Throws<OciConfigException>(() => OciConfig.Parse("{]")).Message);
        Assert.Contains("ociVersion: unsupported version \"2.0.0\"", Error(Config(d => d["ociVersion"] = "2.0.0")));
        Assert.Equal("process.rlimits[0].type: invalid rlimit \"RLIMIT_TEST\"", Error(Config(d => d["process"]!["rlimits"]![0]!["type"] = "RLIMIT_TEST")));
        Assert.Equal("process.capabilities.bounding: unknown capability \"CAP_TEST\"", Error(Config(d => d["process"]!["capabilities"]!["bounding"] = new JsonArray("CAP_TEST"))));
        Assert.Equal("linux.namespaces[5].type: unknown namespace type \"mnt\"", Error(Config(d => d["linux"]!["namespaces"]![5] = new JsonObject { ["type"] = "mnt" })));
        Assert.Equal("process.cwd: \"srv\" is not an absolute path", Error(Config(d => d["process"]!["cwd"] = "srv")));
        Assert.Equal("mounts[0].destination: \"proc\" is not an absolute path", Error(Config(d => d["mounts"]![0]!["destination"] = "proc")));
        Assert.Equal("process.env[1]: \"TERM\" is not NAME=VALUE", Error(Config(d => d["process"]!["env"]![1] = "TERM")));
        Assert.Equal("process.args: empty: name the program to run", Error(Config(d => d["process"]!["args"] = new JsonArray())));
        Assert.Equal("linux.resources.devices[0].access: \"rwx\" is not made of r, w and m", Error(Config(d => d["linux"]!["resources"]!["devices"]![0]!["access"] = "rwx")));
        Assert.Equal("linux.cgroupsPath: \"system.slice:x:y\" looks like systemd's slice:prefix:name: pass --systemd-cgroup", Error(Config(d => d["linux"]!["cgroupsPath"] = "system.slice:x:y")));
        Assert.Equal("linux.seccomp.syscalls[0].action: unknown seccomp action SCMP_ACT_MAYBE",
            Error(Config(d => d["linux"]!["seccomp"] = JsonNode.Parse("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_MAYBE"}]}"""))));
        Assert.Equal("linux.seccomp.syscalls[0].args[0].index: 6 is not an argument (0 to 5)",
            Error(Config(d => d["linux"]!["seccomp"] = JsonNode.Parse("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"""))));
        Assert.Equal("linux.seccomp: SCMP_ACT_NOTIFY needs a listenerPath",
            Error(Config(d => d["linux"]!["seccomp"] = JsonNode.Parse("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"""))));
    }

    [Fact]
    public void A_config_without_a_mount_namespace_is_chrooted_and_mounts_nothing()
    {
        // runtime-tools' linux_ns_itype: every namespace the runtime's. husk-runtime refused it;
        // crun chroots (and makes the mounts in the host's namespace), runc skips the root.
        var m = Map(Config(d =>
        {
            d["linux"]!["namespaces"] = new JsonArray(new JsonObject { ["type"] = "pid" });
            d.Remove("hostname");
        }));
        Assert.Equal(new ChrootFileSystem("/srv/bundle/rootfs"), m.Spec.FileSystem);
        Assert.Empty(m.Spec.Mounts);
        Assert.Null(m.Spec.TerminalConsole);
        Assert.Empty(m.Spec.Validate());
        Assert.Contains("linux.namespaces: no mount namespace: the root is entered with chroot and mounts, linux.maskedPaths, linux.readonlyPaths, root.readonly not applied (they would change the host's mounts)", m.Warnings);
    }

    [Fact]
    public void What_husk_runtime_cannot_do_is_refused_naming_the_field()
    {
        Assert.StartsWith("linux.intelRdt:", Error(Config(d => d["linux"]!["intelRdt"] = new JsonObject { ["closID"] = "x" })));
        Assert.StartsWith("linux.timeOffsets:", Error(Config(d => d["linux"]!["timeOffsets"] = new JsonObject())));
        Assert.StartsWith("mounts[0].uidMappings: idmapped mounts", Error(Config(d => d["mounts"]![0]!["uidMappings"] = JsonNode.Parse("""[{"containerID":0,"hostID":1,"size":1}]"""))));
        Assert.StartsWith("mounts[0].options: \"idmap\"", Error(Config(d => d["mounts"]![0]!["options"] = new JsonArray("idmap"))));
        Assert.StartsWith("hostname: setting it needs a UTS namespace", Error(Config(d => d["linux"]!["namespaces"] = new JsonArray(new JsonObject { ["type"] = "mount" }))));
        Assert.StartsWith("process.apparmorProfile:", Error(Config(d => d["process"]!["apparmorProfile"] = "acme"), OciTestHost.Root with { AppArmorEnabled = true }));
        // Where AppArmor is off, a profile means nothing (runc ignores it too).
        Assert.NotNull(Map(Config(d => d["process"]!["apparmorProfile"] = "acme")));
    }

    [Fact]
    public void The_process_maps_onto_identity_environment_and_policy()
    {
        var spec = Map(Config(d =>
        {
            d["process"]!["user"] = JsonNode.Parse("""{"uid": 1000, "gid": 100, "umask": 63, "additionalGids": [5, 6]}""");
            d["process"]!["noNewPrivileges"] = false;
            d["process"]!["oomScoreAdj"] = 100;
            d["process"]!["rlimits"] = JsonNode.Parse("""[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}]""");
        })).Spec;
        Assert.Equal(new Identity { Uid = 1000, Gid = 100, AdditionalGids = [5, 6] }.AdditionalGids, spec.Identity.AdditionalGids);
        Assert.Equal((uint)1000, spec.Identity.Uid);
        Assert.Equal((uint)63, spec.Umask);
        Assert.False(spec.NoNewPrivileges);
        Assert.Equal(100, spec.OomScoreAdjust);
        Assert.Equal([new Rlimit(7, 10, 20)], spec.Rlimits);
        // HOME is added as runc adds it (no /etc/passwd entry for uid 1000 here: /).
        Assert.Contains("HOME=/", spec.Environment);
        Assert.DoesNotContain(spec.Environment, e => e.StartsWith("PWD=", StringComparison.Ordinal));
        ulong audit = 1UL << 29, kill = 1UL << 5, bind = 1UL << 10;
        Assert.Equal(audit | kill | bind, spec.Capabilities!.Bounding);
        Assert.Equal(0UL, spec.Capabilities.Ambient);
        Assert.False(spec.Capabilities.LockSecureBits);
        Assert.True(spec.Detached);
        Assert.True(spec.AsPid1);
        Assert.False(spec.SearchPath == false);
        Assert.Equal(NestedUserNamespaces.ProfileOnly, spec.NestedUserNamespaces);
        Assert.Equal(LandlockMode.Off, spec.Landlock.Mode);
        Assert.IsType<RootfsFileSystem>(spec.FileSystem);
        Assert.Equal("/srv/bundle/rootfs", ((RootfsFileSystem)spec.FileSystem).Path);
    }

    [Fact]
    public void Namespaces_are_new_or_joined_by_path_and_user_namespaces_take_the_config_maps()
    {
        var m = Map(Config(d => d["linux"]!["namespaces"]![1] = new JsonObject { ["type"] = "network", ["path"] = "/run/netns/x" }));
        Assert.Equal([(NamespaceKinds.Net, "/run/netns/x")], m.JoinPaths);
        Assert.False(m.Spec.Namespaces.HasFlag(NamespaceKinds.Net));
        var withFds = m.WithNamespaceFds([Descriptors.Borrow(42)]);
        Assert.Equal([(NamespaceKinds.Net, 42)], withFds.NamespaceFds.Select(n => (n.Kind, Descriptors.Number(n.Handle))));

        var rootless = Map(Config(rootless: true), OciTestHost.User).Spec;
        Assert.True(rootless.Namespaces.HasFlag(NamespaceKinds.User));
        Assert.Equal(IdMapping.Explicit, rootless.Identity.Mapping);
        Assert.Equal([new IdRange(0, 1000, 1)], rootless.Identity.UidMappings);
        Assert.Contains("no new user namespace", Error(Config(d => d["linux"]!["uidMappings"] = JsonNode.Parse("""[{"containerID":0,"hostID":1,"size":1}]"""))));
    }

    [Fact]
    public void Seccomp_profiles_follow_libseccomp_and_runc()
    {
        var warnings = new List<string>();
        var (policy, notify) = OciSeccompProfile.Map(OciSeccomp.Parse(ConfigNode.Parse("""
            {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64"], "listenerPath": "/x",
             "syscalls": [
              {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
              {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]},
              {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
              {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
              {"names": ["mknodat"], "action": "SCMP_ACT_NOTIFY"},
              {"names": ["no_such_call"], "action": "SCMP_ACT_ALLOW"}
             ]}
            """, "profile")), warnings);
        Assert.True(notify);
        Assert.Equal(SeccompAction.Fail(38), policy.DefaultAction);
        // One argument tested twice: either value (runc makes a rule of each).
        Assert.Equal(SeccompAction.Allow, policy.Decide("personality", 0));
        Assert.Equal(SeccompAction.Allow, policy.Decide("personality", 8));
        Assert.Equal(SeccompAction.Fail(38), policy.Decide("personality", 4));
        // Different arguments: both must hold.
        Assert.Equal(SeccompAction.Allow, policy.Decide("socket", 1, 1));
        Assert.Equal(SeccompAction.Fail(38), policy.Decide("socket", 1, 2));
        // MASKED_EQ: value is the mask, valueTwo the datum (no namespace flags).
        Assert.Equal(SeccompAction.Allow, policy.Decide("clone", 0x11));
        Assert.Equal(SeccompAction.Fail(38), policy.Decide("clone", 0x10000000));
        // ERRNO without errnoRet is EPERM; notify; unknown names are skipped, not refused.
        Assert.Equal(SeccompAction.Fail(Errno.EPERM), policy.Decide("mkdir"));
        Assert.Equal(SeccompAction.UserNotify, policy.Decide("mknodat"));
        Assert.DoesNotContain(policy.Rules, r => r.Syscall == "no_such_call");
        Assert.NotEmpty(SeccompCompiler.Compile(policy));
    }

    [Fact]
    public void Mount_options_split_into_flags_and_filesystem_data()
    {
        var warnings = new List<string>();
        var notes = new List<string>();
        var m = new OciMount("/dev", "tmpfs", "tmpfs", ["nosuid", "rnoexec", "strictatime", "mode=755", "size=65536k", "sync", "async", "tmpcopyup", "rshared"], "mounts[1]");
        var o = MountOptions.Parse(m, warnings, notes);
        Assert.True(o.NoSetuid);
        Assert.True(o.NoExec);
        Assert.False(o.NoDevices);
        Assert.Equal(AccessTime.Strict, o.AccessTime);
        Assert.Equal(["mode=755", "size=65536k", "sync"], o.Data);
        Assert.Single(notes, n => n.Contains("tmpcopyup", StringComparison.Ordinal));
        Assert.Single(warnings, w => w.Contains("rshared", StringComparison.Ordinal));

        var bind = OciSpecMapper.MapMount(new OciMount("/data", "bind", "data", ["bind", "ro", "nodev"], "mounts[0]"), "/srv/bundle", NamespaceKinds.Mount, true, OciTestHost.Root, warnings, notes, []).Single();
        var b = Assert.IsType<BindMount>(bind);
        Assert.Equal("/srv/bundle/data", b.Source);
        Assert.False(b.Recursive);
        Assert.True(b.ReadOnly);
        Assert.False(b.Devices);
        Assert.True(b.AllowSetuid);
    }

    [Theory]
    [InlineData("system.slice", "/system.slice")]
    [InlineData("machine-qemu-1.slice", "/machine.slice/machine-qemu.slice/machine-qemu-1.slice")]
    [InlineData("-.slice", "")]
    public void Systemd_slices_nest_as_systemd_nests_them(string slice, string path) =>
        Assert.Equal(path, OciSpecMapper.SystemdSlicePath(slice));

    [Fact]
    public void Systemd_cgroup_paths_become_a_scope_under_their_slice()
    {
        var spec = OciSpecMapper.Map(OciConfig.Parse(Config(d => d["linux"]!["cgroupsPath"] = "user.slice:libpod:abc")), "/srv/bundle", "c1", OciTestHost.Root, systemdCgroup: true).Spec;
        Assert.Equal("/user.slice/libpod-abc.scope", spec.Cgroup!.Path);
        var relative = OciSpecMapper.Map(OciConfig.Parse(Config(d => d["linux"]!["cgroupsPath"] = "a/b")), "/srv/bundle", "c1", OciTestHost.Root).Spec;
        Assert.Equal("a/b", relative.Cgroup!.Path);
        // No path: the container's id, as runc names it; rootless without one: no cgroup.
        Assert.Equal("/c1", Map(Config()).Spec.Cgroup!.Path);
        Assert.Null(Map(Config(d => ((JsonObject)d["linux"]!).Remove("resources"), rootless: true), OciTestHost.User).Spec.Cgroup);
    }

    [Fact]
    public void Resources_map_every_controller_runc_writes()
    {
        var r = OciResources.Parse(ConfigNode.Parse("""
            {"memory": {"limit": 100, "reservation": 50, "swap": 200, "swappiness": 10, "disableOOMKiller": true},
             "cpu": {"shares": 512, "quota": 1000, "period": 2000, "cpus": "0-1", "mems": "0"},
             "pids": {"limit": 7},
             "blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1024}]},
             "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
             "network": {"classID": 17, "priorities": [{"name": "eth0", "priority": 5}]},
             "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
             "unified": {"memory.high": "90"}}
            """, "resources"));
        Assert.Equal(100, r.MemoryLimit);
        Assert.Equal((ulong)10, r.Swappiness);
        Assert.True(r.DisableOomKiller);
        Assert.Equal("0-1", r.Cpus);
        Assert.Equal(7, r.PidsLimit);
        Assert.Equal([new DeviceThrottle(ThrottleKind.ReadBytesPerSecond, 8, 0, 1024)], r.BlockIoThrottles);
        Assert.Equal([new HugepageLimit("2MB", 4194304)], r.Hugepages);
        Assert.Equal([new InterfacePriority("eth0", 5)], r.NetworkPriorities);
        Assert.Equal([new DeviceRule(false, 'a', null, null, "rwm"), new DeviceRule(true, 'c', 1, 3, "rw")], r.Devices);
        Assert.Equal([new KeyValuePair<string, string>("memory.high", "90")], r.Unified);
        Assert.True(r.Any);
    }
}
