//! A second sieve stage behind crypto-primes' own: a candidate that has no factor among its
//! 2,047 small primes (up to 17,863) is also checked against every prime up to 2^20 before
//! it gets a Miller-Rabin test. By Mertens' theorem that removes 1 - ln 17863 / ln 2^20 =
//! 29% of the candidates that would be tested, at the price of one pass over ~80,000 small
//! residues per candidate, a few hundred thousand instructions against the 8 to 50 million
//! of a test (1,024- to 2,048-bit candidates, measured with callgrind).
//!
//! Primality never depends on this stage: it only decides which candidates are worth a
//! test; every prime still passes Baillie-PSW and the FIPS checks.
//! The residues of the sieve's random start are computed once per start with crypto-bigint
//! (`rem_limb_with_reciprocal`, three primes per division); after that each candidate only
//! moves every residue by the distance from the one before (an add and a conditional
//! subtract per prime). Every candidate costs the same full pass, prime or not.

use std::sync::OnceLock;

use crypto_bigint::{BoxedUint, Limb, NonZero, Reciprocal, Resize, Word};
use zeroize::Zeroize;

/// crypto-primes' `SmallFactorsSieve` sieves with the odd primes up to this one.
const STAGE_ONE_LAST: u32 = 17_863;
/// This stage sieves with the primes above it and below this bound.
const LIMIT: u32 = 1 << 20;
/// Primes per division when the residues of a start are computed: their product
/// (< 2^(20 * PER_WORD)) must fit in a limb.
const PER_WORD: usize = (Word::BITS / 20) as usize;

struct Table {
    primes: Vec<u32>,
    /// One reciprocal per `PER_WORD` consecutive primes, of their product.
    products: Vec<Reciprocal>,
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
        let products = primes
            .chunks(PER_WORD)
            .map(|group| {
                let product = group.iter().fold(1 as Word, |acc, &q| acc * q as Word);
                Reciprocal::new(NonZero::new(Limb(product)).expect("a product of primes is not zero"))
            })
            .collect();
        Table { primes, products }
    })
}

/// The residues, modulo every prime of the table, of the numbers one crypto-primes sieve
/// walks through (in increasing order, from `start`). They determine the prime the search
/// finds (by the Chinese remainder theorem), so they are wiped on drop; no `Debug`.
pub struct DeepSieve {
    start: BoxedUint,
    /// The last candidate's distance from `start`.
    offset: u64,
    residues: Vec<u32>,
}

impl DeepSieve {
    pub fn new(start: &BoxedUint) -> DeepSieve {
        let table = table();
        let mut residues = Vec::with_capacity(table.primes.len());
        for (group, product) in table.primes.chunks(PER_WORD).zip(&table.products) {
            #[allow(clippy::useless_conversion, reason = "a Word is a u32 on 32-bit targets")]
            let r = u64::from(start.rem_limb_with_reciprocal(product).0);
            residues.extend(group.iter().map(|&q| (r % u64::from(q)) as u32));
        }
        DeepSieve { start: start.clone(), offset: 0, residues }
    }

    /// Whether `candidate` has no factor among the table's primes. Candidates must come in
    /// increasing order, none below the start.
    pub fn passes(&mut self, candidate: &BoxedUint) -> bool {
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
    use crypto_bigint::RandomBits;

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
