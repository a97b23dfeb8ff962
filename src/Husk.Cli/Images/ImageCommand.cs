using System.Globalization;
using System.Text;
using Husk.Images;

namespace Husk.Cli.Images;

/// <summary>
/// <c>husk image ls|rm|prune</c>: the image cache that <c>husk run --image</c> fills (one tree per
/// layer, kept until removed). Removing never touches a layer a running sandbox holds.
/// </summary>
internal static class ImageCommand
{
    private static ImageCache Cache => new(ImageCache.DefaultLocation());

    /// <summary>Lists the images the cache has run, most recently used first.</summary>
    public static int List(bool quiet)
    {
        var cache = Cache;
        var images = cache.List();
        if (quiet)
        {
            foreach (var image in images)
                Console.Out.WriteLine(image.Id);
            return 0;
        }
        Console.Out.Write(Table(cache, images));
        return 0;
    }

    internal static string Table(ImageCache cache, IReadOnlyList<ImageRecord> images)
    {
        var sb = new StringBuilder();
        sb.AppendLine("ID            LAYERS  SIZE       LAST USED            REFERENCES");
        foreach (var image in images)
        {
            string hex = image.Id[(image.Id.IndexOf(':') + 1)..];
            int cached = image.Layers.Distinct().Count(cache.HasLayer);
            long bytes = image.Layers.Distinct().Sum(cache.LayerBytes);
            string layers = cached == image.Layers.Distinct().Count() ? $"{image.Layers.Count}" : $"{image.Layers.Count} ({cached} cached)";
            sb.Append(CultureInfo.InvariantCulture, $"{hex[..Math.Min(12, hex.Length)],-14}{layers,-8}{Size(bytes),-11}{image.LastUsed.ToLocalTime():yyyy-MM-dd HH:mm:ss}  ");
            sb.AppendLine(string.Join(", ", image.References));
        }
        return sb.ToString();
    }

    /// <summary>Forgets each image named (a reference as run, an id or a prefix of at least 4 digits) and deletes the layers only it used.</summary>
    public static int Remove(string[] selectors)
    {
        if (selectors.Length == 0)
        {
            Console.Error.WriteLine("husk image rm: name an image: a reference as run, or an id from husk image ls");
            return 2;
        }
        int status = 0;
        foreach (string selector in selectors)
        {
            var removal = Cache.Remove(selector);
            if (removal is null)
            {
                Console.Error.WriteLine($"husk image rm: {selector}: no such image in the cache (see husk image ls)");
                status = 1;
                continue;
            }
            Say(removal, $"removed {string.Join(", ", removal.Images.Select(Short))}");
        }
        return status;
    }

    /// <summary>Deletes the layers no image uses (with <paramref name="all"/>, every image's), and what interrupted unpacking left.</summary>
    public static int Prune(bool all)
    {
        var removal = Cache.Prune(all);
        Say(removal, all ? $"forgot {removal.Images.Count} images" : "pruned");
        return 0;
    }

    private static void Say(ImageCache.Removal removal, string what)
    {
        Console.Out.WriteLine($"{what}: {removal.Layers.Count} layers deleted ({Size(removal.Bytes)})");
        if (removal.Busy.Count > 0)
            Console.Error.WriteLine($"husk image: {removal.Busy.Count} layers are in use by running sandboxes and were kept: prune again once they end");
    }

    private static string Short(string id) => id[(id.IndexOf(':') + 1)..] is var hex && hex.Length > 12 ? hex[..12] : id;

    internal static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024:0.#} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024 / 1024:0.##} GiB"),
    };
}
