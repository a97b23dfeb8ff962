using System.Reflection;

namespace Husk.Cli;

/// <summary>
/// <c>husk install [--prefix DIR]</c>: the binary and its personality links (hard links, so
/// /proc/self/exe keeps the name), the man pages embedded in the binary (the personalities',
/// written in Markdown, rendered as roff), and shell completions.
/// </summary>
internal static partial class InstallCommand
{
    internal static readonly string[] Personalities = ["bwrap", "mkosi-sandbox", "mbox", "try", "microbox", "mini-sandbox", "mini-tapbox", "husk-runtime"];

    public static int Execute(string prefix)
    {
        try
        {
            prefix = Path.GetFullPath(prefix);
            string self = Environment.ProcessPath ?? throw new IOException("cannot find this program's own path");
            string bin = Path.Combine(prefix, "bin");
            Directory.CreateDirectory(bin);
            string target = Path.Combine(bin, "husk");
            string tmp = target + ".new";
            File.Copy(self, tmp, overwrite: true);
            File.SetUnixFileMode(tmp, (UnixFileMode)0x1ED);
            File.Move(tmp, target, overwrite: true);
            Console.Out.WriteLine($"installed {target}");
            foreach (string name in Personalities)
            {
                string link = Path.Combine(bin, name);
                string linkTmp = link + ".new";
                File.Delete(linkTmp);
                HardLink(target, linkTmp);
                File.Move(linkTmp, link, overwrite: true);
                Console.Out.WriteLine($"installed {link} (hard link)");
            }
            string man = Path.Combine(prefix, "share", "man", "man1");
            foreach (string resource in typeof(InstallCommand).Assembly.GetManifestResourceNames().Where(r => r.StartsWith("man/", StringComparison.Ordinal)))
            {
                Directory.CreateDirectory(man);
                string name = resource["man/".Length..];
                bool markdown = name.EndsWith(".md", StringComparison.Ordinal);
                string file = Path.Combine(man, markdown ? name[..^".md".Length] : name);
                using (var src = typeof(InstallCommand).Assembly.GetManifestResourceStream(resource)!)
                {
                    if (markdown)
                    {
                        File.WriteAllText(file, ManPageMarkdown.ToRoff(new StreamReader(src).ReadToEnd()));
                    }
                    else
                    {
                        using var dst = File.Create(file);
                        src.CopyTo(dst);
                    }
                }
                Console.Out.WriteLine($"installed {file}");
            }
            WriteFile(Path.Combine(prefix, "share", "bash-completion", "completions", "husk"), Completions.Script("bash"));
            WriteFile(Path.Combine(prefix, "share", "zsh", "site-functions", "_husk"), Completions.Script("zsh"));
            WriteFile(Path.Combine(prefix, "share", "fish", "vendor_completions.d", "husk.fish"), Completions.Script("fish"));
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"husk install: {ErrorText.Of(e)}");
            return 1;
        }
    }

    private static void WriteFile(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        Console.Out.WriteLine($"installed {path}");
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int Link(string target, string path);

    private static void HardLink(string target, string path)
    {
        if (Link(target, path) != 0)
            throw new IOException($"cannot link {path}: {SyscallException.Describe((Errno)System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
    }
}
