//! The kernel benchmark runs end to end on whatever adapter is present (lavapipe in CI) with tiny shapes:
//! every row verified and timed, and its report printable, serialisable and comparable. Nothing here
//! asserts a speed.

mod common;

use layerwise::bench::{self, KernelBenchOptions, KernelBenchReport};

fn quick_report() -> Option<(KernelBenchReport, String)> {
    // The release path (no shader runtime checks) is what a benchmark measures.
    let g = common::gpu(false)?;
    let opts = KernelBenchOptions { reps: 2, min_seconds: 0.01, verify: true, ..KernelBenchOptions::quick() };
    let report = bench::bench_kernels(g, &opts).expect("quick kernel benchmark");
    Some((report, g.summary.name.clone()))
}

#[test]
fn quick_benchmark_verifies_times_and_reports_every_row() {
    let Some((report, adapter)) = quick_report() else { return };
    let ops = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"];
    // 8 CIFAR shapes x 3 directions, then the GEMM, in that order.
    assert_eq!(report.rows.len(), 8 * 3 + 1);
    for (i, r) in report.rows.iter().enumerate() {
        let want = if i < 24 { ops[i % 3] } else { "gemm" };
        assert_eq!(r.op, want, "row {i}");
        assert!(r.flops > 0 && r.seconds_per_call > 0.0 && r.gflops > 0.0 && r.gflops.is_finite(), "row {i}: {r:?}");
        let err = r.max_rel_err.unwrap_or_else(|| panic!("row {i} was not verified: {r:?}"));
        assert!(err < bench::verify::L2_TOL, "row {i}: {r:?}");
    }
    assert_eq!(report.rows[0].shape, "4x32x32 3->8 k3");
    assert_eq!(report.rows[24].shape, "256x256x256");
    assert_eq!(report.rows[24].flops, 2 * 256u64.pow(3));
    assert_eq!(report.gemm_gflops, report.rows[24].gflops);
    assert!(report.peak_gpu_bytes > 0);

    let md = report.markdown();
    println!("{md}");
    assert!(md.contains(&adapter), "markdown names the adapter:\n{md}");
    for r in &report.rows {
        let lines = md.lines().filter(|l| l.starts_with(&format!("| {} | {} |", r.op, r.shape))).count();
        assert_eq!(lines, 1, "one markdown line for {} {}:\n{md}", r.op, r.shape);
    }
    let table_lines = md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| op ")).count();
    assert_eq!(table_lines, report.rows.len());

    // JSON round trip (floats compared to the last bit or two: serde_json parses them best-effort).
    let back = KernelBenchReport::from_json(&report.to_json()).expect("report JSON parses");
    assert_eq!(back.adapter, report.adapter);
    assert_eq!((back.runtime_checks, back.peak_gpu_bytes), (report.runtime_checks, report.peak_gpu_bytes));
    assert_eq!(back.rows.len(), report.rows.len());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
    assert!(close(back.gemm_gflops, report.gemm_gflops));
    for (a, b) in back.rows.iter().zip(&report.rows) {
        assert_eq!((&a.op, &a.shape, a.flops), (&b.op, &b.shape, b.flops));
        assert!(close(a.seconds_per_call, b.seconds_per_call) && close(a.gflops, b.gflops), "{a:?} vs {b:?}");
        assert!(close(a.max_rel_err.unwrap(), b.max_rel_err.unwrap()));
    }

    // Against itself: every row matched, every ratio 1.
    let cmp = report.compare(&back);
    println!("{cmp}");
    let ratios: Vec<&str> = cmp.lines().filter(|l| l.starts_with("| conv2d_") || l.starts_with("| gemm ")).collect();
    assert_eq!(ratios.len(), report.rows.len(), "{cmp}");
    assert!(ratios.iter().all(|l| l.ends_with("| 1.000x |")), "{cmp}");

    // Against PyTorch: no shape in common, so the GEMM line carries the ratio and the baseline rows are listed.
    let (torch, _) = bench::pytorch_h100().unwrap();
    let cmp = report.compare(&torch);
    println!("{cmp}");
    assert!(cmp.contains("| gemm_tf32 | 8192x8192x8192 | - | 377500.0 | - |"), "{cmp}");
    let gemm = cmp.lines().find(|l| l.starts_with("GEMM: ")).unwrap_or_else(|| panic!("no GEMM line:\n{cmp}"));
    let r: f64 = gemm.rsplit(' ').next().unwrap().trim_end_matches('x').parse().unwrap_or_else(|_| panic!("{gemm}"));
    assert!(
        gemm.contains("vs 51900.0 GFLOP/s baseline") && (r / (report.gemm_gflops / 51900.0) - 1.0).abs() < 0.01,
        "{gemm}"
    );
}

#[test]
fn pytorch_baseline_holds_the_issue_numbers() {
    let (kernels, training) = bench::pytorch_h100().expect("the built-in baseline parses");
    assert_eq!(kernels.gemm_gflops, 51900.0);
    assert_eq!(kernels.rows.iter().map(|r| r.op.as_str()).collect::<Vec<_>>(), ["gemm", "gemm_tf32"]);
    for r in &kernels.rows {
        // seconds_per_call is derived from flops and gflops; keep them consistent.
        assert!((r.flops as f64 / r.seconds_per_call / 1e9 / r.gflops - 1.0).abs() < 1e-6, "{r:?}");
    }
    assert_eq!(training.batch, 128);
    let run = |preset: &str, precision: &str| {
        training
            .runs
            .iter()
            .find(|r| r.preset == preset && r.precision.starts_with(precision))
            .unwrap_or_else(|| panic!("{preset} {precision}"))
    };
    let k1 = run("paper1-cifar-k1", "fp32");
    assert_eq!(
        (k1.img_per_s.as_slice(), k1.total_seconds),
        ([85379.0, 20071.0, 9360.0, 6155.0, 5479.0].as_slice(), 1283.0)
    );
    assert_eq!(run("paper1-cifar-k1", "tf32").total_seconds, 381.0);
    assert_eq!(run("paper1-cifar-k1", "bf16").img_per_s[1], 59700.0);
    assert_eq!(run("paper1-cifar-k3", "fp32").img_per_s.len(), 4);
    assert_eq!(run("paper1-cifar-k3", "tf32").total_seconds, 283.0);
    // The same file loads as a plain report (the `--compare` path), its extra fields ignored.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/bench/pytorch-h100.json");
    assert_eq!(KernelBenchReport::load(&path).unwrap(), kernels);
}

#[test]
fn bad_options_are_usage_errors() {
    let Some(g) = common::gpu(false) else { return };
    for opts in [
        KernelBenchOptions { reps: 0, ..KernelBenchOptions::quick() },
        KernelBenchOptions { min_seconds: f64::NAN, ..KernelBenchOptions::quick() },
    ] {
        let e = bench::bench_kernels(g, &opts).expect_err("refused");
        assert_eq!(e.exit_code(), 2, "{e}");
    }
}

/// `bench train` measures every stage of a greedy preset and a whole DGL step, on synthetic data.
#[test]
fn training_benchmark_measures_every_stage() {
    let Some(gpu) = common::gpu(false) else { return };
    let mut opts = layerwise::bench::TrainBenchOptions::quick();
    opts.presets = vec!["fmnist-quick".into(), "dgl-fmnist".into()];
    opts.steps = 2;
    let r = layerwise::bench::bench_training(gpu, &opts).unwrap();
    assert_eq!(r.rows.len(), 3 + 1, "{:?}", r.rows);
    assert!(r.rows.iter().all(|row| row.img_per_s > 0.0 && row.peak_mib > 0.0 && row.dispatches > 0));
    assert_eq!(r.rows[3].method, "dgl");
    let md = r.markdown();
    assert!(md.contains(&r.adapter.name) && md.contains("all 3 (dgl)"), "{md}");
    // Full-run estimates use each preset's own schedule; the per-step submit cost is reported.
    assert!(md.contains("fmnist-quick: full greedy training (3 epochs/stage, 60000 images)"), "{md}");
    assert!(r.submit_overhead_us > 0.0 && md.contains("One empty submit + wait costs"), "{md}");
    let back: layerwise::bench::TrainBenchReport = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(back.rows.len(), r.rows.len());
}

/// `bench train --plan-only` gives the planner's memory per stage without building or running a step:
/// the ImageNet presets at their batch of 256, which a CPU driver cannot step in reasonable time.
#[test]
fn planned_memory_without_running_a_step() {
    let Some(gpu) = common::gpu(false) else { return };
    let opts = layerwise::bench::TrainBenchOptions {
        presets: vec!["paper1-imagenet-k3".into()],
        batch: 256,
        plan_only: true,
        ..Default::default()
    };
    let r = layerwise::bench::bench_training(gpu, &opts).unwrap();
    assert_eq!(r.rows.len(), 8, "{:?}", r.rows);
    // Nothing measured, everything planned: a stage at 224x224 and batch 256 takes gigabytes.
    assert!(r.rows.iter().all(|row| row.img_per_s == 0.0 && row.peak_mib == 0.0 && row.planned_mib > 1024.0));
    let md = r.markdown();
    assert!(
        md.contains("Planned training memory") && md.contains("| paper1-imagenet-k3 | 0 | - | - | - | - |"),
        "{md}"
    );
    assert!(!md.contains("full greedy training"), "no time estimate from nothing measured: {md}");
    let dgl = layerwise::bench::TrainBenchOptions { presets: vec!["vgg13-imagenet".into()], ..opts };
    let e = layerwise::bench::bench_training(gpu, &dgl).unwrap_err().to_string();
    assert!(e.contains("plans greedy stages"), "{e}");
}
