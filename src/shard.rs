//! Shards: running one part of a manifest on each of many machines (Kubernetes Indexed
//! Jobs, Slurm arrays, AWS Batch arrays, CI matrices) with no coordination between them.
//! A request belongs to a shard by a stable hash of its Name, so the split does not depend
//! on file order, core count or machine.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub(crate) index: u32,
    pub(crate) count: u32,
}

/// CsrIds of shard K carry K in their top bits (K << 40): ids stay unique across shards
/// without any coordination, and below 2^53 for up to 8192 shards of 2^40 CSRs each.
pub(crate) const ID_SHARD_SHIFT: u32 = 40;
pub(crate) const MAX_SHARDS: u32 = 1 << (53 - ID_SHARD_SHIFT);

/// Why a shard (from `--shard` or the engine's variables) is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    #[error("the shard count must be 1 to {MAX_SHARDS}, not {0}")]
    Count(u32),
    #[error("shard {index} does not exist in {} (they are 0 to {})", crate::words::plural(*count, "shard"), count - 1)]
    Index { index: u32, count: u32 },
    #[error("`{0}` is not K/N (e.g. 0/4)")]
    Syntax(String),
    #[error("{var}={value} is not a number")]
    NotANumber { var: String, value: String },
    #[error("JOB_COMPLETION_INDEX is set: give the number of shards with --shards N or CSRBATCH_SHARDS")]
    NoCount,
    #[error("{0} without {1}")]
    Without(&'static str, &'static str),
    #[error("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")]
    BelowMin,
}

impl Shard {
    pub(crate) fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError::Count(count));
        }
        if index >= count {
            return Err(ShardError::Index { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Whether the request with this Name is this shard's.
    pub(crate) fn holds(self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }

    /// The first CsrId of this shard's id space.
    pub(crate) fn id_base(self) -> u64 {
        u64::from(self.index) << ID_SHARD_SHIFT
    }

    /// The shard from the environment of the engine running this process, if any:
    /// `JOB_COMPLETION_INDEX` (Kubernetes Indexed Job; count from `shards` or
    /// `CSRBATCH_SHARDS`), `SLURM_ARRAY_TASK_ID`/`SLURM_ARRAY_TASK_COUNT` (less
    /// `SLURM_ARRAY_TASK_MIN`), `AWS_BATCH_JOB_ARRAY_INDEX`/`AWS_BATCH_JOB_ARRAY_SIZE`.
    pub(crate) fn from_env(
        env: impl Fn(&str) -> Option<String>,
        shards: Option<u32>,
    ) -> Result<Option<Shard>, ShardError> {
        let number = |var: &str| -> Result<Option<u32>, ShardError> {
            env(var)
                .map(|v| {
                    v.trim()
                        .parse::<u32>()
                        .map_err(|_| ShardError::NotANumber { var: var.to_owned(), value: v.clone() })
                })
                .transpose()
        };
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = match shards {
                Some(n) => n,
                None => number("CSRBATCH_SHARDS")?.ok_or(ShardError::NoCount)?,
            };
            return Shard::new(index, count).map(Some);
        }
        if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
            let count = number("SLURM_ARRAY_TASK_COUNT")?
                .ok_or(ShardError::Without("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"))?;
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = task.checked_sub(min).ok_or(ShardError::BelowMin)?;
            return Shard::new(index, count).map(Some);
        }
        if let Some(index) = number("AWS_BATCH_JOB_ARRAY_INDEX")? {
            let count = number("AWS_BATCH_JOB_ARRAY_SIZE")?
                .ok_or(ShardError::Without("AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE"))?;
            return Shard::new(index, count).map(Some);
        }
        Ok(None)
    }
}

/// The shard (of `count`) of a Name: the first 8 bytes of SHA-256 of the lower-case Name,
/// big-endian, modulo `count`.
pub(crate) fn shard_of(name: &str, count: u32) -> u32 {
    shard_of_key(crate::request::name_key(name), count)
}

/// [`shard_of`] for a Name already digested by [`crate::request::name_key`].
pub(crate) fn shard_of_key(key: u128, count: u32) -> u32 {
    let bytes = key.to_le_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
}

impl FromStr for Shard {
    type Err = ShardError;

    /// `K/N`, as in `--shard 2/8`.
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let (k, n) = s.split_once('/').ok_or_else(|| ShardError::Syntax(s.to_owned()))?;
        let num = |t: &str| t.trim().parse::<u32>().map_err(|_| ShardError::Syntax(s.to_owned()));
        Shard::new(num(k)?, num(n)?)
    }
}

/// In state.json a shard is its `K/N` text.
impl serde::Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shard, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn parse_and_bounds() {
        assert_eq!("2/8".parse::<Shard>().unwrap(), Shard { index: 2, count: 8 });
        assert!("8/8".parse::<Shard>().unwrap_err().to_string().contains("does not exist"));
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert!(format!("0/{}", MAX_SHARDS + 1).parse::<Shard>().is_err());
    }

    #[test]
    fn every_name_is_in_exactly_one_shard_and_the_split_is_stable() {
        let shards: Vec<Shard> = (0..4).map(|i| Shard::new(i, 4).unwrap()).collect();
        let mut sizes = [0; 4];
        for i in 0..4000 {
            let name = format!("host-{i}");
            let holders: Vec<u32> = shards.iter().filter(|s| s.holds(&name)).map(|s| s.index).collect();
            assert_eq!(holders.len(), 1);
            sizes[holders[0] as usize] += 1;
            assert!(shards[holders[0] as usize].holds(&name.to_uppercase()), "case does not move a request");
        }
        assert!(sizes.iter().all(|n| (800..1200).contains(n)), "{sizes:?}");
        // Pinned values (computed independently with Python's hashlib): a change of the
        // hash would silently move requests between shards of runs already under way.
        assert_eq!((shard_of("www", 4), shard_of("api", 4), shard_of("host-1", 1000)), (0, 1, 567));
        assert_eq!(shard_of("anything", 1), 0);
    }

    #[test]
    fn engines_from_their_variables() {
        let k8s = [("JOB_COMPLETION_INDEX", "3")];
        assert_eq!(Shard::from_env(env(&k8s), Some(4)).unwrap(), Some(Shard { index: 3, count: 4 }));
        assert!(Shard::from_env(env(&k8s), None).unwrap_err().to_string().contains("--shards"));
        let k8s_env = [("JOB_COMPLETION_INDEX", "1"), ("CSRBATCH_SHARDS", "2")];
        assert_eq!(Shard::from_env(env(&k8s_env), None).unwrap(), Some(Shard { index: 1, count: 2 }));
        let slurm =
            [("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1")];
        assert_eq!(Shard::from_env(env(&slurm), None).unwrap(), Some(Shard { index: 3, count: 4 }));
        let aws = [("AWS_BATCH_JOB_ARRAY_INDEX", "0"), ("AWS_BATCH_JOB_ARRAY_SIZE", "10")];
        assert_eq!(Shard::from_env(env(&aws), None).unwrap(), Some(Shard { index: 0, count: 10 }));
        assert_eq!(Shard::from_env(env(&[]), None).unwrap(), None);
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "x")]), None).is_err());
    }

    #[test]
    fn csr_id_spaces_do_not_overlap() {
        let last = Shard::new(MAX_SHARDS - 1, MAX_SHARDS).unwrap();
        assert!(last.id_base() + (1 << ID_SHARD_SHIFT) - 1 < 1 << 53);
        assert_eq!(Shard::new(0, 4).unwrap().id_base(), 0);
        assert_eq!(Shard::new(1, 4).unwrap().id_base(), 1 << 40);
    }
}
