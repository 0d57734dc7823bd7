//! A second sieve stage behind crypto-primes' own: a candidate that has no factor among its
//! 2,047 small primes (up to 17,863) is also checked against every prime up to 2^20 before
//! it gets a Miller-Rabin test. By Mertens' theorem that removes 1 - ln 17863 / ln 2^20 =
//! 29% of the candidates that would be tested, at the price of one pass over ~80,000 small
//! residues per candidate, a few hundred thousand instructions against the 8 to 50 million
//! of a test (1,024- to 2,048-bit candidates, measured with callgrind).
//!
//! Primality never depends on this stage: it only decides which candidates are worth a
//! test; every prime still passes Baillie-PSW and the FIPS checks.
//! The residues of the sieve's random start are computed once per start: modulo the product
//! of three primes by 64-bit Montgomery reduction (a few multiplications a limb, no
//! division: a third of the time `rem_limb_with_reciprocal` took), then modulo each prime by
//! Barrett reduction, all without branches on the start; after that each candidate only
//! moves every residue by the distance from the one before (an add and a conditional
//! subtract per prime). Every candidate costs the same full pass, prime or not.

use std::sync::OnceLock;

use crypto_bigint::{BoxedUint, Resize};
use zeroize::Zeroize;

/// crypto-primes' `SmallFactorsSieve` sieves with the odd primes up to this one.
const STAGE_ONE_LAST: u32 = 17_863;
/// This stage sieves with the primes above it and below this bound.
const LIMIT: u32 = 1 << 20;
/// Primes per group: the residues of a start are computed modulo the product of a group
/// (below 2^60, so an odd 64-bit Montgomery modulus), then modulo each of its primes.
const PER_GROUP: usize = 3;

/// A group's product m with what reducing a many-limb number modulo m takes: Montgomery
/// reduction by R = 2^64 limb by limb (no division), then one multiplication by
/// R^(limbs + 1) mod m, which is the same for every start of a size (see [`Table::fixes`]).
struct Group {
    m: u64,
    /// -m^-1 mod 2^64.
    minv: u64,
}

impl Group {
    fn new(m: u64) -> Group {
        // Newton's iteration for m^-1 mod 2^64 (m odd): each step doubles the correct bits.
        let mut inv = m;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(inv)));
        }
        Group { m, minv: inv.wrapping_neg() }
    }

    /// t * R^-1 mod m, for t < 2^64 * m; constant-time (no branch on t).
    fn redc(&self, t: u128) -> u64 {
        let q = (t as u64).wrapping_mul(self.minv);
        // t + q * m < 2^128 and is divisible by R; the quotient is below 2m.
        let u = ((t >> 64) + ((t as u64 as u128 + q as u128 * self.m as u128) >> 64)) as u64;
        let (reduced, borrow) = u.overflowing_sub(self.m);
        reduced.wrapping_add(self.m & 0u64.wrapping_sub(u64::from(borrow)))
    }

    /// x mod m, x given as little-endian 64-bit limbs; `fix` is R^(limbs + 1) mod m.
    fn reduce(&self, limbs: &[u64], fix: u64) -> u64 {
        // y = x * R^-limbs mod m, from the lowest limb up: y < m, and y + limb < 2^64 * m.
        let mut y = 0u64;
        for &limb in limbs {
            y = self.redc(y as u128 + limb as u128);
        }
        self.redc(y as u128 * fix as u128)
    }
}

/// x mod q for x < 2^64 with a precomputed floor((2^64 - 1) / q): the estimate of the
/// quotient is at most one short, so one conditional subtract (no division instruction,
/// whose time can depend on x).
fn barrett(x: u64, q: u32, reciprocal: u64) -> u32 {
    let estimate = ((x as u128 * reciprocal as u128) >> 64) as u64;
    let r = x - estimate * u64::from(q);
    let (reduced, borrow) = r.overflowing_sub(u64::from(q));
    reduced.wrapping_add(u64::from(q) & 0u64.wrapping_sub(u64::from(borrow))) as u32
}

struct Table {
    primes: Vec<u32>,
    /// floor((2^64 - 1) / q) for each prime q.
    reciprocals: Vec<u64>,
    groups: Vec<Group>,
    /// For each size of start in limbs, R^(limbs + 1) mod m of every group, made the first
    /// time a start of that size is seen (RSA keys come in a few sizes).
    fixes: std::sync::Mutex<std::collections::HashMap<usize, &'static [u64]>>,
}

impl Table {
    fn fixes(&self, limbs: usize) -> &'static [u64] {
        let mut fixes = self.fixes.lock().unwrap_or_else(|p| p.into_inner());
        fixes.entry(limbs).or_insert_with(|| {
            let fix = |g: &Group| {
                let r = ((1u128 << 64) % g.m as u128) as u64;
                (0..limbs).fold(r, |acc, _| ((acc as u128 * r as u128) % g.m as u128) as u64)
            };
            Vec::leak(self.groups.iter().map(fix).collect())
        })
    }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut composite = vec![false; LIMIT as usize];
        let mut primes = Vec::new();
        for n in (3..LIMIT as usize).step_by(2) {
            if composite[n] {
                continue;
            }
            if n > STAGE_ONE_LAST as usize {
                primes.push(n as u32);
            }
            for multiple in (n * n..LIMIT as usize).step_by(2 * n) {
                composite[multiple] = true;
            }
        }
        let reciprocals = primes.iter().map(|&q| u64::MAX / u64::from(q)).collect();
        let groups = primes
            .chunks(PER_GROUP)
            .map(|group| Group::new(group.iter().fold(1u64, |acc, &q| acc * u64::from(q))))
            .collect();
        Table { primes, reciprocals, groups, fixes: Default::default() }
    })
}

/// The residues, modulo every prime of the table, of the numbers one crypto-primes sieve
/// walks through (in increasing order, from `start`). They determine the prime the search
/// finds (by the Chinese remainder theorem), so they are wiped on drop; no `Debug`.
pub(crate) struct DeepSieve {
    start: BoxedUint,
    /// The last candidate's distance from `start`.
    offset: u64,
    residues: Vec<u32>,
}

impl DeepSieve {
    pub(crate) fn new(start: &BoxedUint) -> DeepSieve {
        let table = table();
        let mut bytes = start.to_le_bytes();
        let mut limbs: Vec<u64> = bytes
            .chunks(8)
            .map(|c| {
                let mut word = [0u8; 8];
                word[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(word)
            })
            .collect();
        bytes.zeroize();
        let fixes = table.fixes(limbs.len());
        let mut residues = Vec::with_capacity(table.primes.len());
        let groups = table.primes.chunks(PER_GROUP).zip(table.reciprocals.chunks(PER_GROUP));
        for ((primes, reciprocals), (group, &fix)) in groups.zip(table.groups.iter().zip(fixes)) {
            let r = group.reduce(&limbs, fix);
            residues.extend(primes.iter().zip(reciprocals).map(|(&q, &v)| barrett(r, q, v)));
        }
        limbs.zeroize();
        DeepSieve { start: start.clone(), offset: 0, residues }
    }

    /// Whether `candidate` has no factor among the table's primes. Candidates must come in
    /// increasing order, none below the start.
    pub(crate) fn passes(&mut self, candidate: &BoxedUint) -> bool {
        // The distance fits in 64 bits: a search ends within a few thousand numbers.
        let distance = candidate.wrapping_sub(&self.start).resize_unchecked(64).to_le_bytes();
        let offset = u64::from_le_bytes(distance[..8].try_into().expect("64 bits are 8 bytes"));
        let delta = offset.wrapping_sub(self.offset);
        self.offset = offset;
        let primes = &table().primes;
        let mut divisible = false;
        if delta < u64::from(STAGE_ONE_LAST) {
            // The usual case (stage one leaves a candidate every ~17 numbers): every prime
            // is above the step, so one conditional subtract reduces each residue.
            let step = delta as u32;
            for (r, &q) in self.residues.iter_mut().zip(primes) {
                let moved = *r + step;
                *r = if moved >= q { moved - q } else { moved };
                divisible |= *r == 0;
            }
        } else {
            for (r, &q) in self.residues.iter_mut().zip(primes) {
                *r = ((u64::from(*r) + delta % u64::from(q)) % u64::from(q)) as u32;
                divisible |= *r == 0;
            }
        }
        !divisible
    }
}

impl Drop for DeepSieve {
    fn drop(&mut self) {
        self.start.zeroize();
        self.residues.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_bigint::{Limb, NonZero, RandomBits, Word};

    #[test]
    fn the_table_holds_every_prime_between_the_stages() {
        let primes = &table().primes;
        // pi(2^20) = 82025 and pi(17863) = 2048 (2 and the 2,047 odd primes of stage one).
        assert_eq!(primes.len(), 82_025 - 2_048);
        assert_eq!((primes[0], *primes.last().unwrap()), (17_881, 1_048_573));
    }

    #[test]
    fn agrees_with_division_by_every_prime() {
        let mut start =
            BoxedUint::random_bits(&mut crypto_bigint::rand_core::UnwrapErr(getrandom::SysRng), 512);
        start = start.wrapping_add(BoxedUint::one()); // any start works, odd or even
        let mut sieve = DeepSieve::new(&start);
        let (mut rejected, mut offset) = (0, 0u64);
        // Small steps, a step of exactly a table prime, and steps past stage one's bound.
        for step in (0..400).map(|i| {
            if i % 97 == 5 {
                17_881
            } else if i % 50 == 7 {
                100_003
            } else {
                i % 7
            }
        }) {
            offset += step;
            let candidate = start.wrapping_add(BoxedUint::from(offset));
            let by_division = table()
                .primes
                .iter()
                .all(|&q| candidate.rem_limb(NonZero::new(Limb(q as Word)).unwrap()) != Limb::ZERO);
            assert_eq!(sieve.passes(&candidate), by_division, "offset {offset}");
            rejected += usize::from(!by_division);
        }
        assert!(rejected > 0, "the walk never met a multiple of a table prime");
    }

    #[test]
    fn residues_of_a_start_are_its_remainders_at_every_size() {
        let mut rng = crypto_bigint::rand_core::UnwrapErr(getrandom::SysRng);
        for bits in [64, 512, 1024, 1536, 2048, 4096] {
            // A random start, and the extremes: all ones (every limb at its largest).
            for start in [BoxedUint::random_bits(&mut rng, bits), BoxedUint::max(bits)] {
                let sieve = DeepSieve::new(&start);
                for (i, &q) in table().primes.iter().enumerate().step_by(97) {
                    let r = start.rem_limb(NonZero::new(Limb(q as Word)).unwrap()).0 as u32;
                    assert_eq!(sieve.residues[i], r, "{bits} bits, q = {q}");
                }
            }
        }
    }

    #[test]
    fn barrett_reduction_is_exact_at_the_edges() {
        for &q in &[17_881u32, 65_537, 1_048_573] {
            let v = u64::MAX / u64::from(q);
            for x in
                [0, 1, u64::from(q) - 1, u64::from(q), u64::MAX, u64::MAX - 1, (1 << 60) - 1, 12_345_678_901]
            {
                assert_eq!(u64::from(barrett(x, q, v)), x % u64::from(q), "{x} mod {q}");
            }
        }
    }

    #[test]
    fn a_multiple_of_a_table_prime_is_rejected() {
        let q = BoxedUint::from(1_048_573u64).resize_unchecked(512);
        let start = BoxedUint::random_bits(&mut crypto_bigint::rand_core::UnwrapErr(getrandom::SysRng), 400)
            .resize_unchecked(512)
            .wrapping_mul(&q); // a multiple of the largest table prime
        let mut sieve = DeepSieve::new(&start);
        assert!(!sieve.passes(&start));
        assert!(
            !sieve.passes(&start.wrapping_add(q.wrapping_mul(BoxedUint::from(2u64).resize_unchecked(512))))
        );
    }
}
