//! The DGL MLP-SR auxiliary head as the reference builds it (eugenium/DGL learning_curves/models.py:
//! average to ceil(H/4), n_lin x [1x1 conv, BN2d, ReLU], average to 2x2, flatten, mlp_layers x [linear,
//! BN1d, ReLU], linear) composed from the CPU references, forward and backward, against PyTorch. Names are
//! the layer indices of one nn.Sequential in that order, as layerwise names a head's layers.

use std::collections::BTreeMap;

use crate::compose::{ConvBn, End, Saved};
use crate::vectors::{assert_rel, load, names, ours};
use layerwise::reference::{self, Conv2dGeometry};

/// Linear weight columns from PyTorch's flatten order (c, h, w) to ours (h, w, c), for a [rows, C*H*W]
/// matrix; the same permutation serves its gradient.
fn chw_to_hwc_columns(w: &[f64], c: usize, hw: usize) -> Vec<f64> {
    let cols = c * hw;
    let mut out = vec![0.0; w.len()];
    for (row_out, row_in) in out.chunks_exact_mut(cols).zip(w.chunks_exact(cols)) {
        for ch in 0..c {
            for p in 0..hw {
                row_out[p * c + ch] = row_in[ch * hw + p];
            }
        }
    }
    out
}

/// What the forward keeps for the backward: each layer's saved tensors and the last hidden activation.
struct Pass {
    convs: Vec<Saved>,
    hidden: Vec<Saved>,
    features: Vec<f64>,
}

struct Head {
    case: String,
    n: usize,
    size: usize,
    c: usize,
    convs: Vec<ConvBn>,
    hidden: Vec<ConvBn>,
    /// The output layer: its index, weight [classes, 4C] in our column order, bias.
    out: (usize, Vec<f64>, Vec<f64>),
}

impl Head {
    fn load(case: &str, n_lin: usize, mlp_layers: usize) -> Head {
        let (_, xs) = ours(&format!("{case}.x"));
        let (n, c, size) = (xs[0], xs[1], xs[2]);
        let p = size.div_ceil(4);
        let conv = Conv2dGeometry { n, h: p, w: p, cin: c, cout: c, kh: 1, kw: 1, stride: 1 };
        let convs = (0..n_lin).map(|i| ConvBn::load(case, &(1 + 3 * i).to_string(), &(2 + 3 * i).to_string(), conv));
        // Hidden linear layers are 1x1 convolutions over a 1x1 map; the first reads the flattened 2x2 map.
        let first = 3 + 3 * n_lin;
        let linear = Conv2dGeometry { n, h: 1, w: 1, cin: 4 * c, cout: 4 * c, kh: 1, kw: 1, stride: 1 };
        let mut hidden: Vec<ConvBn> = (0..mlp_layers)
            .map(|l| ConvBn::load(case, &(first + 3 * l).to_string(), &(first + 3 * l + 1).to_string(), linear))
            .collect();
        let last = first + 3 * mlp_layers;
        let mut w_out = load(&format!("{case}.before.{last}.weight"));
        match hidden.first_mut() {
            Some(layer) => layer.w = chw_to_hwc_columns(&layer.w, c, 4),
            None => w_out = chw_to_hwc_columns(&w_out, c, 4),
        }
        let out = (last, w_out, load(&format!("{case}.before.{last}.bias")));
        Head { case: case.to_string(), n, size, c, convs: convs.collect(), hidden, out }
    }

    /// Training forward: what the backward needs, and the logits.
    fn forward(&mut self, x: &[f64]) -> (Pass, Vec<f64>) {
        let (n, c, s, p) = (self.n, self.c, self.size, self.size.div_ceil(4));
        let mut a = vec![0.0; n * p * p * c];
        reference::avgpool2d_forward(x, &mut a, n, s, s, c, p, p);
        let mut convs = Vec::new();
        for layer in &mut self.convs {
            let saved = layer.forward(a, End::Relu, None);
            a = saved.y.clone();
            convs.push(saved);
        }
        // [N, 2, 2, C] is already the flattened [N, 4C] in our (h, w, c) order.
        let mut f = vec![0.0; n * 4 * c];
        reference::avgpool2d_forward(&a, &mut f, n, p, p, c, 2, 2);
        let mut hidden = Vec::new();
        for layer in &mut self.hidden {
            let saved = layer.forward(f, End::Relu, None);
            f = saved.y.clone();
            hidden.push(saved);
        }
        let (_, w, b) = &self.out;
        let classes = b.len();
        let mut y = vec![0.0; n * classes];
        reference::linear_forward(&f, w, Some(b), &mut y, false, n, 4 * c, classes);
        (Pass { convs, hidden, features: f }, y)
    }

    /// Backward from d_y: d_x and every parameter gradient under the Sequential's names, in our layouts.
    fn backward(&self, pass: &Pass, d_y: &[f64]) -> (Vec<f64>, BTreeMap<String, Vec<f64>>) {
        let f = &pass.features;
        let (n, c, s, p) = (self.n, self.c, self.size, self.size.div_ceil(4));
        let (last, w, b) = &self.out;
        let classes = b.len();
        let mut grads = BTreeMap::new();
        let (mut d_w, mut d_b, mut g) = (vec![0.0; w.len()], vec![0.0; classes], vec![0.0; f.len()]);
        reference::linear_backward_weight(f, d_y, &mut d_w, Some(&mut d_b), n, 4 * c, classes);
        reference::linear_backward_input(d_y, w, &mut g, n, 4 * c, classes);
        grads.insert(format!("{last}.weight"), d_w);
        grads.insert(format!("{last}.bias"), d_b);
        for (layer, saved) in self.hidden.iter().zip(&pass.hidden).rev() {
            g = layer.backward(saved, &g, End::Relu, &mut grads).0;
        }
        let mut d_a = vec![0.0; n * p * p * c];
        reference::avgpool2d_backward(&g, &mut d_a, n, p, p, c, 2, 2);
        for (layer, saved) in self.convs.iter().zip(&pass.convs).rev() {
            d_a = layer.backward(saved, &d_a, End::Relu, &mut grads).0;
        }
        let mut d_x = vec![0.0; n * s * s * c];
        reference::avgpool2d_backward(&d_a, &mut d_x, n, s, s, c, p, p);
        (d_x, grads)
    }

    /// PyTorch's tensor `what.name` in our layout (the flattened layer's columns permuted).
    fn want(&self, what: &str, name: &str) -> Vec<f64> {
        let v = load(&format!("{}.{what}.{name}", self.case));
        let flattened = self.hidden.first().map_or(self.out.0.to_string(), |l| l.conv.clone());
        if name == format!("{flattened}.weight") {
            chw_to_hwc_columns(&v, self.c, 4)
        } else {
            v
        }
    }
}

fn check_head(case: &str, n_lin: usize, mlp_layers: usize) {
    let mut head = Head::load(case, n_lin, mlp_layers);
    let (pass, y) = head.forward(&load(&format!("{case}.x")));
    assert_rel(&format!("{case} logits"), &y, &load(&format!("{case}.y")), 1e-12);
    let (d_x, grads) = head.backward(&pass, &load(&format!("{case}.d_y")));
    assert_rel(&format!("{case} d_x"), &d_x, &load(&format!("{case}.d_x")), 1e-10);
    assert_eq!(names(&format!("{case}.grad.")).len(), grads.len(), "{case}: gradients compared");
    for (name, got) in &grads {
        assert_rel(&format!("{case} grad {name}"), got, &head.want("grad", name), 1e-10);
    }
    let running: Vec<_> = head.convs.iter().chain(&head.hidden).flat_map(|l| l.running()).collect();
    assert_eq!(names(&format!("{case}.after.")).len(), running.len(), "{case}: running statistics compared");
    for (name, got) in running {
        assert_rel(&format!("{case} {name} after"), got, &head.want("after", &name), 1e-12);
    }
}

/// Every head but the last: 3 x 1x1 conv at ceil(14/4) = 4 (overlapping 14 -> 4 windows), 3 hidden layers.
#[test]
fn dgl_head_matches_pytorch() {
    check_head("dgl_head", 3, 3);
}

/// The last head: no 1x1 convs, 2 hidden layers; 7 -> 2 averages over overlapping windows.
#[test]
fn dgl_last_head_matches_pytorch() {
    check_head("dgl_head_last", 0, 2);
}
