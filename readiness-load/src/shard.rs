//! Shards: one load split across processes or machines (`READINESS_SHARD=i/n`).

use readiness_core::{Error, Result};

/// One shard of a load split across processes or machines: `index` of `count`, 1-based
/// (`READINESS_SHARD=2/4`). Shard i takes every count-th arrival of the open model's
/// schedule (so the shards together follow it exactly) or its share of the virtual users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl Shard {
    /// Parses `i/n` with 1 <= i <= n.
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || {
            Error::InvalidInput(format!(
                "READINESS_SHARD={text:?} must be i/n with 1 <= i <= n, e.g. 2/4"
            ))
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard from `READINESS_SHARD` (or `[settings]` in readiness.toml), if set.
    pub fn from_settings() -> Result<Option<Shard>> {
        readiness_core::settings::get("READINESS_SHARD")?
            .filter(|s| !s.is_empty())
            .map(|s| Shard::parse(&s))
            .transpose()
    }

    /// (step, first): this shard's arrivals are `first`, `first + step`, ... and its
    /// iteration ids of the closed model `n * step + first`, so ids are unique across
    /// shards.
    pub(crate) fn stride(shard: Option<Shard>) -> (u64, u64) {
        match shard {
            Some(s) => (u64::from(s.count), u64::from(s.index - 1)),
            None => (1, 0),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Shard `s`'s share of `users` virtual users and the number of its first user.
pub fn shard_users(users: u64, s: Shard) -> (u64, u64) {
    let (n, i, k) = (users, u64::from(s.index - 1), u64::from(s.count));
    let share = n / k + u64::from(i < n % k);
    (share, i * (n / k) + i.min(n % k))
}
