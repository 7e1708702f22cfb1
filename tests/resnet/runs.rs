//! The presets as configs (K modules and the downsampling schedule as plain fields, the accelerated pairs)
//! and short greedy, DGL and end-to-end runs of a residual preset on real data.

use std::path::PathBuf;

use crate::common::*;
use layerwise::checkpoint::Checkpoint;
use layerwise::config::{Config, Method};
use layerwise::gpu::GpuOptions;
use layerwise::model::{Layer, ModelSpec, Shape};
use layerwise::train::{train, TrainOptions};

const CIFAR: Shape = Shape::Map { h: 32, w: 32, c: 3 };

/// (map size, output channels) after each residual block of the network, and its parameter count without
/// the projection shortcuts.
fn blocks_of(spec: &ModelSpec) -> (Vec<(usize, usize)>, usize) {
    let mut blocks = Vec::new();
    for s in &spec.stages {
        for (i, l) in s.layers.iter().enumerate() {
            if let (Layer::Residual(_), Shape::Map { h, c, .. }) = (l, s.shapes[i]) {
                blocks.push((h, c));
            }
        }
    }
    let params = spec.stages.iter().chain(spec.heads.last()).flat_map(|b| b.param_specs());
    let plain = params.filter(|(n, _, _)| !n.contains("downsample")).map(|(_, s, _)| s.iter().product::<usize>());
    (blocks, plain.sum())
}

/// Each accelerated preset is its plain twin with the resolution changes moved three times earlier: the
/// same blocks and widths (so the same parameters, projections aside), fewer blocks at 32x32.
#[test]
fn accelerated_presets_keep_the_network_and_move_the_downsampling() {
    for (depth, plain_at, accel_at) in [(20, [3, 6], [1, 2]), (56, [9, 18], [3, 6])] {
        let plain = Config::preset(&format!("resnet{depth}-cifar")).unwrap();
        let accel = Config::preset(&format!("resnet{depth}-cifar-accel")).unwrap();
        assert_eq!(plain.arch.as_ref().unwrap().downsample_at, plain_at);
        assert_eq!(accel.arch.as_ref().unwrap().downsample_at, accel_at);
        let mut same = accel.clone();
        same.name = plain.name.clone();
        same.arch.as_mut().unwrap().downsample_at = plain_at.to_vec();
        assert_eq!(same, plain, "resnet{depth}: the pair differs only in where the resolution halves");
        let (pb, pp) = blocks_of(&ModelSpec::new(&plain, CIFAR, 10).unwrap());
        let (ab, ap) = blocks_of(&ModelSpec::new(&accel, CIFAR, 10).unwrap());
        assert_eq!((pb.len(), pp), (ab.len(), ap), "resnet{depth}: depth and parameters");
        assert_eq!(pb.iter().map(|b| b.1).collect::<Vec<_>>(), ab.iter().map(|b| b.1).collect::<Vec<_>>());
        let full = |b: &[(usize, usize)]| b.iter().filter(|(h, _)| *h == 32).count();
        assert_eq!((full(&pb), full(&ab)), (plain_at[0], accel_at[0]), "resnet{depth}: blocks at 32x32");
        assert_eq!(pb.last().unwrap().0, 8);
        assert_eq!(ab.last().unwrap().0, 8);
    }
}

/// K and the downsampling schedule are plain fields `--set` changes; bad values are clear errors.
#[test]
fn modules_and_downsampling_are_set_like_any_field() {
    let cfg = Config::preset("resnet20-cifar").unwrap();
    let c = cfg.with_overrides(&["modules=3".into(), "arch.downsample_at=[1,4]".into()]).unwrap();
    let spec = ModelSpec::new(&c, CIFAR, 10).unwrap();
    assert_eq!(spec.stages.len(), 3);
    assert_eq!(
        spec.stages
            .iter()
            .map(|s| s.layers.iter().filter(|l| matches!(l, Layer::Residual(_))).count())
            .collect::<Vec<_>>(),
        [3, 3, 3]
    );
    let strides: Vec<usize> = spec
        .stages
        .iter()
        .flat_map(|s| &s.layers)
        .filter_map(|l| if let Layer::Residual(r) = l { Some(r.stride) } else { None })
        .collect();
    assert_eq!(strides, [1, 2, 1, 1, 2, 1, 1, 1, 1]);
    // The stem goes with the first module; the last module ends with the network's own classifier.
    assert!(matches!(spec.stages[0].layers[0], Layer::Conv { cin: 3, cout: 16, .. }));
    assert_eq!(spec.heads[2].names, ["avgpool", "fc"]);
    for (set, needle) in [
        ("modules=0", "modules must be between 1 and the network's 9 blocks"),
        ("modules=10", "modules must be between 1 and the network's 9 blocks"),
        ("arch.downsample_at=[4,1]", "arch.downsample_at [4, 1] must list distinct block indices"),
        ("arch.downsample_at=[9]", "each below 9"),
        ("arch.module_blocks=[5,5,5,5]", "arch.module_blocks [5, 5, 5, 5]"),
    ] {
        let e = cfg.with_overrides(&[set.into()]).err().unwrap_or_else(|| panic!("{set} accepted")).to_string();
        assert!(e.contains(needle), "{set}: {e}");
    }
    let e = Config::preset("fmnist-quick").unwrap().with_overrides(&["modules=2".into()]).unwrap_err().to_string();
    assert!(e.contains("modules = 2 applies to an [arch] network"), "{e}");
}

/// The real data the runs train on: the byte-exact CIFAR-10 prefix from the shared data when present
/// (<manifest>/../shared/data, or LAYERWISE_SHARED_DATA), else Fashion-MNIST, saying so.
fn real_data(cfg: &mut Config) {
    let shared = std::env::var_os("LAYERWISE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let cifar = shared.join("cifar10/exact-prefix");
    if cifar.join("data_batch_1.bin").is_file() {
        cfg.dataset = cifar.to_str().unwrap().to_string();
        cfg.val_split = 512;
    } else {
        eprintln!("the shared CIFAR-10 prefix is absent at {}: training on Fashion-MNIST instead", cifar.display());
        cfg.dataset = "fashion-mnist".into();
        cfg.val_split = 0;
        cfg.max_val_images = 512;
        (cfg.augment.mean, cfg.augment.std) = (vec![0.2860], vec![0.3530]);
    }
}

/// A residual network in two modules, trained greedily, with DGL and end to end on 1,024 real images for
/// two epochs (per module when greedy) at batch 32 (LR 0.05 for the smaller batch): every method learns (its
/// final head above 15% on 512 held-out images, where chance is 10% +- 1.3%, its last stage's training loss
/// falling), and the checkpoint holds the network under torchvision's names and the auxiliary head under
/// `heads.0`. The net is the resnet20-cifar preset at half width with one block per group (ResNet-8:
/// stem, 8 @32, 16 @16 and 32 @8 with projections where the resolution halves), to keep CI quick.
#[test]
fn resnet_trains_greedily_with_dgl_and_end_to_end_on_real_data() {
    let Some(g) = gpu(false) else { return };
    let out = tempfile::tempdir().unwrap();
    for method in [Method::Greedy, Method::Dgl, Method::E2e] {
        let mut cfg = Config::preset("resnet20-cifar")
            .unwrap()
            .with_overrides(&[
                "modules=2".into(),
                "epochs=2".into(),
                "batch_size=32".into(),
                "optimizer.lr=0.05".into(),
                "arch.blocks=[1,1,1]".into(),
                "arch.downsample_at=[1,2]".into(),
                "max_train_images=1024".into(),
            ])
            .unwrap()
            .with_widths_divided(2);
        cfg.method = method;
        real_data(&mut cfg);
        cfg.validate().unwrap();
        let mut gpu_opts = GpuOptions::from_env().unwrap();
        gpu_opts.runtime_checks = g.runtime_checks;
        let opts = TrainOptions {
            out: out.path().join(format!("{method:?}")),
            resume: false,
            data_dir: None,
            gpu: gpu_opts,
            quiet: true,
            report: false,
            resume_sets: Vec::new(),
            force_data: false,
        };
        let summaries = train(cfg, &opts).unwrap();
        let accs: Vec<f64> = summaries.iter().map(|s| s.head_acc).collect();
        eprintln!("{method:?}: head accuracies {accs:?}");
        let last = summaries.last().unwrap();
        assert!(last.head_acc > 15.0, "{method:?}: final head at {:.1}% ({accs:?})", last.head_acc);
        let records = std::fs::read_to_string(opts.out.join("metrics.jsonl")).unwrap();
        let records: Vec<serde_json::Value> = records.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let last_stage = records.last().unwrap()["stage"].clone();
        let losses: Vec<f64> =
            records.iter().filter(|r| r["stage"] == last_stage).map(|r| r["train_loss"].as_f64().unwrap()).collect();
        assert!(losses.len() == 2 && losses[1] < losses[0], "{method:?}: last stage's training losses {losses:?}");
        let names = Checkpoint::read(&opts.out.join("checkpoint.safetensors")).unwrap().names();
        for n in [
            "conv1.weight",
            "bn1.running_var",
            "layer1.0.conv1.weight",
            "layer2.0.downsample.0.weight",
            "layer3.0.bn2.bias",
            "fc.weight",
            "fc.bias",
            "heads.0.1.weight",
        ] {
            assert!(names.iter().any(|m| m == n), "{method:?}: no {n} in {names:?}");
        }
        assert!(names.iter().all(|n| !n.starts_with("stages.")), "{method:?}: {names:?}");
    }
}
