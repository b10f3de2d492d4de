//! `--shard K/N`: this host's part of a fleet, for schedulers that already split work (a
//! Kubernetes Indexed Job, N cron hosts) so the fleet scales out with no coordinator of ours.
//!
//! A target belongs to shard `fnv1a64(name) mod N`. The hash is FNV-1a 64 written out here, not
//! std's `DefaultHasher`, whose output may change between Rust releases: every host, on every
//! version of runbook, must cut the fleet the same way, or a target would be run twice or
//! never. Hashing the name (not its position) keeps a target in its shard when others are
//! added to or removed from the inventory.

use std::fmt;

/// Shard `index` of `count`: `index` from 0 to `count - 1`, as `JOB_COMPLETION_INDEX` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Reads `K/N` (blanks around the numbers allowed).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let expected = "expected K/N: shard K of N, K from 0 to N-1 (e.g. `0/3`, `2/3`)";
        let Some((index, count)) = text.split_once('/') else {
            return Err(format!("invalid shard `{text}`: {expected}"));
        };
        let number = |part: &str, what: &str| {
            part.trim().parse::<u64>().map_err(|_| {
                format!(
                    "invalid shard `{text}`: {what} `{}` is not a whole number; {expected}",
                    part.trim()
                )
            })
        };
        let index = number(index, "K")?;
        let count = number(count, "N")?;
        if count == 0 {
            return Err(format!(
                "invalid shard `{text}`: N must be at least 1; {expected}"
            ));
        }
        if index >= count {
            return Err(format!(
                "invalid shard `{text}`: K must be below N (shards of {count} are 0 to {}); {expected}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether the target `name` is in this shard.
    pub fn keeps(&self, name: &str) -> bool {
        fnv1a64(name.as_bytes()) % self.count == self.index
    }
}

impl fmt::Display for Shard {
    /// `K/N`, as `--shard` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// FNV-1a, 64 bits (offset basis and prime from the FNV specification).
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        (0..1000).map(|i| format!("db-{i:04}")).collect()
    }

    #[test]
    fn the_hash_is_fnv1a_64_and_does_not_change() {
        // The FNV specification's test vectors, then names a fleet uses: a changed value here
        // moves targets between shards on hosts running different versions.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a64(b"prod-db1"), 0x2c50_765a_13cc_cec4);
        let shards: Vec<u64> = ["prod-db1", "prod-db2", "eu-west/app", "db-0000"]
            .iter()
            .map(|name| fnv1a64(name.as_bytes()) % 7)
            .collect();
        assert_eq!(shards, [3, 5, 0, 2]);
        assert!(Shard::parse("3/7").unwrap().keeps("prod-db1"));
    }

    #[test]
    fn every_name_is_in_exactly_one_shard() {
        let names = names();
        for count in 1..=7 {
            let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
            let mut sizes = vec![0usize; shards.len()];
            for name in &names {
                let keeping: Vec<usize> = (0..shards.len())
                    .filter(|&i| shards[i].keeps(name))
                    .collect();
                assert_eq!(keeping.len(), 1, "{name} in shards {keeping:?} of {count}");
                sizes[keeping[0]] += 1;
            }
            let even = names.len() / shards.len();
            for (index, size) in sizes.iter().enumerate() {
                assert!(
                    size.abs_diff(even) * 5 <= even,
                    "shard {index}/{count} holds {size} of {} names (even: {even}): {sizes:?}",
                    names.len()
                );
            }
        }
    }

    #[test]
    fn shards_parse_from_k_of_n() {
        assert_eq!(Shard::parse("0/1"), Ok(Shard { index: 0, count: 1 }));
        assert_eq!(Shard::parse(" 2 / 3 "), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard::parse("2/3").unwrap().to_string(), "2/3");
        let expected = "expected K/N: shard K of N, K from 0 to N-1 (e.g. `0/3`, `2/3`)";
        for (text, error) in [
            ("3", format!("invalid shard `3`: {expected}")),
            (
                "3/3",
                format!(
                    "invalid shard `3/3`: K must be below N (shards of 3 are 0 to 2); {expected}"
                ),
            ),
            (
                "1/0",
                format!("invalid shard `1/0`: N must be at least 1; {expected}"),
            ),
            (
                "-1/3",
                format!("invalid shard `-1/3`: K `-1` is not a whole number; {expected}"),
            ),
            (
                "1/x",
                format!("invalid shard `1/x`: N `x` is not a whole number; {expected}"),
            ),
            (
                "/3",
                format!("invalid shard `/3`: K `` is not a whole number; {expected}"),
            ),
            (
                "1/2/3",
                format!("invalid shard `1/2/3`: N `2/3` is not a whole number; {expected}"),
            ),
        ] {
            assert_eq!(Shard::parse(text), Err(error), "{text}");
        }
    }
}
