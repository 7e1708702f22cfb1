//! CPU mirror of the residual add: a ResNet block's shortcut joins its main path, y = a + b. The same op
//! serves the backward pass, where the block input's gradient is the sum of what both paths send back
//! (d_x = d_x_main + d_x_shortcut); the add's own backward is the identity (d_a = d_b = d_y), no kernel.
//! Where a batchnorm and a ReLU surround the add, `batchnorm_add_relu` fuses all three.

/// y = a + b, element by element; any shape (all three the same length).
pub fn residual_add(a: &[f64], b: &[f64], y: &mut [f64]) {
    assert!(a.len() == b.len() && b.len() == y.len(), "residual_add: lengths {}, {}, {}", a.len(), b.len(), y.len());
    for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
        *y = a + b;
    }
}
