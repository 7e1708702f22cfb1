//! torchvision's BasicBlock and Bottleneck composed from the CPU references (conv2d at stride 1 and 2,
//! batchnorm, batchnorm_add_relu, residual_add), forward and backward, against PyTorch's float64 vectors:
//! the output, the input gradient, every parameter gradient and the updated running statistics. This
//! checks the block vectors and the references together.

use std::collections::BTreeMap;

use crate::compose::{ConvBn, End, Saved};
use crate::vectors::{assert_rel, load, names, ours};
use layerwise::reference::{self, Conv2dGeometry};

/// A residual block: the main path's conv+batchnorm layers (ReLU after each but the last, whose batchnorm
/// is fused with the add and the final ReLU) and the shortcut (identity, or the projection
/// `downsample.0` conv + `downsample.1` batchnorm).
struct Block {
    main: Vec<ConvBn>,
    shortcut: Option<ConvBn>,
}

/// Layer `i` of the main path ends with the add when it is the last.
fn end(i: usize, layers: usize) -> End {
    if i + 1 == layers {
        End::AddRelu
    } else {
        End::Relu
    }
}

impl Block {
    /// The block of `case`, its convolutions given as (kernel, stride); x is [N, H, W, C] at `input`.
    fn load(case: &str, input: [usize; 4], convs: &[(usize, usize)], projection: bool) -> Block {
        let [n, mut h, mut w, mut c] = input;
        let mut main = Vec::new();
        for (i, &(k, stride)) in convs.iter().enumerate() {
            let cout = ours(&format!("{case}.before.conv{}.weight", i + 1)).1[0];
            let s = Conv2dGeometry { n, h, w, cin: c, cout, kh: k, kw: k, stride };
            main.push(ConvBn::load(case, &format!("conv{}", i + 1), &format!("bn{}", i + 1), s));
            (h, w, c) = (s.oh(), s.ow(), cout);
        }
        let shortcut = projection.then(|| {
            let stride = convs.iter().map(|&(_, s)| s).product();
            let [_, h, w, cin] = input;
            let s = Conv2dGeometry { n, h, w, cin, cout: c, kh: 1, kw: 1, stride };
            ConvBn::load(case, "downsample.0", "downsample.1", s)
        });
        Block { main, shortcut }
    }

    /// Training forward: what each layer keeps (main path, then the shortcut's) and y.
    fn forward(&mut self, x: &[f64]) -> (Vec<Saved>, Option<Saved>) {
        let short = self.shortcut.as_mut().map(|s| s.forward(x.to_vec(), End::Plain, None));
        let residual = short.as_ref().map_or(x.to_vec(), |s| s.y.clone());
        let layers = self.main.len();
        let mut saved: Vec<Saved> = Vec::new();
        for (i, layer) in self.main.iter_mut().enumerate() {
            let input = saved.last().map_or(x.to_vec(), |s| s.y.clone());
            saved.push(layer.forward(input, end(i, layers), Some(&residual)));
        }
        (saved, short)
    }

    /// Backward from d_y: d_x and every parameter gradient under torchvision's names.
    fn backward(&self, saved: &[Saved], short: Option<&Saved>, d_y: &[f64]) -> (Vec<f64>, BTreeMap<String, Vec<f64>>) {
        let mut grads = BTreeMap::new();
        let (mut g, mut d_r) = (d_y.to_vec(), None);
        for (i, (layer, s)) in self.main.iter().zip(saved).enumerate().rev() {
            let (d_x, r) = layer.backward(s, &g, end(i, self.main.len()), &mut grads);
            g = d_x;
            d_r = d_r.or(r);
        }
        let d_r = d_r.expect("the last layer returns the residual's gradient");
        let d_short = match (&self.shortcut, short) {
            (Some(layer), Some(s)) => layer.backward(s, &d_r, End::Plain, &mut grads).0,
            _ => d_r,
        };
        let mut d_x = vec![0.0; g.len()];
        reference::residual_add(&g, &d_short, &mut d_x);
        (d_x, grads)
    }

    fn layers(&self) -> impl Iterator<Item = &ConvBn> {
        self.main.iter().chain(&self.shortcut)
    }
}

/// Run `case` through the composed block and compare everything PyTorch stored.
fn check_block(case: &str, convs: &[(usize, usize)], projection: bool) {
    let (x, xs) = ours(&format!("{case}.x"));
    let mut block = Block::load(case, [xs[0], xs[2], xs[3], xs[1]], convs, projection);
    let (saved, short) = block.forward(&x);
    assert_rel(&format!("{case} y"), &saved.last().unwrap().y, &load(&format!("{case}.y")), 1e-12);
    let (d_x, grads) = block.backward(&saved, short.as_ref(), &load(&format!("{case}.d_y")));
    assert_rel(&format!("{case} d_x"), &d_x, &load(&format!("{case}.d_x")), 1e-10);

    let want_grads = names(&format!("{case}.grad."));
    assert_eq!(want_grads.len(), grads.len(), "{case}: PyTorch has {want_grads:?}");
    for (name, got) in &grads {
        assert_rel(&format!("{case} grad {name}"), got, &load(&format!("{case}.grad.{name}")), 1e-10);
    }
    let running: Vec<_> = block.layers().flat_map(|l| l.running()).collect();
    assert_eq!(names(&format!("{case}.after.")).len(), running.len(), "{case}: running statistics");
    for (name, got) in running {
        assert_rel(&format!("{case} {name} after"), got, &load(&format!("{case}.after.{name}")), 1e-12);
    }
}

#[test]
fn basic_block_matches_pytorch() {
    check_block("resnet_basic", &[(3, 1), (3, 1)], false);
}

#[test]
fn basic_block_with_projection_shortcut_matches_pytorch() {
    check_block("resnet_basic_down", &[(3, 2), (3, 1)], true);
}

#[test]
fn bottleneck_block_matches_pytorch() {
    check_block("resnet_bottleneck", &[(1, 1), (3, 2), (1, 1)], true);
}
