//! `layerwise presets`: the shipped presets listed, or one printed as its TOML followed by what it costs
//! per stage (parameters and forward FLOPs per image of every stage and head, and the totals) as TOML
//! comments, so that the output still loads as a config file.

use crate::config::{Config, PRESETS};
use crate::error::Result;
use crate::model::{ModelSpec, Shape};

/// The image shape and class count a preset's dataset has, for the named datasets (a folder's images
/// are only known once it is read): `imagenet` is ImageNet as the reference code crops it, 224x224.
pub fn dataset_input(dataset: &str) -> Option<(Shape, usize)> {
    match dataset {
        "fashion-mnist" | "mnist" => Some((Shape::Map { h: 28, w: 28, c: 1 }, 10)),
        "cifar10" => Some((Shape::Map { h: 32, w: 32, c: 3 }, 10)),
        "imagenet" => Some((Shape::Map { h: 224, w: 224, c: 3 }, 1000)),
        // Imagenette (10 ImageNet classes at 224x224), as the deep presets name it by its path.
        d if d.contains("imagenette") => Some((Shape::Map { h: 224, w: 224, c: 3 }, 10)),
        _ => None,
    }
}

/// One line per preset: its method, stages, epochs and dataset.
pub fn list() -> Result<String> {
    let mut out = String::new();
    for (n, _) in PRESETS {
        let c = Config::preset(n)?;
        out += &format!(
            "{n:<21} {:?}, {} stage(s), {} epochs/stage, dataset {}\n",
            c.method,
            c.stage_count(),
            c.epochs,
            c.dataset
        );
    }
    Ok(out)
}

/// The preset `name` as its TOML file, then its cost table (when its dataset's shape is known).
pub fn show(name: &str) -> Result<String> {
    let cfg = Config::preset(name)?;
    let text = PRESETS.iter().find(|(p, _)| *p == name).map(|(_, t)| *t).unwrap_or_default();
    let mut out = text.to_string();
    if let Some((mut input, classes)) = dataset_input(&cfg.dataset) {
        // A streamed dataset reaches the network as the stream's square crops.
        if let Some(st) = &cfg.stream {
            input = Shape::Map { h: st.size, w: st.size, c: 3 };
        }
        out += "\n";
        for line in cost_table(&cfg, input, classes)?.lines() {
            out += &format!("# {line}\n");
        }
    }
    Ok(out)
}

/// Parameters and forward FLOPs (2 x multiply-adds) per image of every stage and head of `cfg` on
/// `input` images of `classes` classes, with the totals: the stages together, the heads together, and
/// the final network (every stage and the last head).
pub fn cost_table(cfg: &Config, input: Shape, classes: usize) -> Result<String> {
    let spec = ModelSpec::new(cfg, input, classes)?;
    let mut out = format!("Cost on {input} images, {classes} classes (parameters; forward GFLOP per image):\n");
    out += &format!("{:<6} {:>14} {:>10} {:>14} {:>10}  output\n", "stage", "params", "GFLOP", "head params", "GFLOP");
    let gflop = |f: u64| f as f64 / 1e9;
    for (j, (s, h)) in spec.stages.iter().zip(&spec.heads).enumerate() {
        out += &format!(
            "{j:<6} {:>14} {:>10.3} {:>14} {:>10.3}  {}\n",
            thousands(s.param_count()),
            gflop(s.flops()),
            thousands(h.param_count()),
            gflop(h.flops()),
            s.output()
        );
    }
    let stage_params: usize = spec.stages.iter().map(|s| s.param_count()).sum();
    let stage_flops: u64 = spec.stages.iter().map(|s| s.flops()).sum();
    let head_params: usize = spec.heads.iter().map(|h| h.param_count()).sum();
    let head_flops: u64 = spec.heads.iter().map(|h| h.flops()).sum();
    out += &format!(
        "{:<6} {:>14} {:>10.3} {:>14} {:>10.3}\n",
        "total",
        thousands(stage_params),
        gflop(stage_flops),
        thousands(head_params),
        gflop(head_flops)
    );
    if let Some(last) = spec.heads.last() {
        out += &format!(
            "final network (every stage and the last head): {} parameters, {:.3} GFLOP per image\n",
            thousands(stage_params + last.param_count()),
            gflop(stage_flops + last.flops())
        );
    }
    Ok(out)
}

/// 590834688 -> "590,834,688".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(590834688), "590,834,688");
    }
}
