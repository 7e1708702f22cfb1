//! The residual add where no batchnorm precedes it to fuse with (`batchnorm_add_relu` does the blocks' own
//! ends): y = a + b over any shape. The backward passes use it to sum the gradients a block input gets from
//! its two paths (d_x = d_x_main + d_x_shortcut). A row grid (`grid::RowGrid`) of the flat data, in f32 and
//! vec4 (length % 4 == 0) variants.

use super::grid::{record_flat, variants, Variants};
use crate::error::Result;
use crate::gpu::{Access, KernelSpec, PlanBuilder, Tensor};

pub(crate) static RESIDUAL_ADD: Variants = variants!("residual_add", &[Access::Read, Access::Read, Access::ReadWrite]);

/// Every residual-add kernel spec, for `ops::all_kernels()`.
pub(crate) fn kernels() -> impl Iterator<Item = &'static KernelSpec> {
    RESIDUAL_ADD.both().into_iter()
}

/// y = a + b; a, b, y of one length, any shape.
pub fn residual_add(p: &mut PlanBuilder, a: &Tensor, b: &Tensor, y: &Tensor) -> Result<()> {
    assert!(a.len() == b.len() && b.len() == y.len(), "residual_add: {a:?} + {b:?} -> {y:?}");
    record_flat(p, &RESIDUAL_ADD, y.len(), &[a, b, y])
}
