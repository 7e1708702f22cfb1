//! The project's one seeded generator, SplitMix64, and the draws built on it: uniform floats, bounded
//! integers, normals and permutations. Everything random on the host comes from here: parameter
//! initialisation, epoch shuffles and the validation hold-out, DGL's replay schedule, the report's PCA start
//! vectors, and the inputs of benchmarks and tests. Its sequences are part of every result (a changed draw
//! changes a run's numbers), so the tests below pin them.
//!
//! (The augmentation's crops and flips are drawn on the device by a counter-based generator instead:
//! shaders/lib/augment_rng.wgsl.)

/// SplitMix64 (Steele, Lea and Flood 2014, with Vigna's constants): 64 bits of state, advanced by a fixed
/// odd increment and finalised by a bijective mixer. Small, fast, and reproducible from its state alone
/// (the state is the public field, which is what a checkpoint saves).
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n), by multiplying into 128 bits (no modulo bias worth the name).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in [lo, hi] (inclusive), by modulo. Not `below`: the tests' random shapes were drawn this way
    /// and stay the same cases.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// Standard normal (Box-Muller, one value per two uniforms).
    pub fn normal(&mut self) -> f64 {
        let u = self.next_f64().max(1e-300);
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// `n` standard normals rounded to f32: inputs that an f32 kernel and its f64 reference see alike.
    pub fn normals(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.normal() as f32 as f64).collect()
    }
}

/// A seeded Fisher-Yates permutation of 0..n.
pub fn permutation(n: usize, seed: u64) -> Vec<u32> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    let mut rng = SplitMix::new(seed);
    for i in (1..n).rev() {
        p.swap(i, rng.below(i + 1));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs of Vigna's splitmix64.c for seed 1234567, and for seed 0.
        let mut r = SplitMix::new(1234567);
        assert_eq!(
            [r.next_u64(), r.next_u64(), r.next_u64()],
            [6457827717110365317, 3203168211198807973, 9817491932198370423]
        );
        assert_eq!(SplitMix::new(0).next_u64(), 0xe220a8397b1dcdaf);
    }

    #[test]
    fn derived_draws_are_pinned() {
        // Values of the generators this module replaced (model::SplitMix, the tests' and the benchmark's Rng):
        // a change here changes initialisation, shuffles and every test input.
        assert_eq!(permutation(10, 42), [8, 3, 6, 5, 4, 0, 9, 2, 1, 7]);
        let mut r = SplitMix::new(7);
        assert_eq!((0..8).map(|_| r.range(3, 9)).collect::<Vec<_>>(), [5, 6, 3, 6, 8, 9, 8, 3]);
        let mut r = SplitMix::new(7);
        assert_eq!([r.next_f64(), r.next_f64()], [0.3898297483912715, 0.01678829452815611]);
        // Box-Muller of those two uniforms (to a few ulps: libm's log and cos may differ in the last bit).
        let z = SplitMix::new(7).normal();
        assert!((z - 1.3649922974572284).abs() < 1e-15, "{z}");
        assert_eq!(SplitMix::new(7).normals(1), [1.3649922974572284f64 as f32 as f64]);
        assert!(permutation(0, 1).is_empty() && permutation(1, 1) == [0]);
    }
}
