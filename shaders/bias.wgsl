// Bias broadcast add and its gradient, side by side.
//   forward:  y[i, j] = x[i, j] + bias[j]
//   backward: dbias[j] = Σ_i dy[i, j]      (the column sum over the batch; dx = dy needs no kernel)
// rows = p.dims.x, cols = p.dims.y. Core WGSL has no float atomics, so the column sum is a
// workgroup reduction: 32 columns × 8 row-lanes per workgroup, the 8 partial sums added in
// workgroup memory.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn bias_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i < p.dims.x * p.dims.y) {
        y[i] = x[i] + bias[i % p.dims.y];
    }
}

const LANES: u32 = 8u;
const COLS_PER_GROUP: u32 = 32u;
var<workgroup> partial: array<f32, 256>; // [LANES][COLS_PER_GROUP]

// The column sums of x (here the upstream gradient dy): the bias gradient.
@group(0) @binding(4) var<storage, read_write> col_sums: array<f32>;

@compute @workgroup_size(32, 8)
fn bias_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let rows = p.dims.x;
    let cols = p.dims.y;
    let col = group_index(wid, nwg) * COLS_PER_GROUP + lid.x;
    var sum = 0.0;
    if (col < cols) {
        // Four independent sums, so four loads are in flight at once: a single chain waits out
        // each load's latency in turn (measured on an H100: 16 µs for 512 rows, most of it
        // waiting).
        var s = vec4<f32>(0.0);
        var r = lid.y;
        for (; r + 3u * LANES < rows; r += 4u * LANES) {
            s += vec4<f32>(x[r * cols + col], x[(r + LANES) * cols + col],
                           x[(r + 2u * LANES) * cols + col], x[(r + 3u * LANES) * cols + col]);
        }
        for (; r < rows; r += LANES) {
            s.x += x[r * cols + col];
        }
        sum = (s.x + s.y) + (s.z + s.w);
    }
    partial[lid.y * COLS_PER_GROUP + lid.x] = sum;
    workgroupBarrier();
    if (lid.y == 0u && col < cols) {
        var total = 0.0;
        for (var l = 0u; l < LANES; l++) {
            total += partial[l * COLS_PER_GROUP + lid.x];
        }
        col_sums[col] = total;
    }
}
