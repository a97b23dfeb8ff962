namespace Husk.Cli.Personalities.Mkosi;

/// <summary>
/// POSIX path arithmetic as Python's posixpath does it, purely lexically: mkosi-sandbox compares,
/// deduplicates and sorts paths with these rules, so the same inputs must give the same order.
/// </summary>
internal static class PythonPath
{
    /// <summary>os.path.normpath: collapses "//", "." and ".." without looking at the filesystem.</summary>
    public static string Normalize(string path)
    {
        if (path.Length == 0)
            return ".";
        // POSIX lets exactly two leading slashes mean something else; three or more are one.
        int initial = path.StartsWith('/') ? (path.StartsWith("//", StringComparison.Ordinal) && !path.StartsWith("///", StringComparison.Ordinal) ? 2 : 1) : 0;
        var parts = new List<string>();
        foreach (string comp in path.Split('/'))
        {
            if (comp.Length == 0 || comp == ".")
                continue;
            if (comp != ".." || (initial == 0 && parts.Count == 0) || (parts.Count > 0 && parts[^1] == ".."))
                parts.Add(comp);
            else if (parts.Count > 0)
                parts.RemoveAt(parts.Count - 1);
        }
        string joined = new string('/', initial) + string.Join('/', parts);
        return joined.Length == 0 ? "." : joined;
    }

    /// <summary>os.path.abspath against the given working directory.</summary>
    public static string Absolute(string path, string cwd) =>
        Normalize(path.StartsWith('/') ? path : Join(cwd, path));

    /// <summary>os.path.join of two parts (an absolute second part replaces the first).</summary>
    public static string Join(string a, string b)
    {
        if (b.StartsWith('/') || a.Length == 0)
            return b;
        return a.EndsWith('/') ? a + b : a + "/" + b;
    }

    /// <summary>mkosi's splitpath: the non-empty components.</summary>
    public static string[] Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>mkosi's is_relative_to: os.path.commonpath((one, two)) == two.</summary>
    public static bool IsRelativeTo(string one, string two)
    {
        string[] a = Components(one), b = Components(two);
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n])
            n++;
        string prefix = one.StartsWith('/') ? "/" : "";
        return prefix + string.Join('/', b.Take(n)) == two;
    }

    /// <summary>os.path.relpath for two absolute, normalised paths.</summary>
    public static string Relative(string path, string start)
    {
        string[] p = Split(path), s = Split(start);
        int n = 0;
        while (n < p.Length && n < s.Length && p[n] == s[n])
            n++;
        var rel = Enumerable.Repeat("..", s.Length - n).Concat(p.Skip(n)).ToArray();
        return rel.Length == 0 ? "." : string.Join('/', rel);
    }

    /// <summary>Compares component tuples the way Python compares tuples of str: by code point, then by length.</summary>
    public static int CompareComponents(string[] a, string[] b)
    {
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            int c = CompareCodePoints(a[i], b[i]);
            if (c != 0)
                return c;
        }
        return a.Length.CompareTo(b.Length);
    }

    private static int CompareCodePoints(string a, string b)
    {
        var ea = a.EnumerateRunes();
        var eb = b.EnumerateRunes();
        while (true)
        {
            bool ha = ea.MoveNext(), hb = eb.MoveNext();
            if (!ha || !hb)
                return ha.CompareTo(hb);
            int c = ea.Current.Value.CompareTo(eb.Current.Value);
            if (c != 0)
                return c;
        }
    }

    private static string[] Components(string path) =>
        path.Split('/').Where(c => c.Length > 0 && c != ".").ToArray();
}
