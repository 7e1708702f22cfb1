use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

#[test]
fn residual_add_matches_reference_and_pytorch() {
    both_modes(|g| {
        let mut rng = Rng::new(2);
        // Lengths that are (vec4 kernels) and are not multiples of 4, and one over many rows.
        for n in [1, 3, 4, 63, 4 * 12_345, rng.range(1, 70_000)] {
            let (a, b) = (rng.normals(n), rng.normals(n));
            let mut want = vec![0.0; n];
            reference::residual_add(&a, &b, &mut want);
            let ta = g.tensor_from(&[n], &to_f32(&a), "a").unwrap();
            let tb = g.tensor_from(&[n], &to_f32(&b), "b").unwrap();
            let ty = g.tensor(&[n], "y").unwrap();
            for span in GRID_SPANS {
                g.fill(&ty, f32::NAN);
                let mut p = PlanBuilder::new(g, "residual add");
                with_span(span, || ops::residual_add(&mut p, &ta, &tb, &ty).unwrap());
                g.run(&[&p.finish().unwrap()]).unwrap();
                assert_close(&format!("residual_add {n}, span {span:?}"), &g.download(&ty).unwrap(), &want);
            }
        }
        // PyTorch's case (any layout: the add is element-wise).
        let (a, b) = (torch("residual_add.a").0, torch("residual_add.b").0);
        let ta = g.tensor_from(&[a.len()], &to_f32(&a), "a").unwrap();
        let tb = g.tensor_from(&[b.len()], &to_f32(&b), "b").unwrap();
        let ty = g.tensor(&[a.len()], "y").unwrap();
        g.fill(&ty, f32::NAN);
        let mut p = PlanBuilder::new(g, "residual add vs pytorch");
        ops::residual_add(&mut p, &ta, &tb, &ty).unwrap();
        g.run(&[&p.finish().unwrap()]).unwrap();
        assert_close("residual_add vs pytorch", &g.download(&ty).unwrap(), &torch("residual_add.y").0);
    });
}
