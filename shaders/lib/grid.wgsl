// Rows x positions grids (src/ops/grid.rs): a workgroup of 256 threads covers a tile of `cw` positions
// (grid x) times `lanes` row lanes; row lane `rl` of block `wg.y` walks `span` consecutive rows. Each
// thread keeps one position `u` for all of its rows, so whatever depends on the position alone (a
// channel's statistics, a column's window) is computed once per thread, never per element.
const GRID_WG: u32 = 256u;

// Position `u`, rows [r0, r1) (empty for idle threads) and row lane `rl` of one thread.
struct GridSpan {
    u: u32,
    r0: u32,
    r1: u32,
    rl: u32,
}

// Every file that includes this one declares its uniform block as `p`, starting with the grid's
// rows, len, cw, lanes and span (src/ops/grid.rs: RowGrid::params).
fn grid_span(t: u32, wg: vec3<u32>) -> GridSpan {
    let rl = t / p.cw;
    let u = wg.x * p.cw + t % p.cw;
    let r0 = (wg.y * p.lanes + rl) * p.span;
    var r1 = min(r0 + p.span, p.rows);
    if rl >= p.lanes || u >= p.len || r0 >= p.rows {
        r1 = r0;
    }
    return GridSpan(u, r0, r1, rl);
}

// Rows that row lane `l` of block `block` walks (0 past the end).
fn grid_lane_rows(block: u32, l: u32, rows: u32, lanes: u32, span: u32) -> u32 {
    let r0 = (block * lanes + l) * span;
    if r0 >= rows {
        return 0u;
    }
    return min(span, rows - r0);
}

// Pixel grids: rows are the pixels of an [N, H, W] map in raster order, tracked as (w, h, n) counters
// that a thread steps as it walks its rows, so no pixel's coordinates need a division.
fn grid_pixel(r: u32, h: u32, w: u32) -> vec3<u32> {
    let nh = r / w;
    return vec3<u32>(r % w, nh % h, nh / h);
}

fn grid_next_pixel(c: vec3<u32>, h: u32, w: u32) -> vec3<u32> {
    var r = c;
    r.x += 1u;
    if r.x == w {
        r.x = 0u;
        r.y += 1u;
        if r.y == h {
            r.y = 0u;
            r.z += 1u;
        }
    }
    return r;
}
