//! Layers of whole blocks composed from the CPU references, forward and backward, with PyTorch's parameter
//! names: what the block checks (ResNet blocks, the DGL head) are built from.

use std::collections::BTreeMap;

use crate::vectors::load;
use layerwise::reference::{self, Conv2dGeometry};

/// How a `ConvBn` ends: batchnorm then ReLU, batchnorm alone, or relu(batchnorm + residual).
#[derive(Clone, Copy, PartialEq)]
pub enum End {
    Relu,
    Plain,
    AddRelu,
}

/// A convolution without bias then a batchnorm in training mode (a linear layer is a 1x1 convolution over
/// a 1x1 map), its tensors loaded from case `case` under PyTorch's names `conv` and `bn`.
pub struct ConvBn {
    pub conv: String,
    pub bn: String,
    pub s: Conv2dGeometry,
    pub w: Vec<f64>,
    pub gamma: Vec<f64>,
    pub beta: Vec<f64>,
    pub running_mean: Vec<f64>,
    pub running_var: Vec<f64>,
}

/// What a forward keeps for the backward: input, convolution output, batch statistics, output.
pub struct Saved {
    pub x: Vec<f64>,
    z: Vec<f64>,
    mean: Vec<f64>,
    invstd: Vec<f64>,
    pub y: Vec<f64>,
}

impl ConvBn {
    /// The layer `conv` + `bn` of `case`'s "before" tensors; `w` in our layout [Cout, KH, KW, Cin].
    pub fn load(case: &str, conv: &str, bn: &str, s: Conv2dGeometry) -> ConvBn {
        let get = |name: String| load(&format!("{case}.before.{name}"));
        ConvBn {
            w: get(format!("{conv}.weight")),
            gamma: get(format!("{bn}.weight")),
            beta: get(format!("{bn}.bias")),
            running_mean: get(format!("{bn}.running_mean")),
            running_var: get(format!("{bn}.running_var")),
            conv: conv.to_string(),
            bn: bn.to_string(),
            s,
        }
    }

    /// Training forward on x [N, H, W, Cin]; `r` is the residual added when `end` is `AddRelu`. Updates
    /// the running statistics.
    pub fn forward(&mut self, x: Vec<f64>, end: End, r: Option<&[f64]>) -> Saved {
        let c = self.s.cout;
        let mut z = vec![0.0; self.s.y_len()];
        reference::conv2d_forward(&x, &self.w, None, &mut z, false, &self.s);
        let (mut mean, mut invstd, mut y) = (vec![0.0; c], vec![0.0; c], vec![0.0; z.len()]);
        let (g, b, rm, rv) = (&self.gamma, &self.beta, &mut self.running_mean, &mut self.running_var);
        if end == End::AddRelu {
            let r = r.expect("AddRelu needs the residual");
            reference::batchnorm_add_relu_forward_train(&z, r, g, b, rm, rv, &mut mean, &mut invstd, &mut y);
        } else {
            reference::batchnorm_forward_train(&z, g, b, rm, rv, &mut mean, &mut invstd, &mut y, end == End::Relu);
        }
        Saved { x, z, mean, invstd, y }
    }

    /// Backward from d_y: records the weight, gamma and beta gradients in `grads` under PyTorch's names and
    /// returns (d_x, d_r), d_r only for `AddRelu`.
    pub fn backward(
        &self,
        saved: &Saved,
        d_y: &[f64],
        end: End,
        grads: &mut BTreeMap<String, Vec<f64>>,
    ) -> (Vec<f64>, Option<Vec<f64>>) {
        let c = self.s.cout;
        let (mut d_z, mut d_gamma, mut d_beta) = (vec![0.0; saved.z.len()], vec![0.0; c], vec![0.0; c]);
        let (z, y, g, m, s) = (&saved.z, &saved.y, &self.gamma, &saved.mean, &saved.invstd);
        let d_r = if end == End::AddRelu {
            let mut d_r = vec![0.0; z.len()];
            reference::batchnorm_add_relu_backward(z, y, d_y, g, m, s, &mut d_z, &mut d_r, &mut d_gamma, &mut d_beta);
            Some(d_r)
        } else {
            reference::batchnorm_backward(z, y, d_y, g, m, s, &mut d_z, &mut d_gamma, &mut d_beta, end == End::Relu);
            None
        };
        let mut d_w = vec![0.0; self.s.w_len()];
        reference::conv2d_backward_weight(&saved.x, &d_z, &mut d_w, None, &self.s);
        let mut d_x = vec![0.0; self.s.x_len()];
        reference::conv2d_backward_input(&d_z, &self.w, &mut d_x, &self.s);
        grads.insert(format!("{}.weight", self.conv), d_w);
        grads.insert(format!("{}.weight", self.bn), d_gamma);
        grads.insert(format!("{}.bias", self.bn), d_beta);
        (d_x, d_r)
    }

    /// The running statistics under PyTorch's names.
    pub fn running(&self) -> [(String, &[f64]); 2] {
        [
            (format!("{}.running_mean", self.bn), &self.running_mean[..]),
            (format!("{}.running_var", self.bn), &self.running_var[..]),
        ]
    }
}
