use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

#[test]
fn softmax_accumulate_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(61);
        for (n, k) in [(1, 1), (7, 3), (300, 10), (5, 1000), (61, 129)] {
            // Two heads added into one ensemble, as the evaluation does with weights 2^j.
            let a = rng.normals(n * k);
            let b: Vec<f64> = rng.normals(n * k).iter().map(|v| ((v * 5.0) as f32) as f64).collect();
            let probs0 = rng.normals(n * k);
            let mut want = probs0.clone();
            reference::softmax_accumulate(&a, &mut want, 0.5, n, k);
            reference::softmax_accumulate(&b, &mut want, 2.0, n, k);

            let ta = g.tensor_from(&[n, k], &to_f32(&a), "a").unwrap();
            let tb = g.tensor_from(&[n, k], &to_f32(&b), "b").unwrap();
            let tp = g.tensor_from(&[n, k], &to_f32(&probs0), "probs").unwrap();
            let mut p = PlanBuilder::new(g, "softmax_accumulate");
            ops::softmax_accumulate(&mut p, &ta, &tp, 0.5).unwrap();
            ops::softmax_accumulate(&mut p, &tb, &tp, 2.0).unwrap();
            g.run(&[&p.finish().unwrap()]).unwrap();
            assert_close(&format!("softmax_accumulate N={n} K={k}"), &g.download(&tp).unwrap(), &want);
        }
    });
}
