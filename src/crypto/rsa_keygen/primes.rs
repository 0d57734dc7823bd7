//! The prime search of the default RSA backend, shared by idle rayon workers, and the
//! FIPS 186-5 (appendix A.1.3) checks every pair of primes must pass.
//!
//! A search walks random sieves of candidates (crypto-primes' `SmallFactorsSieve`, the one
//! the `rsa` crate uses, then a deeper stage, [`super::deep_sieve`]) and tests them with
//! crypto-primes' Baillie-PSW `is_prime`, as the `rsa` crate does. The candidates feed a
//! rayon `par_bridge` and the first acceptable prime wins
//! (`find_map_any`). On a pool whose workers are all busy, the split-off halves of the
//! search stay on the searching thread's own deque and it pops them back, so the search
//! runs as it would on one thread; a worker with nothing else to do steals a half and tests
//! candidates from the same stream until some thread finds a prime. No thread is spawned
//! here: the search runs on whatever pool the caller is on.

use std::num::NonZeroU32;

use crypto_bigint::modular::BoxedMontyForm;
use crypto_bigint::{
    BitOps, BoxedUint, Choice, ConcatenatingSquare, CtAssign, CtLt, CtNeg, Limb, MontyForm, MontyMultiplier,
    NonZero, Odd, RandomBits, Resize, U1024,
};
use crypto_primes::hazmat::{AStarBase, LucasCheck, Primality, SmallFactorsSieve, lucas_test};
use rayon::iter::{ParallelBridge, ParallelIterator};

use super::deep_sieve::DeepSieve;
use crate::crypto::CryptoError;

/// The public exponent, e = 65537 (prime, so e is coprime to p - 1 unless p = 1 mod e).
pub(crate) const E: u32 = 65_537;

/// Why a prime or a pair of primes cannot make a key; each is a FIPS 186-5 A.1.3 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// p < sqrt(2) * 2^(nlen/2 - 1) (step 4.4 / 5.4), or p >= 2^(nlen/2).
    OutOfRange,
    /// e divides p - 1, so no private exponent exists (step 4.5 / 5.5).
    NotCoprimeToE,
    /// |p - q| <= 2^(nlen/2 - 100) (step 5.4).
    TooClose,
}

/// Checks one prime of an `nlen`-bit modulus: sqrt(2) * 2^(nlen/2 - 1) <= p < 2^(nlen/2)
/// and gcd(p - 1, e) = 1. Its primality is the search's business.
pub(crate) fn check_prime(p: &BoxedUint, nlen: u32) -> Result<(), Rejection> {
    let half = nlen / 2;
    // p >= sqrt(2) * 2^(half-1)  <=>  p^2 >= 2^(2*half - 1)  <=>  p^2 has at least 2*half bits.
    if p.bit_width() > half || p.concatenating_square().bit_width() < 2 * half {
        return Err(Rejection::OutOfRange);
    }
    // e is prime: gcd(p - 1, e) != 1 exactly when p = 1 (mod e).
    let e = NonZero::new(Limb::from(E)).expect("65537 is not zero");
    if p.rem_limb(e) == Limb::ONE {
        return Err(Rejection::NotCoprimeToE);
    }
    Ok(())
}

/// Checks a pair of primes for an `nlen`-bit modulus: each by [`check_prime`], and
/// |p - q| > 2^(nlen/2 - 100). Constant-time in the values (only the verdict shows).
pub(crate) fn check_pair(p: &BoxedUint, q: &BoxedUint, nlen: u32) -> Result<(), Rejection> {
    check_prime(p, nlen)?;
    check_prime(q, nlen)?;
    let width = p.bits_precision().max(q.bits_precision());
    let (p, q) = (p.resize_unchecked(width), q.resize_unchecked(width));
    let distance = p.wrapping_sub(&q).ct_neg(p.ct_lt(&q));
    let bound = BoxedUint::one_with_precision(width).wrapping_shl_vartime(nlen / 2 - 100);
    if !bool::from(bound.ct_lt(&distance)) {
        return Err(Rejection::TooClose);
    }
    Ok(())
}

/// An endless stream of sieved candidates of exactly `bits` bits with their top two bits
/// set (so any two of them multiply to exactly `2 * bits` bits), each sieve starting at a
/// fresh random point from the OS CSPRNG.
struct Candidates {
    bits: NonZeroU32,
    sieve: Option<(SmallFactorsSieve<BoxedUint>, DeepSieve)>,
}

impl Candidates {
    fn fresh_sieve(&self) -> Result<(SmallFactorsSieve<BoxedUint>, DeepSieve), CryptoError> {
        let bits = self.bits.get();
        let mut start = BoxedUint::try_random_bits(&mut getrandom::SysRng, bits)
            .map_err(|e| CryptoError::KeyGen(format!("OS random number generator: {e:?}")))?;
        start.set_bit_vartime(0, true);
        start.set_bit_vartime(bits - 1, true);
        start.set_bit_vartime(bits - 2, true);
        let deep = DeepSieve::new(&start);
        let sieve = SmallFactorsSieve::new(start, self.bits, false)
            .map_err(|e| CryptoError::KeyGen(e.to_string()))?;
        Ok((sieve, deep))
    }
}

impl Iterator for Candidates {
    type Item = Result<BoxedUint, CryptoError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // A sieve ends after ~2^32 numbers or at 2^bits; then a new random start.
            if let Some((sieve, deep)) = self.sieve.as_mut() {
                // Both stages run here, under par_bridge's lock: the deep one walks its
                // residues in the sieve's order. Only the tests run in parallel.
                if let Some(candidate) = sieve.find(|c| deep.passes(c)) {
                    return Some(Ok(candidate));
                }
            }
            match self.fresh_sieve() {
                Ok(sieve) => self.sieve = Some(sieve),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Finds a random prime for an `nlen`-bit modulus that passes [`check_prime`], testing
/// candidates on every idle worker of the current rayon pool. `tested` is called on the
/// thread of each primality test (tests watch which workers took part).
pub(crate) fn find_prime(nlen: u32, tested: &(dyn Fn() + Sync)) -> Result<BoxedUint, CryptoError> {
    let bits = NonZeroU32::new(nlen / 2)
        .filter(|b| b.get() >= 128)
        .ok_or_else(|| CryptoError::KeyGen(format!("{nlen}-bit RSA modulus is too small")))?;
    let candidates = Candidates { bits, sieve: None };
    let found = candidates.par_bridge().find_map_any(|candidate| match candidate {
        Ok(c) => {
            // The cheap e check first: it discards 1 candidate in 65537 before the test.
            if check_prime(&c, nlen).is_err() {
                return None;
            }
            tested();
            is_prime(&c).then_some(Ok(c))
        }
        Err(e) => Some(Err(e)),
    });
    found.unwrap_or_else(|| Err(CryptoError::KeyGen("the prime search ended without a prime".into())))
}

/// Baillie-PSW as crypto-primes' `is_prime` runs it on a large odd number (Miller-Rabin to
/// base 2, then the strong Lucas test with A* bases, `LucasCheck::Bpsw21`), with the
/// Miller-Rabin step of [`passes_base_two`]: nearly every candidate stops there.
fn is_prime(candidate: &BoxedUint) -> bool {
    let Some(odd) = Odd::new(candidate.clone()).into_option() else { return false };
    passes_base_two(candidate) && lucas_test(odd, AStarBase, LucasCheck::Bpsw21) != Primality::Composite
}

/// The strong probable-prime test to base 2 (Miller-Rabin), deciding as crypto-primes'
/// `MillerRabin::test_base_two` does, for an odd `n` > 3. 2^d mod n is made by squaring
/// and doubling: for base 2, multiplying by the base is a modular doubling (an add and a
/// conditional subtract), so the generic windowed exponentiation's multiplications and its
/// table of powers are not needed. Measured: 12% less time a key at 3072 bits, where
/// crypto-bigint squares with a dedicated kernel; no change at 2048 bits, where its full
/// squaring is a multiplication. Like crypto-primes: its Montgomery parameters and `s`, `d`
/// are computed in variable time; the exponentiation is constant-time in d (every bit
/// costs a square, a doubling and a constant-time select).
///
/// The 1024-bit candidates of a 2048-bit key are tested with crypto-bigint's fixed-size
/// Montgomery arithmetic, whose loops the compiler unrolls for that size: 0.89 of the
/// heap-allocated arithmetic's time (16 64-bit limbs, 8 rounds of 200 numbers). At 1536 and
/// 2048 bits the heap-allocated one squares with a dedicated kernel and was faster (1.06 to
/// 1.25), so it tests every other size. Both decide alike: a test holds each to crypto-primes.
fn passes_base_two(n: &BoxedUint) -> bool {
    let Some((d, s)) = odd_part_of_n_minus_one(n) else { return false };
    if n.bits_precision() == U1024::BITS {
        fixed::passes_base_two::<{ U1024::LIMBS }>(n, &d, s)
    } else {
        passes_base_two_boxed(n, &d, s)
    }
}

/// (d, s) with n - 1 = d * 2^s and d odd; `None` for an even n or n = 1.
fn odd_part_of_n_minus_one(n: &BoxedUint) -> Option<(BoxedUint, u32)> {
    if n.as_limbs().first().is_none_or(|low| low.0 & 1 == 0) {
        return None;
    }
    let n_minus_one = n.wrapping_sub(BoxedUint::one_with_precision(n.bits_precision()));
    let s = n_minus_one.trailing_zeros_vartime();
    Some((n_minus_one.overflowing_shr_vartime(s)?, s))
}

/// Bit `i` of `d`, as a `Choice` (constant-time in the bit).
fn bit(d: &[Limb], i: u32) -> Choice {
    let limb = d[(i / Limb::BITS) as usize].0;
    Choice::from_u8_lsb(((limb >> (i % Limb::BITS)) & 1) as u8)
}

fn passes_base_two_boxed(n: &BoxedUint, d: &BoxedUint, s: u32) -> bool {
    let Some(odd) = Odd::new(n.clone()).into_option() else { return false };
    let params = BoxedMontyForm::new_params_vartime(odd);
    let one = BoxedMontyForm::one(&params);
    let minus_one = -one.clone();
    let modulus = params.modulus().as_nz_ref();
    let mut multiplier = <BoxedMontyForm as MontyForm>::Multiplier::from(&params);
    let (mut z, mut doubled) = (one.clone(), one.clone());
    for i in (0..d.bit_width_vartime()).rev() {
        multiplier.square_assign(&mut z);
        doubled.copy_montgomery_from(&z);
        doubled.as_montgomery_mut().add_mod_assign(z.as_montgomery(), modulus);
        z.as_montgomery_mut().ct_assign(doubled.as_montgomery(), bit(d.as_limbs(), i));
    }
    squares_reach_minus_one(z, &one, &minus_one, s, |z| multiplier.square_assign(z))
}

/// The rest of the test once z = 2^d: whether z is ±1, or one of its next s - 1 squares is
/// -1 (before any is 1).
fn squares_reach_minus_one<M: PartialEq>(
    mut z: M,
    one: &M,
    minus_one: &M,
    s: u32,
    mut square: impl FnMut(&mut M),
) -> bool {
    if z == *one || z == *minus_one {
        return true;
    }
    for _ in 1..s {
        square(&mut z);
        if z == *minus_one {
            return true;
        }
        if z == *one {
            return false;
        }
    }
    false
}

/// [`passes_base_two_boxed`] in `LIMBS`-limb arithmetic, step for step.
mod fixed {
    use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
    use crypto_bigint::{BoxedUint, CtAssign, Limb, MontyForm, MontyMultiplier, Odd, Uint};

    pub(super) fn passes_base_two<const LIMBS: usize>(n: &BoxedUint, d: &BoxedUint, s: u32) -> bool {
        let Some(n) = uint::<LIMBS>(n).and_then(|n| Odd::new(n).into_option()) else { return false };
        let params = FixedMontyParams::new_vartime(n);
        let one = FixedMontyForm::one(&params);
        let minus_one = -one;
        let modulus = params.modulus().as_nz_ref();
        let mut multiplier = <FixedMontyForm<LIMBS> as MontyForm>::Multiplier::from(&params);
        let mut z = one;
        for i in (0..d.bit_width_vartime()).rev() {
            multiplier.square_assign(&mut z);
            let doubled = z.as_montgomery().double_mod(modulus);
            z.as_montgomery_mut().ct_assign(&doubled, super::bit(d.as_limbs(), i));
        }
        super::squares_reach_minus_one(z, &one, &minus_one, s, |z| multiplier.square_assign(z))
    }

    /// `n` as a `LIMBS`-limb integer, if it has exactly that many limbs.
    fn uint<const LIMBS: usize>(n: &BoxedUint) -> Option<Uint<LIMBS>> {
        let limbs: [Limb; LIMBS] = n.as_limbs().try_into().ok()?;
        Some(Uint::new(limbs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(hex: &str) -> BoxedUint {
        BoxedUint::from_be_hex(hex, (hex.len() * 4) as u32).unwrap()
    }

    /// 2^bits - 1 - k: odd for even k, with the top bits set.
    fn near_top(bits: u32, k: u64) -> BoxedUint {
        BoxedUint::max(bits).wrapping_sub(BoxedUint::from(k).resize_unchecked(bits))
    }

    #[test]
    fn the_sqrt2_bound_is_exact() {
        // For 256-bit halves (nlen 512): sqrt(2) * 2^255 = 0xb504f333f9de6484597d89b3754abe9f...
        let below = int("b504f333f9de6484597d89b3754abe9f1d6f60ba893ba84ced17ac8583339915");
        let above = int("b504f333f9de6484597d89b3754abe9f1d6f60ba893ba84ced17ac8583339917");
        assert_eq!(check_prime(&below, 512), Err(Rejection::OutOfRange));
        assert_eq!(check_prime(&above, 512), Ok(()));
        assert_eq!(check_prime(&near_top(257, 0), 512), Err(Rejection::OutOfRange));
    }

    #[test]
    fn a_prime_one_more_than_a_multiple_of_e_is_rejected() {
        // p = 1 + 65537 * k with k = 2^239 + 2^238: 256 bits, top two set, p - 1 divisible by e.
        let k = BoxedUint::from(3u64).resize_unchecked(256).wrapping_shl_vartime(238);
        let p = k
            .wrapping_mul(BoxedUint::from(u64::from(E)).resize_unchecked(256))
            .wrapping_add(BoxedUint::one());
        assert_eq!(p.bit_width(), 256);
        assert_eq!(check_prime(&p, 512), Err(Rejection::NotCoprimeToE));
        assert_eq!(check_prime(&p.wrapping_add(BoxedUint::from(2u64)), 512), Ok(()));
    }

    #[test]
    fn primes_closer_than_two_to_the_half_minus_100_are_rejected() {
        let p = near_top(512, 0);
        let close = p.wrapping_sub(BoxedUint::one().resize_unchecked(512).wrapping_shl_vartime(412));
        let far = close.wrapping_sub(BoxedUint::from(2u64).resize_unchecked(512));
        assert_eq!(check_pair(&p, &close, 1024), Err(Rejection::TooClose));
        assert_eq!(check_pair(&close, &p, 1024), Err(Rejection::TooClose));
        assert_eq!(check_pair(&p, &p, 1024), Err(Rejection::TooClose));
        assert_eq!(check_pair(&p, &far, 1024), Ok(()));
        assert_eq!(check_pair(&far, &p, 1024), Ok(()));
    }

    #[test]
    fn found_primes_pass_the_checks_and_an_independent_primality_test() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for (nlen, primes) in [(1024, 20), (2048, 6), (3072, 3), (4096, 3)] {
            for _ in 0..primes {
                let p = pool.install(|| find_prime(nlen, &|| {})).unwrap();
                assert_eq!(p.bit_width(), nlen / 2);
                assert_eq!(check_prime(&p, nlen), Ok(()));
                // FIPS 186-5 B.3.1: Miller-Rabin with random bases, not the search's Baillie-PSW.
                let options = crypto_primes::fips::FipsOptions::with_mr_iterations(40);
                assert!(crypto_primes::fips::is_prime(
                    &mut rand_core_rng(),
                    crypto_primes::Flavor::Any,
                    &p,
                    options
                ));
            }
        }
    }

    fn rand_core_rng() -> impl crypto_bigint::rand_core::CryptoRng {
        crypto_bigint::rand_core::UnwrapErr(getrandom::SysRng)
    }

    #[test]
    fn the_base_two_test_decides_as_crypto_primes_does() {
        use crypto_primes::hazmat::MillerRabin;
        let theirs = |n: &BoxedUint| {
            MillerRabin::new(Odd::new(n.clone()).unwrap()).test_base_two().is_probably_prime()
        };
        let mut rng = rand_core_rng();
        // Strong pseudoprimes to base 2 (composites it passes), a Carmichael number it
        // does not, small and Mersenne primes, and numbers with many factors of 2 in n - 1.
        let mut cases: Vec<BoxedUint> =
            [2047u64, 3277, 4033, 4681, 8321, 3_825_123_056_546_413_051, 561, 5, 7, 65_537, 1_048_577]
                .iter()
                .map(|&n| BoxedUint::from(n))
                .collect();
        // Mersenne numbers 2^p - 1 (p prime) pass base 2 prime or not: M61, M127, M521 and
        // M607 are prime, M1021 is composite; the last two at 1024 bits (the fixed-size path).
        for (exponent, precision) in [(61, 576), (127, 576), (521, 576), (607, 1024), (1021, 1024)] {
            cases.push(
                BoxedUint::one_with_precision(precision)
                    .wrapping_shl_vartime(exponent)
                    .wrapping_sub(BoxedUint::one()),
            );
        }
        cases.push(
            BoxedUint::one_with_precision(1024).wrapping_shl_vartime(700).wrapping_add(BoxedUint::one()),
        );
        for bits in [64, 512, 1024, 1536, 2048] {
            for _ in 0..40 {
                let mut n = BoxedUint::random_bits(&mut rng, bits);
                n.set_bit_vartime(0, true);
                n.set_bit_vartime(bits - 1, true);
                cases.push(n);
            }
        }
        // Primes of 1024- and 2048-bit keys: 512 bits (heap-allocated) and 1024 (fixed-size).
        for p in [1024, 1024, 2048, 2048].map(|nlen| find_prime(nlen, &|| {}).unwrap()) {
            cases.push(p);
        }
        // The small cases again at 1024-bit precision: the fixed-size path's verdicts on
        // pseudoprimes, a Carmichael number and small primes.
        let small: Vec<BoxedUint> =
            cases.iter().filter(|n| n.bits_precision() == 64).map(|n| n.resize_unchecked(1024)).collect();
        cases.extend(small);
        let mut probable = 0;
        for n in &cases {
            assert_eq!(passes_base_two(n), theirs(n), "{n}");
            probable += usize::from(passes_base_two(n));
        }
        assert!(probable >= 27, "the 11 primes and 7 pseudoprimes pass, the 9 small ones twice: {probable}");
        let fixed: Vec<&BoxedUint> = cases.iter().filter(|n| n.bits_precision() == U1024::BITS).collect();
        assert!(fixed.len() >= 56, "the fixed-size path is tested: {}", fixed.len());
        assert!(fixed.iter().any(|n| **n == BoxedUint::from(561u64).resize_unchecked(1024)));
        assert!(!passes_base_two(&BoxedUint::from(561u64)), "561 is a Carmichael number, not a base-2 spsp");
        assert!(passes_base_two(&BoxedUint::from(2047u64)), "2047 = 23 * 89 is a base-2 spsp");
    }

    #[test]
    fn idle_workers_join_the_search() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let workers = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let note = || {
            workers.lock().unwrap().insert(rayon::current_thread_index());
        };
        for _ in 0..4 {
            pool.install(|| find_prime(2048, &note)).unwrap();
        }
        assert_eq!(*workers.lock().unwrap(), [Some(0), Some(1)].into_iter().collect());
    }
}
