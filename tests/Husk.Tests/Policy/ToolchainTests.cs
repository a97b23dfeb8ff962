namespace Husk.Tests.Policy;

/// <summary>Real toolchains and package managers run under husk run's defaults: the default seccomp profile, Landlock, no capabilities.</summary>
public class ToolchainTests
{
    private static void Require(string tool)
    {
        if (!File.Exists(tool))
            Assert.Skip($"{tool} is not installed (.ci/run installs it)");
    }

    /// <summary>husk run with the defaults, a scratch directory writable and current; returns code and output.</summary>
    private static (int Code, string Stdout, string Stderr) InSandbox(string dir, string script, params string[] options) =>
        TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--bind", dir, dir, "--chdir", dir, .. options, "--", "/bin/sh", "-c", script], timeoutMs: 300_000);

    private static void WithScratch(string name, Action<string> body)
    {
        string dir = TestEnvironment.ScratchDirectory(name);
        try
        {
            body(dir);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Gcc_and_make_build_and_run_a_threaded_program()
    {
        Require("/usr/bin/gcc");
        Require("/usr/bin/make");
        WithScratch("gcc", dir =>
        {
            File.WriteAllText(Path.Combine(dir, "hello.c"), """
                #include <pthread.h>
                #include <stdio.h>
                static void *run(void *arg) { return arg; }
                int main(void) { pthread_t t; void *r; pthread_create(&t, NULL, run, "thread"); pthread_join(t, &r); printf("hello from a %s\n", (char *)r); return 0; }
                """);
            File.WriteAllText(Path.Combine(dir, "Makefile"), "hello: hello.c\n\t$(CC) -O2 -pthread -o $@ $<\n");
            var r = InSandbox(dir, "make -s && ./hello");
            Assert.True(r.Code == 0, r.Stderr);
            Assert.Equal("hello from a thread\n", r.Stdout);
        });
    }

    [Fact]
    public void Python_runs_threads_subprocesses_and_multiprocessing()
    {
        Require("/usr/bin/python3");
        WithScratch("python", dir =>
        {
            const string program = """
                import multiprocessing, subprocess, threading, tempfile, os
                def square(x): return x * x
                if __name__ == "__main__":
                    t = threading.Thread(target=lambda: None); t.start(); t.join()
                    out = subprocess.run(["echo", "sub"], capture_output=True, text=True).stdout.strip()
                    with multiprocessing.Pool(2) as pool: total = sum(pool.map(square, range(10)))
                    with tempfile.NamedTemporaryFile() as f: f.write(b"x")
                    print(out, total)
                """;
            File.WriteAllText(Path.Combine(dir, "p.py"), program);
            var r = InSandbox(dir, "/usr/bin/python3 p.py");
            Assert.True(r.Code == 0, r.Stderr);
            Assert.Equal("sub 285\n", r.Stdout);
        });
    }

    [Fact]
    public void Go_build_compiles_and_the_program_runs()
    {
        Require("/usr/bin/go");
        WithScratch("go", dir =>
        {
            File.WriteAllText(Path.Combine(dir, "main.go"), """
                package main

                import (
                	"fmt"
                	"os/exec"
                	"sync"
                )

                func main() {
                	var wg sync.WaitGroup
                	for i := 0; i < 8; i++ {
                		wg.Add(1)
                		go func() { defer wg.Done() }()
                	}
                	wg.Wait()
                	out, err := exec.Command("echo", "child").Output()
                	fmt.Printf("go %s %v\n", out[:5], err)
                }
                """);
            var r = InSandbox(dir, $"export GOCACHE={dir}/cache GOPATH={dir}/gopath GO111MODULE=off; go build -o hello main.go && ./hello");
            Assert.True(r.Code == 0, r.Stderr);
            Assert.Equal("go child <nil>\n", r.Stdout);
        });
    }

    [Fact]
    public void Node_runs_workers_child_processes_and_file_io()
    {
        Require("/usr/bin/node");
        WithScratch("node", dir =>
        {
            File.WriteAllText(Path.Combine(dir, "n.js"), """
                const { Worker } = require('worker_threads');
                const fs = require('fs/promises');
                const { execSync } = require('child_process');
                (async () => {
                  await fs.writeFile('f.txt', 'data');
                  const text = await fs.readFile('f.txt', 'utf8');
                  const child = execSync('echo child').toString().trim();
                  const w = new Worker('require("worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
                  w.on('message', n => { console.log(text, child, n); w.terminate(); });
                })();
                """);
            var r = InSandbox(dir, "node n.js");
            Assert.True(r.Code == 0, r.Stderr);
            Assert.Equal("data child 42\n", r.Stdout);
        });
    }

    [Fact]
    public void A_static_rust_binary_builds_and_runs_in_an_empty_root()
    {
        Require("/usr/bin/rustc");
        WithScratch("rust", dir =>
        {
            File.WriteAllText(Path.Combine(dir, "hello.rs"), """
                use std::thread;
                fn main() {
                    let h = thread::spawn(|| 6 * 7);
                    let f = std::env::temp_dir().join("r");
                    std::fs::write(&f, "x").unwrap();
                    println!("rust {} {}", h.join().unwrap(), std::fs::read_to_string(&f).unwrap());
                }
                """);
            var build = InSandbox(dir, "/usr/bin/rustc -O -C target-feature=+crt-static -o hello hello.rs");
            Assert.True(build.Code == 0, build.Stderr);
            // The static binary alone, on an empty root.
            var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "tmpfs", "--ro-bind", Path.Combine(dir, "hello"), "/hello", "--", "/hello"]);
            Assert.True(r.Code == 0, r.Stderr);
            Assert.Equal("rust 42 x\n", r.Stdout);
        });
    }

    [Fact]
    public void Apt_reads_its_database_and_simulates_an_install()
    {
        Require("/usr/bin/apt-get");
        WithScratch("apt", dir =>
        {
            var r = InSandbox(dir, "apt-cache policy bash | head -2 && apt-get -s -o Debug::NoLocking=1 install --reinstall bash | grep -c '^Inst bash'");
            Assert.True(r.Code == 0, r.Stderr);
            Assert.StartsWith("bash:\n", r.Stdout);
            Assert.EndsWith("1\n", r.Stdout);
        });
    }
}
