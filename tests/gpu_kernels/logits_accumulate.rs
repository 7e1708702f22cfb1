use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

#[test]
fn logits_accumulate_matches_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(67);
        for (n, k) in [(1, 1), (7, 3), (300, 10), (5, 1000), (61, 129), (1031, 10)] {
            // Two heads added into one ensemble, as the evaluation does with weights 2^j, onto an
            // accumulator that starts from zeros (the evaluation's case) or from earlier heads' sums.
            let a = rng.normals(n * k);
            let b: Vec<f64> = rng.normals(n * k).iter().map(|v| ((v * 5.0) as f32) as f64).collect();
            for start in [vec![0.0; n * k], rng.normals(n * k)] {
                let mut want = start.clone();
                reference::logits_accumulate(&a, &mut want, 1.0 / 3.0, n, k);
                reference::logits_accumulate(&b, &mut want, 2.0 / 3.0, n, k);
                let ta = g.tensor_from(&[n, k], &to_f32(&a), "a").unwrap();
                let tb = g.tensor_from(&[n, k], &to_f32(&b), "b").unwrap();
                // The accumulator is the head of a longer buffer whose tail is poisoned with NaN: the
                // kernel must write nothing past [N, K].
                let mut host = to_f32(&start);
                host.resize(n * k + 64, f32::NAN);
                let whole = g.tensor_from(&[n * k + 64], &host, "acc and guard").unwrap();
                let acc = whole.view(&[n, k]);
                let mut p = PlanBuilder::new(g, "logits_accumulate");
                ops::logits_accumulate(&mut p, &ta, &acc, (1.0f64 / 3.0) as f32).unwrap();
                ops::logits_accumulate(&mut p, &tb, &acc, (2.0f64 / 3.0) as f32).unwrap();
                g.run(&[&p.finish().unwrap()]).unwrap();
                let got = g.download(&whole).unwrap();
                assert_close(&format!("logits_accumulate N={n} K={k}"), &got[..n * k], &want);
                assert!(got[n * k..].iter().all(|v| v.is_nan()), "written past [N, K], N={n} K={k}");
            }
        }
    });
}
