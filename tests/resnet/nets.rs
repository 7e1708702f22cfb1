//! Whole networks: small ResNets in torchvision's layout loaded by name from PyTorch's tensors, and the
//! ImageNet presets' checkpoint names and shapes against torchvision's state_dicts.

use std::collections::BTreeMap;

use crate::common::*;
use crate::{ours32, restore_from_torch};
use layerwise::config::{ArchConfig, Config};
use layerwise::gpu::PlanBuilder;
use layerwise::model::block::Scratch;
use layerwise::model::{arch, BlockSpec, Model, ModelSpec, Shape};

/// An [arch] table of the test nets (resnet, with an MLP-SR head for the modules before the last).
fn arch_config(toml_text: &str) -> ArchConfig {
    let text = format!("kind = \"resnet\"\nhead = {{ kind = \"mlp-sr\", convs = 1, mlp = 2 }}\n{toml_text}");
    toml::from_str(&text).unwrap()
}

/// The network of `case` (SmallResNet in scripts/torch_vectors.py) cut into `modules` stages, its stages
/// and classifier loaded by their torchvision names from PyTorch's tensors, evaluated on PyTorch's input:
/// the logits must be PyTorch's.
fn check_net(case: &str, arch: &ArchConfig, modules: usize) {
    let (x, xs) = ours32(&format!("{case}.x"));
    let input = Shape::Map { h: xs[2], w: xs[3], c: xs[1] };
    let spec = arch::build(arch, modules, input, 10).unwrap();
    both_modes(|g| {
        let model = Model::new(g, spec.clone(), 0).unwrap();
        let last = model.heads.last().unwrap();
        let net: Vec<_> = model.stages.iter().chain([last]).collect();
        // Our checkpoint names are torchvision's: every tensor is found by its own name.
        restore_from_torch(g, &net, &format!("{case}.state."), |n| n.to_string());
        let specs: Vec<&BlockSpec> = net.iter().map(|b| &b.spec).collect();
        let scratch = Scratch::new(g, &specs, xs[0]).unwrap();
        let tx = g.tensor_from(&[xs[0], xs[2], xs[3], xs[1]], &x, "x").unwrap();
        let logits = g.tensor(&[xs[0], 10], "logits").unwrap();
        g.fill(&logits, f32::NAN);
        let mut p = PlanBuilder::new(g, "small resnet");
        let mut h = tx.clone();
        for s in &model.stages {
            h = s.forward_eval(&mut p, &h, &scratch, None).unwrap();
        }
        last.forward_eval(&mut p, &h, &scratch, Some(&logits)).unwrap();
        g.run(&[&p.finish().unwrap()]).unwrap();
        let what = format!("{case} in {modules} module(s) (checks={})", g.runtime_checks);
        assert_close(&what, &g.download(&logits).unwrap(), &torch(&format!("{case}.y")).0);
    });
}

#[test]
fn cifar_resnet_loads_pytorch_weights_by_name() {
    let a = arch_config(
        "stem = \"cifar\"\nstem_width = 8\nwidths = [8, 16, 32]\nblocks = [1, 1, 1]\ndownsample_at = [1, 2]",
    );
    for modules in [1, 2, 3] {
        check_net("resnet_cifar_net", &a, modules);
    }
}

#[test]
fn imagenet_resnets_load_pytorch_weights_by_name() {
    let basic =
        arch_config("stem = \"imagenet\"\nstem_width = 8\nwidths = [8, 16]\nblocks = [1, 2]\ndownsample_at = [1]");
    check_net("resnet_imagenet_net", &basic, 2);
    let bottleneck = arch_config(
        "block = \"bottleneck\"\nstem = \"imagenet\"\nstem_width = 8\nwidths = [4, 8]\nblocks = [1, 1]\ndownsample_at = [1]",
    );
    check_net("resnet_bottleneck_net", &bottleneck, 1);
}

/// {name: PyTorch shape} of the network's tensors: the stages and the last head (its classifier), with
/// conv weights as [out, in, kh, kw].
fn network_tensors(spec: &ModelSpec) -> BTreeMap<String, Vec<usize>> {
    let blocks = spec.stages.iter().chain(spec.heads.last());
    let mut out = BTreeMap::new();
    for b in blocks {
        for (name, shape, _) in b.param_specs().into_iter().chain(b.state_specs()) {
            let torch_shape = match shape[..] {
                [o, kh, kw, i] => vec![o, i, kh, kw],
                _ => shape,
            };
            out.insert(name, torch_shape);
        }
    }
    out
}

/// The ImageNet presets' stages and classifier hold exactly torchvision's state_dict (names and shapes, as
/// scripts/torch_vectors.py recorded them), so `load_state_dict(strict=True)` takes a checkpoint's network
/// tensors; whatever the number of modules, and the auxiliary heads keep `heads.J`.
#[test]
fn imagenet_presets_hold_torchvision_state_dicts() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torchvision_models.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let imagenet = Shape::Map { h: 224, w: 224, c: 3 };
    for (preset, model) in [
        ("resnet18-imagenet", "resnet18"),
        ("resnet34-imagenet", "resnet34"),
        ("resnet50-imagenet", "resnet50"),
        ("resnet152-imagenet", "resnet152"),
        ("vgg11-imagenet", "vgg11_bn"),
        ("vgg13-imagenet", "vgg13_bn"),
        ("vgg19-imagenet", "vgg19_bn"),
    ] {
        let want: BTreeMap<String, Vec<usize>> = serde_json::from_value(json["models"][model].clone()).unwrap();
        let cfg = Config::preset(preset).unwrap();
        for modules in [cfg.modules, 1, 3] {
            let cfg = cfg.with_overrides(&[format!("modules={modules}"), "arch.module_blocks=[]".into()]).unwrap();
            let spec = ModelSpec::new(&cfg, imagenet, 10).unwrap();
            assert_eq!(spec.stages.len(), modules);
            assert_eq!(network_tensors(&spec), want, "{preset} in {modules} module(s) against torchvision's {model}");
            for (j, head) in spec.heads[..modules - 1].iter().enumerate() {
                let names = head.param_specs().into_iter().map(|(n, _, _)| n);
                assert!(names.into_iter().all(|n| n.starts_with(&format!("heads.{j}."))), "{preset} head {j}");
            }
        }
    }
}
