use crate::common::*;
use layerwise::gpu::{Gpu, PlanBuilder, Tensor};
use layerwise::{ops, reference};

/// Labels for `logits` [n, k]: a third of the rows labelled with their argmax (so accuracy is not
/// just chance), about one in eight padding, one in 24 out of range (K or K+1, treated as padding), the rest random.
pub fn mixed_labels(rng: &mut Rng, logits: &[f64], n: usize, k: usize) -> Vec<u32> {
    (0..n)
        .map(|r| match rng.range(0, 23) {
            0..=7 => {
                let row = &logits[r * k..(r + 1) * k];
                (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b }) as u32
            }
            8..=10 => ops::IGNORE_LABEL,
            11 => (k + r % 2) as u32,
            _ => rng.range(0, k - 1) as u32,
        })
        .collect()
}

struct Run {
    d_logits: Vec<f32>,
    stats: Vec<f32>,
}

fn run(g: &Gpu, logits: &Tensor, labels: &Tensor, stats0: [f32; 3]) -> Run {
    let d = g.tensor(logits.shape(), "d_logits").unwrap();
    let stats = g.tensor_from(&[3], &stats0, "stats").unwrap();
    g.fill(&d, f32::NAN);
    let mut p = PlanBuilder::new(g, "cross_entropy");
    ops::cross_entropy(&mut p, logits, labels, &d, &stats).unwrap();
    g.run(&[&p.finish().unwrap()]).unwrap();
    Run { d_logits: g.download(&d).unwrap(), stats: g.download(&stats).unwrap() }
}

#[test]
fn cross_entropy_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(51);
        // (N, K, ties): one row and one class; 10 classes with more rows than one workgroup's teams
        // hold and more than 256 (several rows per thread in the statistics workgroup); 1000 classes.
        // The ties case has integer logits from {0, 1, 2}: ties, where the first maximum counts.
        let cases = [
            (1, 1, false),
            (7, 3, false),
            (37, 10, false),
            (300, 10, false),
            (5, 1000, false),
            (70, 37, false),
            (260, 129, false),
            (200, 10, true),
            // Team of 64, 4 rows per workgroup: more rows than 1024 row workgroups cover in one sweep.
            (4100, 257, false),
        ];
        for (n, k, ties) in cases {
            // Spread 4: confident and unconfident rows; f32-exact inputs.
            let logits: Vec<f64> = if ties {
                (0..n * k).map(|_| rng.range(0, 2) as f64).collect()
            } else {
                rng.normals(n * k).iter().map(|v| ((v * 4.0) as f32) as f64).collect()
            };
            let labels = mixed_labels(&mut rng, &logits, n, k);
            let mut d_ref = vec![0.0; n * k];
            let mut stats_ref = [0.0; 3];
            reference::cross_entropy(&logits, &labels, &mut d_ref, &mut stats_ref, n, k);

            let tl = g.tensor_from(&[n, k], &to_f32(&logits), "logits").unwrap();
            let tlab = g.tensor_u32(&[n], "labels").unwrap();
            g.upload_u32(&tlab, &labels);
            let got = run(g, &tl, &tlab, [0.75, 3.0, 0.0]);
            let what = format!("cross_entropy N={n} K={k}");
            assert_close(&format!("{what} d_logits"), &got.d_logits, &d_ref);
            let loss = got.stats[0] as f64 - 0.75;
            assert!(
                (loss - stats_ref[0]).abs() <= 1e-4 * stats_ref[0].abs().max(1e-3),
                "{what}: loss {loss} vs {}",
                stats_ref[0]
            );
            assert_eq!(got.stats[1] as f64 - 3.0, stats_ref[1], "{what}: correct count");
            assert_eq!(got.stats[2] as f64, stats_ref[2], "{what}: divergence flag");
            for (r, &l) in labels.iter().enumerate() {
                if l as usize >= k {
                    assert!(got.d_logits[r * k..(r + 1) * k].iter().all(|&d| d == 0.0), "{what}: padding row {r}");
                }
            }
        }
    });
}

#[test]
fn cross_entropy_all_padding_leaves_stats_alone() {
    both_modes(|g| {
        let tl = g.tensor_from(&[3, 4], &[1.0; 12], "logits").unwrap();
        let tlab = g.tensor_u32(&[3], "labels").unwrap();
        g.upload_u32(&tlab, &[ops::IGNORE_LABEL; 3]);
        let got = run(g, &tl, &tlab, [0.5, 2.0, 0.0]);
        assert_eq!(got.stats, [0.5, 2.0, 0.0]);
        assert!(got.d_logits.iter().all(|&d| d == 0.0));
    });
}

#[test]
fn cross_entropy_is_stable_and_deterministic() {
    both_modes(|g| {
        let mut rng = Rng::new(52);
        let (n, k) = (300, 100);
        // Logits around +-1e4: exp overflows unless the row max is subtracted.
        let logits: Vec<f64> = rng.normals(n * k).iter().map(|v| ((v * 1e4) as f32) as f64).collect();
        let labels = mixed_labels(&mut rng, &logits, n, k);
        let tl = g.tensor_from(&[n, k], &to_f32(&logits), "logits").unwrap();
        let tlab = g.tensor_u32(&[n], "labels").unwrap();
        g.upload_u32(&tlab, &labels);
        let first = run(g, &tl, &tlab, [0.0; 3]);
        assert!(first.stats[0].is_finite() && first.d_logits.iter().all(|d| d.is_finite()));
        let mut d_ref = vec![0.0; n * k];
        let mut stats_ref = [0.0; 3];
        reference::cross_entropy(&logits, &labels, &mut d_ref, &mut stats_ref, n, k);
        assert_close("large-logit d_logits", &first.d_logits, &d_ref);
        assert!((first.stats[0] as f64 - stats_ref[0]).abs() <= 1e-4 * stats_ref[0].abs());
        // Losses of ~1e4 for 100 classes are past the divergence limit (1000 ln 100 ~ 4605).
        assert_eq!((first.stats[2], stats_ref[2]), (1.0, 1.0), "loss {}", first.stats[0]);
        for _ in 0..2 {
            let again = run(g, &tl, &tlab, [0.0; 3]);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&again.d_logits), bits(&first.d_logits), "d_logits differ between runs");
            assert_eq!(bits(&again.stats), bits(&first.stats), "stats differ between runs");
        }
    });
}

/// The divergence flag against the CPU reference: NaN, infinite and exploding batches raise it (and
/// only those), and it stays raised over a healthy batch.
#[test]
fn cross_entropy_flags_divergence_as_the_reference() {
    both_modes(|g| {
        let (n, k) = (4, 10);
        let limit = ops::cross_entropy::loss_limit(k);
        let healthy: Vec<f64> = (0..n * k).map(|i| (i % 7) as f64 - 3.0).collect();
        let mut exploding = healthy.clone();
        exploding[0] = -2.0 * limit as f64 * n as f64; // row 0, label 0: a loss past n x the limit
        let mut nan = healthy.clone();
        nan[13] = f64::NAN;
        let mut inf = healthy.clone();
        inf[25] = f64::INFINITY;
        let labels = vec![0u32; n];
        let tlab = g.tensor_u32(&[n], "labels").unwrap();
        g.upload_u32(&tlab, &labels);
        for (what, logits, stats0, flagged) in [
            ("healthy", &healthy, [0.0, 0.0, 0.0], false),
            ("exploding", &exploding, [0.0, 0.0, 0.0], true),
            ("NaN", &nan, [0.0, 0.0, 0.0], true),
            ("infinite", &inf, [0.0, 0.0, 0.0], true),
            ("healthy after a flag", &healthy, [1.0, 0.0, 1.0], true),
        ] {
            let mut d_ref = vec![0.0; n * k];
            let mut stats_ref = stats0.map(|v| v as f64);
            reference::cross_entropy(logits, &labels, &mut d_ref, &mut stats_ref, n, k);
            let tl = g.tensor_from(&[n, k], &to_f32(logits), "logits").unwrap();
            let got = run(g, &tl, &tlab, stats0);
            assert_eq!(stats_ref[2] != 0.0, flagged, "{what}: reference");
            assert_eq!(got.stats[2] as f64, stats_ref[2], "{what}: loss {}", got.stats[0]);
        }
    });
}
