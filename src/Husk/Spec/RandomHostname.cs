using System.Security.Cryptography;

namespace Husk;

/// <summary>
/// Random hostnames of the form ADJECTIVE-NOUN ("quiet-harbor"), as microbox gives each sandbox by
/// default: a name a person can tell apart from another at a glance, valid as a hostname.
/// </summary>
public static class RandomHostname
{
    private static readonly string[] Adjectives =
    [
        "amber", "bold", "brisk", "calm", "clever", "cosmic", "crimson", "dapper", "eager", "fancy",
        "gentle", "golden", "happy", "hidden", "icy", "jolly", "keen", "lively", "lucky", "mellow",
        "misty", "nimble", "noble", "odd", "plain", "proud", "quiet", "rapid", "rustic", "shiny",
        "silent", "snowy", "sturdy", "sunny", "swift", "tidy", "velvet", "wild", "witty", "young",
    ];

    private static readonly string[] Nouns =
    [
        "acorn", "badger", "beacon", "brook", "canyon", "cedar", "comet", "dawn", "delta", "ember",
        "falcon", "fern", "forest", "glacier", "harbor", "heron", "island", "jasper", "lagoon", "lantern",
        "meadow", "meteor", "orchid", "otter", "pebble", "pine", "prairie", "raven", "reef", "river",
        "sparrow", "summit", "thistle", "tide", "tundra", "valley", "willow", "wren", "yarrow", "zephyr",
    ];

    /// <summary>A new random name.</summary>
    public static string Next() =>
        $"{Adjectives[RandomNumberGenerator.GetInt32(Adjectives.Length)]}-{Nouns[RandomNumberGenerator.GetInt32(Nouns.Length)]}";
}
