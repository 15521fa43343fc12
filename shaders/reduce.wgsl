// Reductions and their backward, side by side.
//   row_sum:  y[i] = Σ_j x[i, j]             backward: broadcast (MODE = ROWS)
//   row_max:  y[i] = max_j x[i, j]           backward: dx[i, j] = dy[i] · [x[i, j] == y[i]]
//   sum_all:  y[0] = Σ x                     backward: broadcast (MODE = SCALAR)
//   broadcast: dst[i, j] = src[0] | src[i] | src[j]   (SCALAR | ROWS | COLS, constants generated
//              from Broadcast in src/engine/op.rs)
//   log_softmax: y[i, j] = x[i, j] − ln Σ_k e^x[i, k]   backward: dx = dy − e^y · Σ_k dy[i, k]
//   normalize: y = x̂·gain[j] + bias[j], x̂ = (x − mean) / √(var + eps) over each row (AXIS = 0)
//              or column (AXIS = 1), one workgroup per line;
//              backward: g = dy·gain[j], dx = (g − mean(g) − x̂·mean(g·x̂)) / √(var + eps)
// rows = p.dims.x, cols = p.dims.y (sum_all: n = p.dims.x). Row reductions run one workgroup
// per row, 64 lanes striding the columns, then a tree in workgroup memory.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> y_saved: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read> gain: array<f32>;
@group(0) @binding(7) var<storage, read> bias: array<f32>;

override MODE: u32 = 0u;
override AXIS: u32 = 0u;

const ROW_LANES: u32 = 64u;
var<workgroup> tree: array<f32, 256>;

const NEG_INF: f32 = -3.4028235e38; // lowest finite f32: a row of -inf still reduces to -inf's max

// Tree reduction of tree[0..width) into tree[0], sum or max.
fn reduce_tree(lid: u32, width: u32, is_max: bool) {
    for (var stride = width / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (lid < stride) {
            let o = tree[lid + stride];
            tree[lid] = select(tree[lid] + o, max(tree[lid], o), is_max);
        }
    }
    workgroupBarrier();
}

// The sum or max of row `row` of x, in every lane (the tree's root).
fn row_total(row: u32, lid: u32, is_max: bool) -> f32 {
    let cols = p.dims.y;
    var acc = select(0.0, NEG_INF, is_max);
    if (row < p.dims.x) {
        for (var j = lid; j < cols; j += ROW_LANES) {
            let v = x[row * cols + j];
            acc = select(acc + v, max(acc, v), is_max);
        }
    }
    tree[lid] = acc;
    reduce_tree(lid, ROW_LANES, is_max);
    return tree[0];
}

fn row_reduce(row: u32, lid: u32, is_max: bool) {
    let total = row_total(row, lid, is_max);
    if (lid == 0u && row < p.dims.x) {
        y[row] = total;
    }
}

@compute @workgroup_size(64)
fn row_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    row_reduce(group_index(wid, nwg), lid, false);
}

@compute @workgroup_size(64)
fn row_max(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    row_reduce(group_index(wid, nwg), lid, true);
}

@compute @workgroup_size(256)
fn row_max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i < p.dims.x * p.dims.y) {
        let r = i / p.dims.y;
        dx[i] = select(0.0, dy[r], x[i] == y_saved[r]);
    }
}

// One workgroup sums everything: these sums are losses and small reductions, not hot loops.
@compute @workgroup_size(256)
fn sum_all(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var i = lid; i < p.dims.x; i += 256u) {
        acc += x[i];
    }
    tree[lid] = acc;
    reduce_tree(lid, 256u, false);
    if (lid == 0u) {
        y[0] = tree[0];
    }
}

@compute @workgroup_size(256)
fn broadcast(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    let cols = p.dims.y;
    if (i < p.dims.x * cols) {
        var src = 0u;
        if (MODE == ROWS) {
            src = i / cols;
        } else if (MODE == COLS) {
            src = i % cols;
        }
        dx[i] = x[src];
    }
}

// ln Σ e^x of each row, the max taken out first so exp() stays finite for logits of ±1e4.
@compute @workgroup_size(64)
fn log_softmax_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    let cols = p.dims.y;
    let m = row_total(row, lid, true);
    workgroupBarrier(); // every lane has read the max before the tree is reused
    var s = 0.0;
    if (row < p.dims.x) {
        for (var j = lid; j < cols; j += ROW_LANES) {
            s += exp(x[row * cols + j] - m);
        }
    }
    tree[lid] = s;
    reduce_tree(lid, ROW_LANES, false);
    let lse = m + log(tree[0]);
    if (row < p.dims.x) {
        for (var j = lid; j < cols; j += ROW_LANES) {
            y[row * cols + j] = x[row * cols + j] - lse;
        }
    }
}

// dx = dy − softmax · Σ dy, with softmax = e^y read off the forward's output.
@compute @workgroup_size(64)
fn log_softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    let cols = p.dims.y;
    var s = 0.0;
    if (row < p.dims.x) {
        for (var j = lid; j < cols; j += ROW_LANES) {
            s += dy[row * cols + j];
        }
    }
    tree[lid] = s;
    reduce_tree(lid, ROW_LANES, false);
    let total = tree[0];
    if (row < p.dims.x) {
        for (var j = lid; j < cols; j += ROW_LANES) {
            let i = row * cols + j;
            dx[i] = dy[i] - exp(y_saved[i]) * total;
        }
    }
}

// Line `l` of a normalisation: its first element, the stride between its elements, their count.
struct Line {
    first: u32,
    stride: u32,
    len: u32,
}

fn line_of(l: u32) -> Line {
    if (AXIS == 0u) {
        return Line(l * p.dims.y, 1u, p.dims.y);
    }
    return Line(l, p.dims.y, p.dims.x);
}

fn line_count() -> u32 {
    return select(p.dims.y, p.dims.x, AXIS == 0u);
}

// The workgroup's sum of each lane's `v`, in every lane.
fn lanes_sum(lid: u32, v: f32) -> f32 {
    workgroupBarrier(); // every lane has read the previous sum before the tree is reused
    tree[lid] = v;
    reduce_tree(lid, ROW_LANES, false);
    return tree[0];
}

// The mean and 1/√(var + eps) of line `ln` of x (two passes: no cancellation).
fn line_stats(ln: Line, live: bool, lid: u32) -> vec2<f32> {
    var s = 0.0;
    if (live) {
        for (var k = lid; k < ln.len; k += ROW_LANES) {
            s += x[ln.first + k * ln.stride];
        }
    }
    let mean = lanes_sum(lid, s) / f32(ln.len);
    var q = 0.0;
    if (live) {
        for (var k = lid; k < ln.len; k += ROW_LANES) {
            let d = x[ln.first + k * ln.stride] - mean;
            q += d * d;
        }
    }
    let variance = lanes_sum(lid, q) / f32(ln.len);
    return vec2<f32>(mean, inverseSqrt(variance + p.s0.x));
}

@compute @workgroup_size(64)
fn normalize_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let l = group_index(wid, nwg);
    let live = l < line_count();
    let ln = line_of(l);
    let st = line_stats(ln, live, lid);
    if (live) {
        for (var k = lid; k < ln.len; k += ROW_LANES) {
            let i = ln.first + k * ln.stride;
            let j = i % p.dims.y;
            y[i] = (x[i] - st.x) * st.y * gain[j] + bias[j];
        }
    }
}

@compute @workgroup_size(64)
fn normalize_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let l = group_index(wid, nwg);
    let live = l < line_count();
    let ln = line_of(l);
    let st = line_stats(ln, live, lid);
    var g = 0.0;
    var gx = 0.0;
    if (live) {
        for (var k = lid; k < ln.len; k += ROW_LANES) {
            let i = ln.first + k * ln.stride;
            let gi = dy[i] * gain[i % p.dims.y];
            g += gi;
            gx += gi * (x[i] - st.x) * st.y;
        }
    }
    let mean_g = lanes_sum(lid, g) / f32(ln.len);
    let mean_gx = lanes_sum(lid, gx) / f32(ln.len);
    if (live) {
        for (var k = lid; k < ln.len; k += ROW_LANES) {
            let i = ln.first + k * ln.stride;
            let gi = dy[i] * gain[i % p.dims.y];
            dx[i] = (gi - mean_g - (x[i] - st.x) * st.y * mean_gx) * st.y;
        }
    }
}
