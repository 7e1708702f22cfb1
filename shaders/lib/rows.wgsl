// Row-wise reductions over a [rows, K] matrix by teams: a workgroup of WG threads is split into WG/T
// teams of T threads (T a power of two the host picks from K: src/ops/mod.rs row_team), each team
// reducing one row through workgroup memory in a fixed tree order, so results never depend on scheduling.
// Every function here contains barriers: call it from workgroup-uniform control flow, with a
// workgroup-uniform `team` (a uniform parameter), even from threads whose row does not exist.

// Threads per workgroup of every kernel that includes this file (@workgroup_size(256)).
const WG: u32 = 256u;

var<workgroup> team_f: array<f32, WG>;
var<workgroup> team_u: array<u32, WG>;

// Largest finite f32: the identity for max that stays finite through exp(x - m).
const F32_LOWEST: f32 = -3.40282347e38;

fn team_max(v: f32, lid: u32, team: u32) -> f32 {
    team_f[lid] = v;
    workgroupBarrier();
    let lane = lid % team;
    for (var s = team / 2u; s > 0u; s = s / 2u) {
        if lane < s {
            team_f[lid] = max(team_f[lid], team_f[lid + s]);
        }
        workgroupBarrier();
    }
    let r = team_f[lid - lane];
    // The next call overwrites team_f: everyone must have read the result first.
    workgroupBarrier();
    return r;
}

fn team_sum(v: f32, lid: u32, team: u32) -> f32 {
    team_f[lid] = v;
    workgroupBarrier();
    let lane = lid % team;
    for (var s = team / 2u; s > 0u; s = s / 2u) {
        if lane < s {
            team_f[lid] = team_f[lid] + team_f[lid + s];
        }
        workgroupBarrier();
    }
    let r = team_f[lid - lane];
    workgroupBarrier();
    return r;
}

fn team_sum_u32(v: u32, lid: u32, team: u32) -> u32 {
    team_u[lid] = v;
    workgroupBarrier();
    let lane = lid % team;
    for (var s = team / 2u; s > 0u; s = s / 2u) {
        if lane < s {
            team_u[lid] = team_u[lid] + team_u[lid + s];
        }
        workgroupBarrier();
    }
    let r = team_u[lid - lane];
    workgroupBarrier();
    return r;
}
