//! How the element-wise kernels (batchnorm, pooling, space-to-depth, ReLU, SGD, the input pipeline)
//! cover their data: as a [rows, len] grid, where a row is what shares one set of coordinates (an image
//! row, one NHWC pixel, or a run of a flat tensor) and `len` counts the positions in it (f32 or vec4
//! elements).
//!
//! A workgroup of 256 threads covers `cw` positions of a row (a tile: the x dimension of the grid
//! covers the tiles) times `lanes` row lanes; each row lane walks `span` consecutive rows, so a
//! workgroup owns a block of `lanes * span` rows (the y dimension covers the blocks). Each thread keeps
//! one position for all of its rows: it splits its position into coordinates once and steps its row's
//! coordinates as counters, so an element costs its loads and stores plus a few additions, never an
//! integer division. Consecutive threads hold consecutive positions (channels innermost), so every row
//! is read and written coalesced on GPUs.
//!
//! What CPU drivers taught (Mesa 22.3's lavapipe, which runs 8 invocations as one 8-wide vector):
//! - a per-lane integer division by a non-constant is scalarised and costs about half a memory access;
//! - a load or store whose address differs between lanes runs as a loop over the lanes, and a vec4
//!   access costs little more than an f32 one, so the vec4 variants (`Variants`) move four channels per
//!   access; but only when each vector walks memory in order (a vec4 walk striding a page per step ran
//!   slower than f32), hence rows of one pixel where the layout allows;
//! - the body of an `if` runs (masked) whether or not any lane takes it, while a loop stops when no lane
//!   is left: per-image or per-window work sits in an outer loop around the per-row loop, and rare cases
//!   are handled with selects rather than branches.
//!
//! Sizing: CPU adapters run a workgroup's vectors one after another, each through all of its rows, so
//! long spans (32 rows) amortise each thread's set-up. GPUs want many threads in flight, so their spans
//! are short (2 rows).

use crate::error::{Error, Result};
use crate::gpu::{Define, Gpu, KernelSpec, MAX_GROUPS_PER_DIM};

/// Threads per workgroup of every grid kernel (shaders/lib/grid.wgsl).
pub(crate) const GRID_WG: usize = 256;

/// Rows per row lane on CPU adapters, and the fewest workgroups worth keeping for their cores.
const CPU_SPAN: usize = 32;
const CPU_MIN_GROUPS: usize = 32;
/// Rows per row lane on GPUs.
const GPU_SPAN: usize = 2;

thread_local! {
    static FORCED_SPAN: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    static FORCED_F32: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with every grid kernel it records (on this thread) walking `span` rows per row lane, as far
/// as the rows and block limits allow, instead of the adapter's sizing. Every sizing gives correct
/// results (batchnorm's statistics then add up in another order, so their last bits may differ); tests
/// use this to cover long walks on small shapes (across image boundaries, folds over many rows) and
/// short GPU-like ones on CPU adapters.
pub fn with_grid_span<R>(span: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED_SPAN.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(FORCED_SPAN.with(|s| s.replace(Some(span.max(1)))));
    f()
}

/// Run `f` with every grid kernel it records (on this thread) taking its f32 variant, as on adapters whose
/// storage alignment rules out vec4 bindings. Tests use this to cover the f32 variants where the shapes
/// alone would always pick vec4 (parameter arenas are padded to the alignment).
pub fn with_f32_elements<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED_F32.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(FORCED_F32.with(|s| s.replace(true)));
    f()
}

/// Which sizing a grid gets: the kernels are the same, only the work per thread differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridTarget {
    Cpu,
    Gpu,
}

impl GridTarget {
    pub fn of(gpu: &Gpu) -> GridTarget {
        if gpu.summary.device_type == "Cpu" {
            GridTarget::Cpu
        } else {
            GridTarget::Gpu
        }
    }
}

/// A grid kernel in its two widths, both of one body: f32 elements (any channel count) and vec4 elements
/// (channel counts that are a multiple of 4: four channels per thread, as CPU drivers pay per load, not
/// per float). The body's element type `V` is each variant's one definition.
pub(crate) struct Variants {
    pub f32: KernelSpec,
    pub vec4: KernelSpec,
}

/// `V` of the f32 and the vec4 variants.
pub(crate) const F32_ELEMENTS: &[Define] = &[Define::Type("V", "f32")];
pub(crate) const VEC4_ELEMENTS: &[Define] = &[Define::Type("V", "vec4<f32>")];

/// `Variants` `NAME` and `NAME_vec4` of body `shaders/NAME.wgsl`, with the same bindings.
macro_rules! variants {
    ($name:literal, $bindings:expr) => {
        $crate::ops::grid::Variants {
            f32: $crate::gpu::KernelSpec::variant($name, $name, $crate::ops::grid::F32_ELEMENTS, $bindings),
            vec4: $crate::gpu::KernelSpec::variant(
                concat!($name, "_vec4"),
                $name,
                $crate::ops::grid::VEC4_ELEMENTS,
                $bindings,
            ),
        }
    };
}
pub(crate) use variants;

impl Variants {
    /// The vec4 kernel when every tensor of the dispatch can be viewed as vec4 (see `vec4_fits`).
    pub fn pick(&self, vec4: bool) -> &KernelSpec {
        if vec4 {
            &self.vec4
        } else {
            &self.f32
        }
    }

    pub fn both(&self) -> [&KernelSpec; 2] {
        [&self.f32, &self.vec4]
    }
}

/// Whether tensors whose innermost dimension has `c` floats can be bound as arrays of vec4: `c` a
/// multiple of 4, and every binding offset (a multiple of the storage alignment) 16-byte aligned.
pub(crate) fn vec4_fits(gpu: &Gpu, c: usize) -> bool {
    c % 4 == 0 && gpu.storage_alignment() % 16 == 0 && !FORCED_F32.with(|s| s.get())
}

/// Elements per row of a flat grid: 8, so each 8-wide vector of a CPU driver walks one contiguous stream.
const FLAT_ROW: usize = 8;

/// Mirrors `Params` in shaders/lib/flat.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FlatParams {
    grid: [u32; 5],
    n: u32,
    _pad: [u32; 2],
}

/// Record an element-wise kernel over `len` floats of any shape (shaders/lib/flat.wgsl: rows of
/// `FLAT_ROW` elements), vec4 when every binding allows.
pub(crate) fn record_flat(
    p: &mut crate::gpu::PlanBuilder,
    kernel: &'static Variants,
    len: usize,
    tensors: &[&crate::gpu::Tensor],
) -> Result<()> {
    let vec4 = vec4_fits(p.gpu(), len);
    let n = if vec4 { len / 4 } else { len };
    let row = n.clamp(1, FLAT_ROW);
    let g = RowGrid::new(p.gpu(), n.div_ceil(row), row)?;
    p.dispatch(kernel.pick(vec4), &FlatParams { grid: g.params(), n: n as u32, _pad: [0; 2] }, tensors, g.groups())
}

/// One kernel's cover of a [rows, len] grid (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowGrid {
    pub rows: u32,
    pub len: u32,
    /// Positions per tile (threads per row lane).
    pub cw: u32,
    /// Row lanes per workgroup.
    pub lanes: u32,
    /// Consecutive rows per row lane.
    pub span: u32,
    /// Position tiles (grid x).
    pub tiles: u32,
    /// Row blocks of `lanes * span` rows (grid y).
    pub blocks: u32,
}

impl RowGrid {
    /// The grid for `rows` x `len` on `target`, with at most `max_blocks` row blocks (batchnorm keeps
    /// one partial per block and channel).
    pub fn plan(target: GridTarget, rows: usize, len: usize, max_blocks: usize) -> Result<RowGrid> {
        let len = len.max(1);
        let cw = len.min(GRID_WG);
        let lanes = GRID_WG / cw;
        let tiles = len.div_ceil(cw);
        if tiles > MAX_GROUPS_PER_DIM as usize {
            return Err(Error::gpu(format!(
                "an element-wise kernel's row of {len} elements needs more than {MAX_GROUPS_PER_DIM} workgroups"
            )));
        }
        let rows_per_lane = rows.div_ceil(lanes).max(1);
        let mut span = match FORCED_SPAN.with(|s| s.get()) {
            Some(span) => span.min(rows_per_lane),
            None => match target {
                // Long spans, but not so long that fewer workgroups than cores would be left.
                GridTarget::Cpu => rows_per_lane.div_ceil(CPU_MIN_GROUPS.div_ceil(tiles)).clamp(1, CPU_SPAN),
                GridTarget::Gpu => GPU_SPAN.min(rows_per_lane),
            },
        };
        let max_blocks = max_blocks.clamp(1, MAX_GROUPS_PER_DIM as usize);
        span = span.max(rows_per_lane.div_ceil(max_blocks));
        let blocks = rows.div_ceil(lanes * span).max(1);
        let u = |v: usize| {
            u32::try_from(v).map_err(|_| {
                Error::gpu(format!("an element-wise kernel's grid of {rows} x {len} exceeds u32 indexing"))
            })
        };
        // Row indices reach blocks * lanes * span; element indices rows * len.
        u(blocks * lanes * span)?;
        u(rows * len)?;
        Ok(RowGrid {
            rows: rows as u32,
            len: len as u32,
            cw: cw as u32,
            lanes: lanes as u32,
            span: span as u32,
            tiles: tiles as u32,
            blocks: blocks as u32,
        })
    }

    /// `plan` for the adapter `gpu` runs on, with as many blocks as the grid allows.
    pub fn new(gpu: &Gpu, rows: usize, len: usize) -> Result<RowGrid> {
        RowGrid::plan(GridTarget::of(gpu), rows, len, MAX_GROUPS_PER_DIM as usize)
    }

    pub fn groups(&self) -> [u32; 3] {
        [self.tiles, self.blocks, 1]
    }

    /// The first five fields of every grid kernel's uniform block.
    pub fn params(&self) -> [u32; 5] {
        [self.rows, self.len, self.cw, self.lanes, self.span]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (row, position) is owned by exactly one thread, as shaders/lib/grid.wgsl assigns them.
    fn check_cover(g: &RowGrid) {
        let (rows, len) = (g.rows as usize, g.len as usize);
        let mut owner = vec![0u8; rows * len];
        for tile in 0..g.tiles {
            for block in 0..g.blocks {
                for t in 0..GRID_WG as u32 {
                    let (cl, rl) = (t % g.cw, t / g.cw);
                    let u = tile * g.cw + cl;
                    if rl >= g.lanes || u >= g.len {
                        continue;
                    }
                    let r0 = (block * g.lanes + rl) * g.span;
                    for r in r0..(r0 + g.span).min(g.rows) {
                        owner[r as usize * len + u as usize] += 1;
                    }
                }
            }
        }
        assert!(owner.iter().all(|&o| o == 1), "{g:?} does not cover every element exactly once");
    }

    #[test]
    fn grids_cover_every_element_once() {
        for target in [GridTarget::Cpu, GridTarget::Gpu] {
            for (rows, len, max_blocks) in [
                (1, 1, 65535),
                (7, 3, 65535),
                (3584, 112, 65535),
                (1000, 300, 65535),
                (100352, 4, 1024),
                (5, 600, 2),
                (33, 257, 3),
                (64, 1, 1),
            ] {
                let g = RowGrid::plan(target, rows, len, max_blocks).unwrap();
                assert!(g.blocks as usize <= max_blocks, "{g:?}");
                check_cover(&g);
            }
        }
    }

    #[test]
    fn a_forced_span_is_used_where_the_rows_allow() {
        let g = with_grid_span(7, || RowGrid::plan(GridTarget::Gpu, 1000, 16, 65535).unwrap());
        assert_eq!((g.lanes, g.span), (16, 7));
        check_cover(&g);
        // Capped by the rows per lane and by the block limit; restored afterwards.
        assert_eq!(with_grid_span(100, || RowGrid::plan(GridTarget::Cpu, 64, 16, 65535).unwrap()).span, 4);
        assert_eq!(with_grid_span(1, || RowGrid::plan(GridTarget::Cpu, 1000, 16, 2).unwrap()).span, 32);
        assert_eq!(RowGrid::plan(GridTarget::Gpu, 1000, 16, 65535).unwrap().span, 2);
    }

    #[test]
    fn cpu_grids_take_long_spans_and_gpu_grids_short_ones() {
        let cpu = RowGrid::plan(GridTarget::Cpu, 3584, 112, 65535).unwrap();
        let gpu = RowGrid::plan(GridTarget::Gpu, 3584, 112, 65535).unwrap();
        assert_eq!((cpu.cw, cpu.lanes, cpu.span), (112, 2, 32));
        assert_eq!(gpu.span, 2);
        // Few rows: the CPU span shrinks so that the cores still get workgroups.
        let small = RowGrid::plan(GridTarget::Cpu, 256, 16, 65535).unwrap();
        assert!(small.blocks >= 8, "{small:?}");
    }
}
