//! The library API in one page: train the same small network greedily, with decoupled greedy learning
//! and end to end, on a subset of Fashion-MNIST, and print each stage's head accuracy side by side.
//! `cargo run --release --example compare_methods -- [training images, default 6000] [epochs, default 2]`
use layerwise::config::{Config, Method};
use layerwise::gpu::GpuOptions;
use layerwise::train::{train, TrainOptions};

fn main() -> layerwise::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (images, epochs) = (args.first().copied().unwrap_or(6000), args.get(1).copied().unwrap_or(2));
    let out = std::env::temp_dir().join(format!("layerwise-compare-{}", std::process::id()));
    let mut rows = Vec::new();
    for method in [Method::Greedy, Method::Dgl, Method::E2e] {
        // dgl-fmnist: three conv stages with MLP-SR auxiliary heads; every method trains the same net.
        let mut cfg = Config::preset("dgl-fmnist")?;
        cfg.method = method;
        cfg.max_train_images = images;
        cfg.epochs = epochs;
        cfg.validate()?;
        let opts = TrainOptions {
            out: out.join(format!("{method:?}")),
            resume: false,
            data_dir: None,
            gpu: GpuOptions::from_env()?,
            quiet: true,
            report: false,
            resume_sets: Vec::new(),
            force_data: false,
        };
        let start = std::time::Instant::now();
        let summaries = train(cfg, &opts)?;
        rows.push((method, summaries, start.elapsed().as_secs_f64()));
    }
    println!("{images} training images, {epochs} epoch(s) (per stage for greedy); test accuracy of each stage's head:");
    for (method, summaries, secs) in &rows {
        let accs: Vec<String> = summaries.iter().map(|s| format!("stage {} {:.2}%", s.stage, s.head_acc)).collect();
        println!("  {:<7} {}  ({secs:.0} s with evaluation)", format!("{method:?}"), accs.join(", "));
    }
    std::fs::remove_dir_all(&out).ok();
    Ok(())
}
