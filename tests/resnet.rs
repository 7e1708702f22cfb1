//! Deep networks (src/model/arch.rs, residual.rs): ResNet blocks recorded by the model and run on the GPU
//! against PyTorch's float64 vectors (forward, backward, running statistics); whole small ResNets in
//! torchvision's layout loaded by name from PyTorch's tensors and evaluated; the checkpoint names and shapes
//! of the ImageNet ResNet and VGG presets against torchvision's state_dicts; the accelerated-downsampling
//! presets; short greedy, DGL and end-to-end runs of a residual preset on real data.

mod common;

#[path = "resnet/nets.rs"]
mod nets;
#[path = "resnet/runs.rs"]
mod runs;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use layerwise::checkpoint::{Checkpoint, CheckpointMeta, FORMAT};
use layerwise::gpu::{Gpu, PlanBuilder, Tensor};
use layerwise::model::block::{Block, Scratch};
use layerwise::model::{BlockSpec, Init, Layer, Residual, ResidualKind, Shape};
use layerwise::train::state::Progress;

/// PyTorch's `{case}.{name}` in our layout (4-d tensors NCHW/OIHW -> NHWC/OHWI), as f32.
pub fn ours32(name: &str) -> (Vec<f32>, Vec<usize>) {
    let (v, shape) = torch(name);
    let v = if shape.len() == 4 { nchw_to_nhwc(&v, &shape) } else { v };
    (to_f32(&v), shape)
}

/// Upload into `blocks` the tensors PyTorch stored under `{prefix}{torch name}`, where `rename` maps our
/// checkpoint name to PyTorch's.
pub fn restore_from_torch(g: &Gpu, blocks: &[&Block], prefix: &str, rename: impl Fn(&str) -> String) {
    let mut tensors = HashMap::new();
    for b in blocks {
        for (name, _, _) in b.spec.param_specs().into_iter().chain(b.spec.state_specs()) {
            let (v, shape) = torch(&format!("{prefix}{}", rename(&name)));
            tensors.insert(name, (shape, to_f32(&v)));
        }
    }
    let meta = CheckpointMeta {
        format: FORMAT,
        config_name: "torch".into(),
        adapter: String::new(),
        progress: Progress::default(),
    };
    Checkpoint::from_tensors(meta, tensors).restore_blocks(Path::new("torch vectors"), g, blocks).unwrap();
}

/// One torchvision block as a one-layer block named `blk`.
fn residual_block(g: &Gpu, case: &str, r: Residual) -> Block {
    let (_, xs) = torch(&format!("{case}.x"));
    let input = Shape::Map { h: xs[2], w: xs[3], c: xs[1] };
    let spec = BlockSpec::named("blk".into(), input, vec![("blk".into(), Layer::Residual(r))], Init::ResNet).unwrap();
    let mut block = Block::new(g, spec, 0).unwrap();
    block.hold_training(g).unwrap();
    restore_from_torch(g, &[&block], &format!("{case}.before."), |n| n.trim_start_matches("blk.").to_string());
    block
}

/// A torchvision block's training forward and backward through the model's own recording, against PyTorch:
/// y, d_x, every parameter gradient and the updated running statistics.
fn check_block(case: &str, r: Residual) {
    both_modes(|g| {
        let block = residual_block(g, case, r);
        let (x, xs) = ours32(&format!("{case}.x"));
        let tx = g.tensor_from(&[xs[0], xs[2], xs[3], xs[1]], &x, "x").unwrap();
        let (d_y, ys) = ours32(&format!("{case}.d_y"));
        let td_y = g.tensor_from(&[ys[0], ys[2], ys[3], ys[1]], &d_y, "d_y").unwrap();
        let scratch = Scratch::new(g, &[&block.spec], xs[0]).unwrap();
        g.fill(&block.training().unwrap().grads.all, f32::NAN);
        let mut p = PlanBuilder::new(g, "residual block");
        let trace = block.forward_train(&mut p, &tx, &scratch).unwrap();
        let d_x: Tensor = block.backward(&mut p, &trace, &td_y, true, &scratch).unwrap().expect("d_x asked for");
        g.run(&[&p.finish().unwrap()]).unwrap();
        let what = |t: &str| format!("{case} {t} (checks={})", g.runtime_checks);
        let want = |name: &str| to_f64(&ours32(&format!("{case}.{name}")).0);
        assert_close(&what("y"), &g.download(trace.output()).unwrap(), &want("y"));
        assert_close(&what("d_x"), &g.download(&d_x).unwrap(), &want("d_x"));
        let grads = block.training().unwrap().grads.download(g).unwrap();
        for ((name, _, _), got) in block.spec.param_specs().iter().zip(&grads) {
            let torch_name = name.trim_start_matches("blk.");
            assert_close(&what(&format!("grad {torch_name}")), got, &want(&format!("grad.{torch_name}")));
        }
        let state = block.state.download(g).unwrap();
        for ((name, _, _), got) in block.spec.state_specs().iter().zip(&state) {
            let torch_name = name.trim_start_matches("blk.");
            assert_close(&what(&format!("{torch_name} after")), got, &want(&format!("after.{torch_name}")));
        }
    });
}

#[test]
fn basic_block_matches_pytorch_on_the_gpu() {
    check_block("resnet_basic", Residual::new(ResidualKind::Basic, 4, 4, 1));
}

#[test]
fn basic_block_with_projection_matches_pytorch_on_the_gpu() {
    let r = Residual::new(ResidualKind::Basic, 4, 8, 2);
    assert!(r.projection);
    check_block("resnet_basic_down", r);
}

#[test]
fn bottleneck_block_matches_pytorch_on_the_gpu() {
    let r = Residual::new(ResidualKind::Bottleneck, 8, 4, 2);
    assert!(r.projection && r.cout() == 16);
    check_block("resnet_bottleneck", r);
}
