//! `[s]G + [t]P` on the SM2 curve in variable time, for the self-check's signature
//! verification, where every input is public (the CSR's signature and public key).
//!
//! Why not the sm2 crate's `mul_by_generator_and_mul_add_vartime`: it works in homogeneous
//! projective coordinates with the complete (exception-free) formulas: a doubling took as
//! long as 22 field multiplications here (0.68 µs), and 256 of them were a third of an SM2
//! request. Here the
//! sum is computed in Jacobian coordinates (a doubling is 4M + 4S for a = -3), with w-NAF
//! digits, a table of 32 odd multiples of G made once, and one of 8 odd multiples of P per
//! call; the x coordinate is compared without an inversion. The field arithmetic is the sm2
//! crate's; only the point formulas are ours: the textbook ones (Hankerson, Menezes and
//! Vanstone, *Guide to Elliptic Curve Cryptography*, 3.2.2), with the exceptional cases
//! (either point at infinity, P = Q, P = -Q) handled explicitly. The tests hold the result
//! to the crate's arithmetic, exceptional cases included.

use std::sync::OnceLock;

use sm2::elliptic_curve::Group;
use sm2::elliptic_curve::ff::{Field, PrimeField};
use sm2::elliptic_curve::hazmat::FieldArithmetic;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::{AffinePoint, Scalar};

type Fe = <sm2::Sm2 as FieldArithmetic>::FieldElement;

/// w-NAF width for the digits of s (G's table: 2^(7-2) = 32 points, made once).
const G_WIDTH: u32 = 7;
/// w-NAF width for the digits of t (P's table: 8 points, made per call).
const P_WIDTH: u32 = 5;
/// A 256-bit scalar has at most 257 w-NAF digits.
const DIGITS: usize = 257;

#[derive(Clone, Copy, Debug)]
struct Affine {
    x: Fe,
    y: Fe,
}

/// (X, Y, Z) stands for the point (X/Z², Y/Z³); Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Affine {
    fn from_point(point: &AffinePoint) -> Option<Affine> {
        let x = Option::from(Fe::from_repr(point.x()))?;
        let y = Option::from(Fe::from_repr(point.y()))?;
        Some(Affine { x, y })
    }

    fn neg(&self) -> Affine {
        Affine { x: self.x, y: -self.y }
    }
}

impl Jacobian {
    const INFINITY: Jacobian = Jacobian { x: Fe::ONE, y: Fe::ONE, z: Fe::ZERO };

    fn from_affine(p: &Affine) -> Jacobian {
        Jacobian { x: p.x, y: p.y, z: Fe::ONE }
    }

    fn is_infinity(&self) -> bool {
        self.z.is_zero_vartime()
    }

    fn neg(&self) -> Jacobian {
        Jacobian { x: self.x, y: -self.y, z: self.z }
    }

    /// 2P for a = -3: M = 3(X - Z²)(X + Z²), S = 4XY², X' = M² - 2S,
    /// Y' = M(S - X') - 8Y⁴, Z' = 2YZ. The curve has no point of order 2, so Y = 0 only at
    /// infinity (where Z' = 0 again).
    fn double(&self) -> Jacobian {
        if self.is_infinity() {
            return *self;
        }
        let zz = self.z.square();
        let m = (self.x - zz) * (self.x + zz);
        let m = m.double() + m;
        let yy = self.y.square();
        let s = (self.x * yy).double().double();
        let x = m.square() - s.double();
        let y = m * (s - x) - yy.square().double().double().double();
        let z = (self.y * self.z).double();
        Jacobian { x, y, z }
    }

    fn add(&self, q: &Jacobian) -> Jacobian {
        if self.is_infinity() {
            return *q;
        }
        if q.is_infinity() {
            return *self;
        }
        let (z1z1, z2z2) = (self.z.square(), q.z.square());
        let u1 = self.x * z2z2;
        let s1 = self.y * q.z * z2z2;
        let u2 = q.x * z1z1;
        let s2 = q.y * self.z * z1z1;
        self.finish_add(u1, s1, u2, s2, self.z * q.z)
    }

    fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_infinity() {
            return Jacobian::from_affine(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x * z1z1;
        let s2 = q.y * self.z * z1z1;
        self.finish_add(self.x, self.y, u2, s2, self.z)
    }

    /// The sum of `self` and a point Q, given U1 = X1·Z2², S1 = Y1·Z2³, U2 = X2·Z1²,
    /// S2 = Y2·Z1³ and Z1·Z2: with H = U2 - U1 and R = S2 - S1, X' = R² - H³ - 2·U1·H²,
    /// Y' = R(U1·H² - X') - S1·H³, Z' = Z1·Z2·H. H = 0 means the same x: Q = self (double)
    /// or Q = -self (infinity).
    fn finish_add(&self, u1: Fe, s1: Fe, u2: Fe, s2: Fe, z1z2: Fe) -> Jacobian {
        let h = u2 - u1;
        let r = s2 - s1;
        if h.is_zero_vartime() {
            return if r.is_zero_vartime() { self.double() } else { Jacobian::INFINITY };
        }
        let hh = h.square();
        let hhh = h * hh;
        let v = u1 * hh;
        let x = r.square() - hhh - v.double();
        let y = r * (v - x) - s1 * hhh;
        Jacobian { x, y, z: z1z2 * h }
    }
}

/// Odd multiples G, 3G, ..., 63G, computed with the sm2 crate's own point arithmetic.
fn g_table() -> &'static [Affine] {
    static TABLE: OnceLock<Vec<Affine>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let g = sm2::ProjectivePoint::GENERATOR;
        let g2 = g.double();
        let mut multiple = g;
        let mut table = Vec::with_capacity(1 << (G_WIDTH - 2));
        for _ in 0..1 << (G_WIDTH - 2) {
            // The multiples of the generator are finite points: from_point cannot fail.
            if let Some(p) = Affine::from_point(&multiple.to_affine()) {
                table.push(p);
            }
            multiple += g2;
        }
        table
    })
}

/// The width-`w` NAF of a scalar, least significant digit first: every digit is 0 or odd
/// with |d| < 2^(w-1), and `Σ d_i·2^i` is the scalar.
fn wnaf(scalar: &Scalar, w: u32) -> [i8; DIGITS] {
    let bytes = scalar.to_repr();
    // Little-endian 64-bit limbs, with a fifth for the carry that a negative digit can cause.
    let mut k = [0u64; 5];
    for (i, chunk) in bytes.rchunks(8).enumerate() {
        let mut limb = [0u8; 8];
        limb.copy_from_slice(chunk);
        k[i] = u64::from_be_bytes(limb);
    }
    let mut digits = [0i8; DIGITS];
    let modulus = 1i64 << w;
    for digit in digits.iter_mut() {
        if k.iter().all(|&limb| limb == 0) {
            break;
        }
        if k[0] & 1 == 1 {
            let mut d = (k[0] & (modulus as u64 - 1)) as i64;
            if d >= modulus / 2 {
                d -= modulus;
            }
            // |d| < 2^(w-1) <= 64 fits an i8.
            *digit = d as i8;
            // k -= d, with the borrow or carry through the limbs.
            if d > 0 {
                let (low, mut borrow) = k[0].overflowing_sub(d.unsigned_abs());
                k[0] = low;
                for limb in &mut k[1..] {
                    (*limb, borrow) = limb.overflowing_sub(u64::from(borrow));
                }
            } else {
                let (low, mut carry) = k[0].overflowing_add(d.unsigned_abs());
                k[0] = low;
                for limb in &mut k[1..] {
                    (*limb, carry) = limb.overflowing_add(u64::from(carry));
                }
            }
        }
        for i in 0..4 {
            k[i] = (k[i] >> 1) | (k[i + 1] << 63);
        }
        k[4] >>= 1;
    }
    digits
}

fn odd_multiples(p: &Affine, count: usize) -> Vec<Jacobian> {
    let p = Jacobian::from_affine(p);
    let p2 = p.double();
    let mut table = Vec::with_capacity(count);
    table.push(p);
    for i in 1..count {
        table.push(table[i - 1].add(&p2));
    }
    table
}

/// `[s]G + [t]P`; `None` only if a table is short, which cannot happen (no index panics).
fn lincomb(s: &Scalar, t: &Scalar, p: &Affine) -> Option<Jacobian> {
    let g = g_table();
    let p_table = odd_multiples(p, 1 << (P_WIDTH - 2));
    let (s_digits, t_digits) = (wnaf(s, G_WIDTH), wnaf(t, P_WIDTH));
    let mut sum = Jacobian::INFINITY;
    for i in (0..DIGITS).rev() {
        sum = sum.double();
        // Digit d (odd) stands for d·G: the table holds |d|·G at |d| / 2.
        let (sd, td) = (s_digits[i], t_digits[i]);
        if sd != 0 {
            let q = g.get(usize::from(sd.unsigned_abs() / 2))?;
            sum = sum.add_affine(&if sd > 0 { *q } else { q.neg() });
        }
        if td != 0 {
            let q = p_table.get(usize::from(td.unsigned_abs() / 2))?;
            sum = sum.add(&if td > 0 { *q } else { q.neg() });
        }
    }
    Some(sum)
}

/// Whether `[s]G + [t]P` is a finite point whose x coordinate, reduced mod n, is `x_mod_n`
/// (SM2 verification, GM/T 0003.2 B6 and B7). x = X/Z² is compared as X = x·Z², for both
/// field elements that reduce to `x_mod_n`: itself, and itself + n when that is below p.
pub(super) fn lincomb_x_is(s: &Scalar, t: &Scalar, p: &AffinePoint, x_mod_n: &Scalar) -> bool {
    if bool::from(p.is_identity()) {
        return false;
    }
    let Some(sum) = Affine::from_point(p).and_then(|p| lincomb(s, t, &p)) else { return false };
    if sum.is_infinity() {
        return false;
    }
    let Some(c) = Option::<Fe>::from(Fe::from_repr(x_mod_n.to_repr())) else { return false };
    let zz = sum.z.square();
    if sum.x == c * zz {
        return true;
    }
    // n as a field element (n < p), and p - n as the largest c for which c + n < p.
    let n = Option::<Fe>::from(Fe::from_repr((-Scalar::ONE).to_repr())).map(|n_minus_1| n_minus_1 + Fe::ONE);
    match n {
        Some(n) if x_mod_n.to_repr().as_slice() < (-n).to_repr().as_slice() => sum.x == (c + n) * zz,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use sm2::elliptic_curve::Generate;
    use sm2::elliptic_curve::ops::{MulByGeneratorVartime, Reduce};
    use sm2::{FieldBytes, ProjectivePoint};

    use super::*;

    fn random_scalar() -> Scalar {
        *sm2::NonZeroScalar::try_generate_from_rng(&mut getrandom::SysRng).unwrap()
    }

    fn x_mod_n(p: &ProjectivePoint) -> Scalar {
        <Scalar as Reduce<FieldBytes>>::reduce(&p.to_affine().x())
    }

    /// The crate's `[s]G + [t]P`, and whether ours agrees on x mod n (and only on it).
    fn agrees(s: &Scalar, t: &Scalar, p: &ProjectivePoint) {
        let theirs = ProjectivePoint::mul_by_generator_and_mul_add_vartime(s, t, p);
        let affine = p.to_affine();
        if bool::from(theirs.is_identity()) {
            assert!(lincomb(s, t, &Affine::from_point(&affine).unwrap()).unwrap().is_infinity());
            return;
        }
        let x = x_mod_n(&theirs);
        assert!(lincomb_x_is(s, t, &affine, &x), "s={s:?} t={t:?}");
        assert!(!lincomb_x_is(s, t, &affine, &(x + Scalar::ONE)));
        assert!(!lincomb_x_is(s, t, &affine, &-x));
    }

    /// The doubling formula is the one for a = -3.
    #[test]
    fn the_curve_has_a_minus_three() {
        assert_eq!(<sm2::Sm2 as primeorder::PrimeCurveParams>::EQUATION_A, -Fe::from(3u64));
    }

    #[test]
    fn wnaf_digits_are_odd_small_sparse_and_sum_to_the_scalar() {
        let edges = [Scalar::ZERO, Scalar::ONE, -Scalar::ONE, -Scalar::ONE.double(), Scalar::from(0x7fu64)];
        let randoms: Vec<Scalar> = (0..200).map(|_| random_scalar()).collect();
        for (k, w) in edges.iter().chain(&randoms).flat_map(|k| [(k, G_WIDTH), (k, P_WIDTH)]) {
            let digits = wnaf(k, w);
            let mut sum = Scalar::ZERO;
            let mut last_nonzero: Option<usize> = None;
            for (i, &d) in digits.iter().enumerate().rev() {
                sum = sum.double() + if d >= 0 { Scalar::from(d as u64) } else { -Scalar::from(-d as u64) };
                if d != 0 {
                    assert!(d % 2 != 0 && i32::from(d).abs() < 1 << (w - 1), "digit {d} at {i}");
                    if let Some(j) = last_nonzero {
                        assert!(j - i >= w as usize, "digits at {j} and {i} are too close");
                    }
                    last_nonzero = Some(i);
                }
            }
            assert_eq!(sum, *k);
        }
    }

    #[test]
    fn the_sum_matches_the_crates_on_random_inputs() {
        for _ in 0..100 {
            let p = ProjectivePoint::mul_by_generator_vartime(&random_scalar());
            agrees(&random_scalar(), &random_scalar(), &p);
        }
    }

    /// P = G makes the additions meet their exceptional cases: Q = P (doubling) and Q = -P
    /// (infinity), at the last step and inside the loop; zero scalars skip a table.
    #[test]
    fn the_sum_matches_the_crates_in_the_exceptional_cases() {
        let g = ProjectivePoint::GENERATOR;
        let s = random_scalar();
        let cases = [
            (Scalar::ONE, Scalar::ONE, g),
            (Scalar::ONE, -Scalar::ONE, g),
            (s, -s, g),
            (s, s, g),
            (s, Scalar::ZERO, g),
            (Scalar::ZERO, s, g),
            (Scalar::ZERO, Scalar::ZERO, g),
            (Scalar::from(3u64), Scalar::from(5u64), g.double()),
            (Scalar::from(63u64), -Scalar::from(31u64), g.double()),
            (-Scalar::ONE, Scalar::ONE, g),
        ];
        for (s, t, p) in cases {
            agrees(&s, &t, &p);
        }
        let infinite = lincomb(&s, &-s, &Affine::from_point(&g.to_affine()).unwrap()).unwrap();
        assert!(infinite.is_infinity());
        assert!(!lincomb_x_is(&s, &-s, &g.to_affine(), &Scalar::ZERO));
    }

    /// A point whose x lies in [n, p): its x mod n is x - n, which only the second
    /// comparison finds.
    #[test]
    fn an_x_above_the_order_is_reduced() {
        let b = <sm2::Sm2 as primeorder::PrimeCurveParams>::EQUATION_B;
        let n = Option::<Fe>::from(Fe::from_repr((-Scalar::ONE).to_repr())).unwrap() + Fe::ONE;
        let mut x = n;
        let point = loop {
            let rhs = x.square() * x - x.double() - x + b;
            if let Some(y) = Option::<Fe>::from(rhs.sqrt()) {
                break Option::<AffinePoint>::from(AffinePoint::from_coordinates(&x.to_repr(), &y.to_repr()))
                    .unwrap();
            }
            x += Fe::ONE;
        };
        let reduced = Option::<Scalar>::from(Scalar::from_repr((x - n).to_repr())).unwrap();
        assert!(lincomb_x_is(&Scalar::ZERO, &Scalar::ONE, &point, &reduced));
        assert!(!lincomb_x_is(&Scalar::ZERO, &Scalar::ONE, &point, &(reduced + Scalar::ONE)));
    }
}
