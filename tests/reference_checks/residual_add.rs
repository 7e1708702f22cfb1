use crate::vectors::{assert_rel, load};
use layerwise::reference;

/// y = a + b; PyTorch's gradients d_a and d_b are d_y itself, which is why the add needs no backward kernel.
#[test]
fn residual_add_matches_pytorch() {
    let (a, b, d_y) = (load("residual_add.a"), load("residual_add.b"), load("residual_add.d_y"));
    let mut y = vec![f64::NAN; a.len()];
    reference::residual_add(&a, &b, &mut y);
    assert_rel("residual_add y", &y, &load("residual_add.y"), 1e-15);
    assert_eq!(load("residual_add.d_a"), d_y);
    assert_eq!(load("residual_add.d_b"), d_y);
}
