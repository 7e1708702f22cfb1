//! Our tensor layouts against PyTorch's: conv weights [o, kh, kw, i] here, [o, i, kh, kw] there; a
//! linear layer after a flatten reads (h, w, c) here, (c, h, w) there.

use crate::model::{BlockSpec, Layer, Shape};

/// Every (PyTorch index, our index) pair of the tensor of layer `li` in `spec` whose shape in our
/// layout is `shape`, when the two layouts differ (conv weights: ours [o, kh, kw, i], PyTorch's
/// [o, i, kh, kw], whatever layer holds them: a conv layer or a residual block; a linear layer after
/// a flatten: ours reads (h, w, c), PyTorch (c, h, w)); false when they are the same. Integer indices: exact for tensors of any size.
fn layout_pairs(spec: &BlockSpec, li: usize, shape: &[usize], mut pair: impl FnMut(usize, usize)) -> bool {
    match (spec.layers[li], shape.len()) {
        (_, 4) => {
            let (o, kh, kw, i) = (shape[0], shape[1], shape[2], shape[3]);
            for a in 0..o {
                for b in 0..kh {
                    for c in 0..kw {
                        for d in 0..i {
                            pair(((a * i + d) * kh + b) * kw + c, ((a * kh + b) * kw + c) * i + d);
                        }
                    }
                }
            }
            true
        }
        (Layer::Linear { .. }, 2) => match flatten_source(spec, li) {
            Some((h, w, c)) => {
                let (o, f) = (shape[0], shape[1]);
                for a in 0..o {
                    for y in 0..h {
                        for x in 0..w {
                            for ch in 0..c {
                                pair(a * f + (ch * h + y) * w + x, a * f + (y * w + x) * c + ch);
                            }
                        }
                    }
                }
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// The PyTorch shape of a tensor of layer `li` whose shape in our layout is `shape`.
pub(super) fn torch_shape(spec: &BlockSpec, li: usize, shape: &[usize]) -> Vec<usize> {
    match (spec.layers[li], shape.len()) {
        (_, 4) => vec![shape[0], shape[3], shape[1], shape[2]],
        _ => shape.to_vec(),
    }
}

/// Our layout -> PyTorch's, for the tensor of layer `li` in `spec` (`shape` in our layout): the PyTorch
/// shape and values.
pub fn to_torch(spec: &BlockSpec, li: usize, ours: &[f32], shape: &[usize]) -> (Vec<usize>, Vec<f32>) {
    let mut out = vec![0f32; ours.len()];
    if !layout_pairs(spec, li, shape, |t, o| out[t] = ours[o]) {
        out.copy_from_slice(ours);
    }
    (torch_shape(spec, li, shape), out)
}

/// PyTorch's layout -> ours (the inverse of `to_torch`).
pub fn from_torch(spec: &BlockSpec, li: usize, torch: &[f32], shape: &[usize]) -> Vec<f32> {
    let mut ours = vec![0f32; torch.len()];
    if !layout_pairs(spec, li, shape, |t, o| ours[o] = torch[t]) {
        ours.copy_from_slice(torch);
    }
    ours
}

/// The (h, w, c) map a linear layer's input was flattened from, if it follows a Flatten.
fn flatten_source(spec: &BlockSpec, li: usize) -> Option<(usize, usize, usize)> {
    if li == 0 || spec.layers[li - 1] != Layer::Flatten {
        return None;
    }
    match spec.input_of(li - 1) {
        Shape::Map { h, w, c } => Some((h, w, c)),
        Shape::Flat(_) => None,
    }
}
