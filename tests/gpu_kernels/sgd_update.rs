use crate::common::*;
use layerwise::gpu::{ParamArena, PlanBuilder};
use layerwise::{ops, reference};

#[test]
fn sgd_update_matches_reference_across_steps_and_schedules() {
    both_modes(|g| {
        let mut rng = Rng::new(81);
        // Odd sizes leave zero padding between the arena's tensors; it must stay zero. Arenas are padded to
        // the storage alignment, so they take the vec4 kernel unless the f32 one is forced; both run under
        // every grid sizing.
        let arenas = [
            vec![vec![3, 5], vec![7], vec![1], vec![2, 3, 3, 4], vec![301]],
            vec![vec![3, 5], vec![7], vec![1], vec![2, 3, 3, 4], vec![300]],
        ];
        let settings = [0.0, 1.0].into_iter().flat_map(|n| [false, true].map(|f32| (n, f32)));
        for (shapes, (nesterov, f32), span) in
            arenas.iter().flat_map(|a| settings.clone().flat_map(move |s| GRID_SPANS.map(|span| (a, s, span))))
        {
            let params = ParamArena::new(g, shapes, "params").unwrap();
            let grads = params.like(g, "grads").unwrap();
            let momentum = params.like(g, "momentum").unwrap();
            let hyper = g.tensor(&[4], "hyper").unwrap();
            let stats = g.tensor(&[3], "stats").unwrap();
            let init: Vec<Vec<f32>> = shapes.iter().map(|s| to_f32(&rng.normals(s.iter().product()))).collect();
            params.upload(g, &init);
            let mut w = to_f64(&g.download(&params.all).unwrap());
            let mut buf = vec![0.0; w.len()];

            // Recorded once; each step changes the gradients and the hyper-parameters only.
            let mut p = PlanBuilder::new(g, "sgd");
            let mut record = || with_span(span, || ops::sgd_update(&mut p, &params, &grads, &momentum, &hyper, &stats));
            if f32 { ops::with_f32_elements(record) } else { record() }.unwrap();
            let plan = p.finish().unwrap();
            // The third step comes after a diverged loss: nothing may change.
            for (step, lr, diverged) in [(0, 0.1, 0.0), (1, 0.1, 0.0), (2, 0.1, 1.0), (3, 0.03, 0.0)] {
                let h = [lr, 0.9, 5e-4, nesterov];
                let st = [2.5, 7.0, diverged];
                let gs: Vec<Vec<f32>> = shapes.iter().map(|s| to_f32(&rng.normals(s.iter().product()))).collect();
                grads.upload(g, &gs);
                g.upload(&hyper, &h.map(|v| v as f32));
                g.upload(&stats, &st.map(|v| v as f32));
                g.run(&[&plan]).unwrap();
                let gflat = to_f64(&g.download(&grads.all).unwrap());
                reference::sgd_update(&mut w, &gflat, &mut buf, h.map(|v| v as f32 as f64), &st);
                let what = format!("sgd step {step} nesterov={nesterov} f32={f32} arena of {} span {span:?}", w.len());
                let got = g.download(&params.all).unwrap();
                assert_close(&format!("{what} params"), &got, &w);
                assert_close(&format!("{what} momentum"), &g.download(&momentum.all).unwrap(), &buf);
                // Carry on from the GPU's values, so f32 rounding does not pile up over steps.
                w = to_f64(&got);
                buf = to_f64(&g.download(&momentum.all).unwrap());
                let pad = params.offsets()[1] - 15;
                assert!(got[15..15 + pad].iter().all(|&v| v == 0.0), "{what}: padding changed");
            }
        }
    });
}
