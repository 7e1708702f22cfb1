use crate::common::*;
use layerwise::gpu::PlanBuilder;
use layerwise::{ops, reference};

/// What a kernel must leave alone keeps its random value; what it must write starts as NaN. Exact
/// equality: these kernels only move floats.
fn poisoned(rng: &mut Rng, len: usize, row: usize, written: &[usize]) -> Vec<f64> {
    let mut v = rng.normals(len);
    for &r in written {
        v[r * row..(r + 1) * row].fill(f64::NAN);
    }
    v
}

#[test]
fn gather_rows_and_scatter_rows_match_reference() {
    both_modes(|g| {
        let mut rng = Rng::new(91);
        // (batch rows, row length, chunk rows, base, valid): vec4 and odd rows, one-row chunks, batches
        // larger than the chunk, padding rows, ids below, inside and above the chunk.
        let cases = [
            (16, 12, 40, 100, 16),
            (7, 3, 5, 0, 5),
            (128, rng.range(1, 300), rng.range(1, 600), 37, 100),
            (1, 4, 1, 9, 1),
            (33, 64, 20, 20, 33),
        ];
        for (n, row, chunk_rows, base, valid) in cases {
            // Distinct dataset ids (a batch never repeats an image) spread over three chunks' worth.
            let mut pool: Vec<u32> = (0..(base + 3 * chunk_rows).max(n) as u32).collect();
            for i in (1..pool.len()).rev() {
                pool.swap(i, rng.range(0, i));
            }
            let ids: Vec<u32> = pool[..n].to_vec();
            let in_chunk = |r: usize| r < valid && (ids[r] as usize) >= base && (ids[r] as usize) < base + chunk_rows;
            let batch_written: Vec<usize> = (0..n).filter(|&r| in_chunk(r)).collect();
            let chunk_written: Vec<usize> = batch_written.iter().map(|&r| ids[r] as usize - base).collect();

            let chunk = rng.normals(chunk_rows * row);
            let dst0 = poisoned(&mut rng, n * row, row, &batch_written);
            let src = rng.normals(n * row);
            let chunk0 = poisoned(&mut rng, chunk_rows * row, row, &chunk_written);
            let mut dst_ref = dst0.clone();
            reference::gather_rows(&chunk, base, &ids, valid as u32, &mut dst_ref);
            let mut chunk_ref = chunk0.clone();
            reference::scatter_rows(&src, base, &ids, valid as u32, &mut chunk_ref);
            assert!(dst_ref.iter().chain(&chunk_ref).all(|v| v.is_finite()), "the reference writes every poisoned row");

            let tids = g.tensor_u32(&[n], "ids").unwrap();
            g.upload_u32(&tids, &ids);
            let tvalid = g.tensor_u32(&[1], "valid").unwrap();
            g.upload_u32(&tvalid, &[valid as u32]);
            let tchunk = g.tensor_from(&[chunk_rows, row], &to_f32(&chunk), "chunk").unwrap();
            let tsrc = g.tensor_from(&[n, row], &to_f32(&src), "src").unwrap();
            let tdst = g.tensor(&[n, row], "dst").unwrap();
            let tchunk_out = g.tensor(&[chunk_rows, row], "chunk out").unwrap();
            for span in GRID_SPANS {
                g.upload(&tdst, &to_f32(&dst0));
                g.upload(&tchunk_out, &to_f32(&chunk0));
                let mut p = PlanBuilder::new(g, "gather_rows");
                with_span(span, || {
                    ops::gather_rows(&mut p, &tchunk, base, &tids, &tvalid, &tdst).unwrap();
                    ops::scatter_rows(&mut p, &tsrc, base, &tids, &tvalid, &tchunk_out).unwrap();
                });
                g.run(&[&p.finish().unwrap()]).unwrap();
                let what = format!("n {n} row {row} chunk {chunk_rows} base {base} valid {valid} span {span:?}");
                assert_eq!(to_f64(&g.download(&tdst).unwrap()), to_f64(&to_f32(&dst_ref)), "gather_rows {what}");
                assert_eq!(
                    to_f64(&g.download(&tchunk_out).unwrap()),
                    to_f64(&to_f32(&chunk_ref)),
                    "scatter_rows {what}"
                );
            }
        }
    });
}
