use super::cross_entropy::mixed_labels;
use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

#[test]
fn count_correct_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(71);
        let cases =
            [(1, 1, false), (300, 10, false), (1000, 3, true), (9, 1000, false), (257, 10, true), (40, 1000, true)];
        for (n, k, ties) in cases {
            // With ties, values from {0, 1, 2}: the first maximum decides top 1, the class index ranks
            // equal scores for top 5.
            let scores: Vec<f64> =
                if ties { (0..n * k).map(|_| rng.range(0, 2) as f64).collect() } else { rng.normals(n * k) };
            let labels = mixed_labels(&mut rng, &scores, n, k);
            let mut want = [2.0, 3.0];
            reference::count_correct(&scores, &labels, &mut want, n, k, ops::count_correct::TOP_K);

            let ts = g.tensor_from(&[n, k], &to_f32(&scores), "scores").unwrap();
            let tlab = g.tensor_u32(&[n], "labels").unwrap();
            g.upload_u32(&tlab, &labels);
            let counts = g.tensor_from(&[2], &[2.0, 3.0], "counts").unwrap();
            let mut p = PlanBuilder::new(g, "count_correct");
            ops::count_correct(&mut p, &ts, &tlab, &counts).unwrap();
            g.run(&[&p.finish().unwrap()]).unwrap();
            let got = g.download(&counts).unwrap();
            assert_eq!([got[0] as f64, got[1] as f64], want, "count_correct N={n} K={k}");
        }
    });
}
