//! Where one training step's time goes, kernel by kernel, for a preset's stage on the current adapter:
//! `cargo run --release --example profile_step -- fmnist-quick 1`
use layerwise::config::Config;
use layerwise::gpu::{Gpu, GpuOptions};
use layerwise::model::{Model, ModelSpec, Shape};
use layerwise::train::feed::Feed;
use layerwise::train::plans::{scratch_for, train_step, StepContext, StepIo, Trains};

fn main() -> layerwise::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let preset = args.get(1).map(String::as_str).unwrap_or("fmnist-quick");
    let stage: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut cfg = Config::preset(preset)?;
    if std::env::var("QUICK").is_ok() {
        for s in &mut cfg.stages {
            s.width = (s.width / 16).max(4);
            if s.head.width > 0 {
                s.head.width = (s.head.width / 16).max(4);
            }
        }
        cfg.batch_size = 16;
    }
    let (h, c) = if cfg.dataset == "cifar10" { (32, 3) } else { (28, 1) };
    let gpu = Gpu::new(&GpuOptions::from_env()?)?;
    let model = Model::new(&gpu, ModelSpec::new(&cfg, Shape::Map { h, w: h, c }, 10)?, 0)?;
    let feed = Feed::new(&gpu, cfg.batch_size, h * h * c)?;
    let io = StepIo::new(&gpu)?;
    io.set_lr(&gpu, &cfg, 0.01);
    let scratch = scratch_for(&gpu, &model, stage, cfg.batch_size)?;
    let ctx = StepContext { gpu: &gpu, cfg: &cfg, model: &model, io: &io, scratch: &scratch };
    let plan = train_step(&ctx, &feed, Trains::Stage(stage))?;
    gpu.run(&[&plan])?;
    gpu.wait()?;
    let t = std::time::Instant::now();
    for _ in 0..3 {
        gpu.run(&[&plan])?;
    }
    gpu.wait()?;
    let step = t.elapsed().as_secs_f64() / 3.0;
    let overhead = gpu.dispatch_overhead(5)?;
    let prof = plan.profile(&gpu, 2)?;
    let total: f64 = prof.iter().map(|(_, s)| s).sum();
    println!(
        "{preset} stage {stage} on {}: {:.1} ms/step ({:.0} img/s), {} dispatches, submit+wait overhead {:.3} ms",
        gpu.summary.name,
        step * 1e3,
        cfg.batch_size as f64 / step,
        plan.dispatches(),
        overhead * 1e3
    );
    let mut sorted = prof.clone();
    sorted.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    for (name, s) in sorted.iter().take(25) {
        println!("  {:6.2} ms {:5.1}%  {name}", s * 1e3, 100.0 * s / total);
    }
    Ok(())
}
