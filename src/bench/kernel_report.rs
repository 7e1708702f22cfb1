//! The kernel benchmark's report: Markdown for people, JSON for baselines, and the ratio table against
//! another report (e.g. PyTorch on an H100, `bench::pytorch_h100`).

use std::fmt::Write as _;
use std::path::Path;

use super::kernels::{KernelBenchReport, KernelBenchRow};
use crate::error::{Error, IoContext, Result};

impl KernelBenchReport {
    /// A Markdown section: adapter, how it was measured, one table line per row.
    pub fn markdown(&self) -> String {
        let a = &self.adapter;
        let mut s = format!("### Kernel benchmark: {} ({}, {})\n\n", a.name, a.backend, a.device_type);
        let _ = writeln!(
            s,
            "Shader runtime checks {}; wall clock, best of 3; peak GPU memory {:.1} MiB; GEMM {:.1} GFLOP/s.\n",
            if self.runtime_checks { "on" } else { "off" },
            self.peak_gpu_bytes as f64 / (1u64 << 20) as f64,
            self.gemm_gflops
        );
        s.push_str(
            "| op | shape | GFLOP | ms/call | GFLOP/s | rel. error | kernel |\n|---|---|---:|---:|---:|---:|---|\n",
        );
        for r in &self.rows {
            let err = r.max_rel_err.map_or("-".to_string(), |e| format!("{e:.1e}"));
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {:.3} | {:.1} | {err} | {} |",
                r.op,
                r.shape,
                r.flops as f64 / 1e9,
                r.seconds_per_call * 1e3,
                r.gflops,
                r.kernel
            );
        }
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a benchmark report always serialises")
    }

    /// Parse a report written by `to_json` (or a baseline in the same schema; unknown fields are ignored).
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::usage(format!("not a kernel benchmark report: {e}")))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path).at(path)?;
        serde_json::from_str(&json).map_err(|e| Error::data(path, format!("not a kernel benchmark report: {e}")))
    }

    /// Markdown table of GFLOP/s ratios (this / baseline) for rows with the same op and shape; rows only one
    /// side has are listed with a dash. The GEMM line compares the two `gemm_gflops`, whatever their sizes.
    pub fn compare(&self, baseline: &KernelBenchReport) -> String {
        let mut s = format!("### {} vs {}\n\n", self.adapter.name, baseline.adapter.name);
        s.push_str("| op | shape | GFLOP/s | baseline GFLOP/s | ratio |\n|---|---|---:|---:|---:|\n");
        let find =
            |rows: &[KernelBenchRow], r: &KernelBenchRow| rows.iter().position(|b| b.op == r.op && b.shape == r.shape);
        for r in &self.rows {
            match find(&baseline.rows, r) {
                Some(i) => {
                    let b = baseline.rows[i].gflops;
                    let _ =
                        writeln!(s, "| {} | {} | {:.1} | {b:.1} | {} |", r.op, r.shape, r.gflops, ratio(r.gflops, b));
                }
                None => {
                    let _ = writeln!(s, "| {} | {} | {:.1} | - | - |", r.op, r.shape, r.gflops);
                }
            }
        }
        for b in baseline.rows.iter().filter(|b| find(&self.rows, b).is_none()) {
            let _ = writeln!(s, "| {} | {} | - | {:.1} | - |", b.op, b.shape, b.gflops);
        }
        let _ = writeln!(
            s,
            "\nGEMM: {:.1} GFLOP/s vs {:.1} GFLOP/s baseline: {}",
            self.gemm_gflops,
            baseline.gemm_gflops,
            ratio(self.gemm_gflops, baseline.gemm_gflops)
        );
        s
    }
}

fn ratio(a: f64, b: f64) -> String {
    let r = a / b;
    if !(b > 0.0 && r.is_finite()) {
        "-".to_string()
    } else if r >= 0.01 || r == 0.0 {
        format!("{r:.3}x")
    } else {
        // A CPU adapter against an H100 is many orders of magnitude off; keep the digits visible.
        format!("{r:.2e}x")
    }
}
