//! TEMPORARY (replaced by the fleet-targets branch).
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text.split_once('/').ok_or("expected K/N")?;
        let index: u64 = k.parse().map_err(|_| "bad K")?;
        let count: u64 = n.parse().map_err(|_| "bad N")?;
        Ok(Shard { index, count })
    }

    pub fn keeps(&self, name: &str) -> bool {
        name.len() as u64 % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
