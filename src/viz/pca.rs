//! Two-component PCA for the separability plot, written out so the result is deterministic (fixed start
//! vectors, fixed loop order, fixed sign convention) and needs no linear-algebra dependency.

use crate::rng::SplitMix;

/// Feature dimensions up to this size get the exact path (d x d covariance, Jacobi); above it the
/// covariance is never formed and subspace iteration works on the centred data directly.
pub const DIRECT_MAX_DIM: usize = 64;

/// Block size of the subspace iteration: 2 wanted directions plus 4 extra, which speed up convergence
/// when the 2nd and 3rd variances are close.
const BLOCK: usize = 6;
/// A cap on the work (each step is one pass over the n x d data: about 30 ms at n = 1000, d = 4096). Where
/// the top variances are well apart the directions converge long before it; where the spectrum is nearly
/// flat they stop short of it, but then the captured variance is already within about a percent of the
/// best plane's and any such plane shows the same picture.
const MAX_ITERS: usize = 40;
/// Stop when both leading Ritz vectors moved by less than this (1 - |cos| between iterations).
const TOL: f64 = 1e-10;
/// ... or when their variances changed by less than this, relative to the first.
const VALUE_TOL: f64 = 2e-5;

/// The top two principal components of n points in d dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca2 {
    /// Mean of the points: [d].
    pub mean: Vec<f64>,
    /// Unit principal directions, largest variance first: 2 x [d]. Each is signed so that its entry of
    /// largest magnitude (the first such on ties) is positive. A direction is all zeros when d < 2 or
    /// the points do not span it.
    pub components: [Vec<f64>; 2],
    /// Variance (divided by n - 1) of the points along each component.
    pub variances: [f64; 2],
    /// Total variance (trace of the covariance), to report the share the two components explain.
    pub total_variance: f64,
    /// Centred points projected onto the components: [n] x 2.
    pub projected: Vec<[f64; 2]>,
}

impl Pca2 {
    /// Share of the total variance the two components explain (0 when the points are all equal).
    pub fn explained(&self) -> f64 {
        if self.total_variance > 0.0 {
            (self.variances[0] + self.variances[1]) / self.total_variance
        } else {
            0.0
        }
    }
}

/// PCA of `x`: [n, d] row-major. Non-finite entries are treated as 0 so one bad value cannot blank the plot.
pub fn pca_2d(x: &[f32], n: usize, d: usize) -> Pca2 {
    assert_eq!(x.len(), n * d, "pca_2d: x must hold n * d values");
    // xc: [n, d], centred.
    let mut mean = vec![0.0f64; d];
    let val = |v: f32| if v.is_finite() { v as f64 } else { 0.0 };
    for row in x.chunks_exact(d.max(1)).take(n) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += val(v);
        }
    }
    if n > 0 {
        mean.iter_mut().for_each(|m| *m /= n as f64);
    }
    let mut xc = vec![0.0f64; n * d];
    for i in 0..n {
        for j in 0..d {
            xc[i * d + j] = val(x[i * d + j]) - mean[j];
        }
    }
    let denom = (n.max(2) - 1) as f64;
    let total_variance = xc.iter().map(|v| v * v).sum::<f64>() / denom;

    let mut comps = if d == 0 || n < 2 {
        vec![vec![0.0; d], vec![0.0; d]]
    } else if d <= DIRECT_MAX_DIM {
        top_direct(&xc, n, d, denom)
    } else {
        top_subspace(&xc, n, d, denom)
    };
    while comps.len() < 2 {
        comps.push(vec![0.0; d]);
    }
    for c in comps.iter_mut() {
        fix_sign(c);
    }

    let mut projected = vec![[0.0f64; 2]; n];
    let mut variances = [0.0f64; 2];
    for (i, p) in projected.iter_mut().enumerate() {
        let row = &xc[i * d..(i + 1) * d];
        for k in 0..2 {
            p[k] = dot(row, &comps[k]);
            variances[k] += p[k] * p[k];
        }
    }
    variances.iter_mut().for_each(|v| *v /= denom);
    let c1 = comps.pop().unwrap();
    let c0 = comps.pop().unwrap();
    Pca2 { mean, components: [c0, c1], variances, total_variance, projected }
}

/// Small d: eigenvectors of the full covariance.
fn top_direct(xc: &[f64], n: usize, d: usize, denom: f64) -> Vec<Vec<f64>> {
    // cov: [d, d]
    let mut cov = vec![0.0f64; d * d];
    for i in 0..n {
        let row = &xc[i * d..(i + 1) * d];
        for a in 0..d {
            let ra = row[a];
            if ra == 0.0 {
                continue;
            }
            for b in a..d {
                cov[a * d + b] += ra * row[b];
            }
        }
    }
    for a in 0..d {
        for b in a..d {
            let v = cov[a * d + b] / denom;
            cov[a * d + b] = v;
            cov[b * d + a] = v;
        }
    }
    let (vals, vecs) = jacobi_eigen(&cov, d);
    let order = descending(&vals);
    order
        .iter()
        .take(2)
        .map(|&k| if vals[k] > 0.0 { (0..d).map(|r| vecs[r * d + k]).collect() } else { vec![0.0; d] })
        .collect()
}

/// Large d: block power (subspace) iteration with Rayleigh-Ritz, touching only xc (n x d) and d x BLOCK
/// vectors, so memory stays O(n d) and each step costs O(n d BLOCK).
fn top_subspace(xc: &[f64], n: usize, d: usize, denom: f64) -> Vec<Vec<f64>> {
    let k = BLOCK.min(d);
    // v: k vectors of [d], orthonormal. A fixed seed makes the start (and so the result) reproducible.
    let mut rng = SplitMix::new(0x5EED);
    let mut v: Vec<Vec<f64>> = (0..k).map(|_| (0..d).map(|_| rng.next_f64() - 0.5).collect()).collect();
    orthonormalise(&mut v);
    let mut prev: Option<([Vec<f64>; 2], [f64; 2])> = None;
    let mut ritz = [vec![0.0; d], vec![0.0; d]];
    for _ in 0..MAX_ITERS {
        // One pass over the rows gives both w_i = v row_i (for the Rayleigh-Ritz matrix t = v^T cov v =
        // sum_i w_i w_i^T / denom, [k, k]) and z = xc^T xc v (k vectors of [d], the next block before
        // orthonormalisation); each row is read once while it is in cache.
        let mut t = vec![0.0f64; k * k];
        let mut z: Vec<Vec<f64>> = vec![vec![0.0; d]; k];
        let mut w = vec![0.0f64; k];
        for i in 0..n {
            let row = &xc[i * d..(i + 1) * d];
            for (wj, vj) in w.iter_mut().zip(&v) {
                *wj = dot(row, vj);
            }
            for a in 0..k {
                for b in a..k {
                    t[a * k + b] += w[a] * w[b];
                }
                axpy(&mut z[a], w[a], row);
            }
        }
        for a in 0..k {
            for b in a..k {
                t[a * k + b] /= denom;
                t[b * k + a] = t[a * k + b];
            }
        }
        let (vals, vecs) = jacobi_eigen(&t, k);
        let order = descending(&vals);
        for (slot, &col) in order.iter().take(2).enumerate() {
            let mut u = vec![0.0f64; d];
            for (j, vj) in v.iter().enumerate() {
                axpy(&mut u, vecs[j * k + col], vj);
            }
            fix_sign(&mut u);
            ritz[slot] = u;
        }
        let top = [vals[order[0]], vals[order[1]]];
        // Converged when both directions stopped moving, or when the variance they capture stopped
        // growing: with nearly equal variances the direction wanders for long without changing the picture.
        let converged = prev.as_ref().is_some_and(|(pv, pvals)| {
            (0..2).all(|s| {
                let still = 1.0 - dot(&pv[s], &ritz[s]).abs() < TOL;
                let flat = (top[s] - pvals[s]).abs() <= VALUE_TOL * top[0].abs();
                still || flat || top[s] <= 0.0
            })
        });
        if converged {
            break;
        }
        prev = Some((ritz.clone(), top));
        orthonormalise(&mut z);
        v = z;
    }
    let [a, b] = ritz;
    vec![a, b]
}

/// Cyclic Jacobi eigen-decomposition of a symmetric [m, m] matrix: (eigenvalues, eigenvectors as the
/// columns of an [m, m] row-major matrix).
fn jacobi_eigen(a: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0f64; m * m];
    for i in 0..m {
        v[i * m + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|p| (0..m).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * m + q].powi(2))
            .sum();
        if off.sqrt() <= 1e-15 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..m {
                    let (arp, arq) = (a[r * m + p], a[r * m + q]);
                    a[r * m + p] = c * arp - s * arq;
                    a[r * m + q] = s * arp + c * arq;
                }
                for r in 0..m {
                    let (apr, aqr) = (a[p * m + r], a[q * m + r]);
                    a[p * m + r] = c * apr - s * aqr;
                    a[q * m + r] = s * apr + c * aqr;
                }
                for r in 0..m {
                    let (vrp, vrq) = (v[r * m + p], v[r * m + q]);
                    v[r * m + p] = c * vrp - s * vrq;
                    v[r * m + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    ((0..m).map(|i| a[i * m + i]).collect(), v)
}

/// Indices sorting `vals` largest first (stable, so ties keep index order).
fn descending(vals: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..vals.len()).collect();
    idx.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
    idx
}

/// Modified Gram-Schmidt, run twice for orthogonality to working precision. A vector that collapses (the
/// data span fewer directions than the block) becomes zero.
fn orthonormalise(v: &mut [Vec<f64>]) {
    for _pass in 0..2 {
        for j in 0..v.len() {
            let (done, rest) = v.split_at_mut(j);
            let vj = &mut rest[0];
            for u in done.iter() {
                let p = dot(u, vj);
                axpy(vj, -p, u);
            }
            let norm = dot(vj, vj).sqrt();
            if norm > 1e-300 {
                vj.iter_mut().for_each(|x| *x /= norm);
            } else {
                vj.iter_mut().for_each(|x| *x = 0.0);
            }
        }
    }
}

/// An eigenvector's sign is arbitrary; pin it so the same data always gives the same picture.
fn fix_sign(c: &mut [f64]) {
    let mut best = 0usize;
    for (i, x) in c.iter().enumerate() {
        if x.abs() > c[best].abs() {
            best = i;
        }
    }
    if c.get(best).is_some_and(|&x| x < 0.0) {
        c.iter_mut().for_each(|x| *x = -*x);
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises_a_small_symmetric_matrix() {
        let a = [4.0, 1.0, 0.0, 1.0, 3.0, 0.5, 0.0, 0.5, 1.0];
        let (vals, vecs) = jacobi_eigen(&a, 3);
        for k in 0..3 {
            // a v = lambda v
            for r in 0..3 {
                let av: f64 = (0..3).map(|c| a[r * 3 + c] * vecs[c * 3 + k]).sum();
                assert!((av - vals[k] * vecs[r * 3 + k]).abs() < 1e-12);
            }
        }
        let trace: f64 = vals.iter().sum();
        assert!((trace - 8.0).abs() < 1e-12);
    }
}
