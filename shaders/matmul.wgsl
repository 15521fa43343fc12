// Tiled matrix products with transpose flags and a fused epilogue, for GPUs.
//   c[m, n] = f(op(a)·op(b) + bias)            (*_bias: a linear layer and its activation f)
//   c[m, n] = op(a)·op(b) · f'(act_x, act_y)   (*_grad: the gradient flowing into activation f)
//   op(a) is a [m, k] matrix stored as is, or (TA) stored [k, m] and read transposed;
//   op(b) is a [k, n] matrix stored as is, or (TB) stored [n, k] and read transposed.
// So the seeds' dW = dD·Xᵀ and dX = Wᵀ·dD run without materialising a transpose.
// m = p.dims.x, n = p.dims.y, k = p.dims.z; any sizes (tiles are masked at the edges).
//
// Two tile sizes: 64×64 (4×4 of C per invocation) for small products, 128×128 (8×8) for big
// ones. Each step along k stages a slice of op(a) and op(b) in workgroup memory, k-major, so an
// invocation reads whole vec4s of both (the next slice's global loads are issued before this
// slice's products, so their latency hides behind the arithmetic), and keeps its block of C in named vec4 registers: naga
// writes WGSL loops as loops drivers do not unroll, and an accumulator array indexed in one
// lives in slow local memory (measured on an H100: 100× slower than these registers).

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> partials: array<f32>;
@group(0) @binding(6) var<storage, read> act_x: array<f32>;
@group(0) @binding(7) var<storage, read> act_y: array<f32>;

override TA: bool = false;
override TB: bool = false;
// The activation of the *_bias and *_grad epilogues: a UnaryOp code (unary_math.wgsl), its
// constant in p.s0.x. IDENTITY (0) is a plain bias add. The *_grad entry points read the
// activation's input and output (act_x, act_y: [m, n]); separate entry points, so the others
// bind neither.
override ACT: u32 = 0u;

// Element (i, kk) of op(a), which must lie inside the matrix.
fn a_in(i: u32, kk: u32) -> f32 {
    if (TA) {
        return a[kk * p.dims.x + i];
    }
    return a[i * p.dims.z + kk];
}

// Element (kk, j) of op(b), which must lie inside the matrix.
fn b_in(kk: u32, j: u32) -> f32 {
    if (TB) {
        return b[j * p.dims.z + kk];
    }
    return b[kk * p.dims.y + j];
}

// Element (i, kk) of op(a), 0 outside the matrix or past `k_end` (the end of a k slice).
fn a_at(i: u32, kk: u32, k_end: u32) -> f32 {
    if (i >= p.dims.x || kk >= k_end) {
        return 0.0;
    }
    return a_in(i, kk);
}

// Element (kk, j) of op(b), 0 outside the matrix or past `k_end`.
fn b_at(kk: u32, j: u32, k_end: u32) -> f32 {
    if (kk >= k_end || j >= p.dims.y) {
        return 0.0;
    }
    return b_in(kk, j);
}

// Which element of a `rows`×`depth` tile staging step `e` (0..rows·depth) loads: consecutive
// steps walk the stored matrix along its rows, `(row of the tile, step along k)`.
fn tile_a_element(e: u32, rows: u32, depth: u32) -> vec2<u32> {
    if (TA) {
        return vec2<u32>(e % rows, e / rows);
    }
    return vec2<u32>(e / depth, e % depth);
}

fn tile_b_element(e: u32, cols: u32, depth: u32) -> vec2<u32> {
    if (TB) {
        return vec2<u32>(e / depth, e % depth);
    }
    return vec2<u32>(e % cols, e / cols);
}

// The four elements of a `rows`×`depth` slice of op(a) from (row0, k0) that invocation t stages
// (steps t·4 .. t·4+3), and the same of op(b) from (k0, col0). Zeros outside the matrix or past
// `k_end`, so fetching the slice after the last one is harmless. A slice wholly inside (the
// same answer for the whole workgroup, so no divergence) skips the per-element checks.
fn fetch_a(row0: u32, k0: u32, t: u32, rows: u32, depth: u32, k_end: u32) -> vec4<f32> {
    let e0 = tile_a_element(t * 4u, rows, depth);
    let e1 = tile_a_element(t * 4u + 1u, rows, depth);
    let e2 = tile_a_element(t * 4u + 2u, rows, depth);
    let e3 = tile_a_element(t * 4u + 3u, rows, depth);
    if (row0 + rows <= p.dims.x && k0 + depth <= k_end) {
        return vec4<f32>(
            a_in(row0 + e0.x, k0 + e0.y),
            a_in(row0 + e1.x, k0 + e1.y),
            a_in(row0 + e2.x, k0 + e2.y),
            a_in(row0 + e3.x, k0 + e3.y),
        );
    }
    return vec4<f32>(
        a_at(row0 + e0.x, k0 + e0.y, k_end),
        a_at(row0 + e1.x, k0 + e1.y, k_end),
        a_at(row0 + e2.x, k0 + e2.y, k_end),
        a_at(row0 + e3.x, k0 + e3.y, k_end),
    );
}

fn fetch_b(col0: u32, k0: u32, t: u32, cols: u32, depth: u32, k_end: u32) -> vec4<f32> {
    let e0 = tile_b_element(t * 4u, cols, depth);
    let e1 = tile_b_element(t * 4u + 1u, cols, depth);
    let e2 = tile_b_element(t * 4u + 2u, cols, depth);
    let e3 = tile_b_element(t * 4u + 3u, cols, depth);
    if (col0 + cols <= p.dims.y && k0 + depth <= k_end) {
        return vec4<f32>(
            b_in(k0 + e0.y, col0 + e0.x),
            b_in(k0 + e1.y, col0 + e1.x),
            b_in(k0 + e2.y, col0 + e2.x),
            b_in(k0 + e3.y, col0 + e3.x),
        );
    }
    return vec4<f32>(
        b_at(k0 + e0.y, col0 + e0.x, k_end),
        b_at(k0 + e1.y, col0 + e1.x, k_end),
        b_at(k0 + e2.y, col0 + e2.x, k_end),
        b_at(k0 + e3.y, col0 + e3.x, k_end),
    );
}

// The bias of columns j..j+4 (0 past the edge). Only the *_bias entry points call it, so the
// others do not bind a bias buffer.
fn bias4(j: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        if (j + q < p.dims.y) {
            v[q] = bias[j + q];
        }
    }
    return v;
}

// Writes up to four results of row i from column j on, at `base` + the row-major offset:
// v + add, then the activation if `act`.
fn store4(base: u32, i: u32, j: u32, v: vec4<f32>, add: vec4<f32>, act: bool) {
    if (i >= p.dims.x) {
        return;
    }
    var o = v + add;
    if (act) {
        o = unary_f(ACT, o, p.s0.x);
    }
    for (var q = 0u; q < 4u; q++) {
        if (j + q < p.dims.y) {
            c[base + i * p.dims.y + j + q] = o[q];
        }
    }
}

// v times the activation's derivative at (i, j..j+4), from its input and output there (0 past
// the edges, where nothing is stored). A product, as `dy · f'(x, y)` is on the CPU.
// Only the *_grad entry points call it, each on every register of its tile, rather than
// `store4` taking it as an epilogue mode: an entry point binds `act_x` and `act_y` only if its
// code reaches them, and every entry point reaches `store4`.
fn activation_grad(i: u32, j: u32, v: vec4<f32>) -> vec4<f32> {
    var xs = vec4<f32>(0.0);
    var ys = vec4<f32>(0.0);
    var inside = vec4<f32>(0.0);
    if (i < p.dims.x) {
        for (var q = 0u; q < 4u; q++) {
            if (j + q < p.dims.y) {
                xs[q] = act_x[i * p.dims.y + j + q];
                ys[q] = act_y[i * p.dims.y + j + q];
                inside[q] = 1.0;
            }
        }
    }
    return select(vec4<f32>(0.0), v * unary_df(ACT, xs, ys, p.s0.x), inside > vec4<f32>(0.0));
}

// ---- The staged slices, for both tile sizes: 64 rows × 16 along k, or 128 rows × 8 --------

// Two buffers of each: a slice is multiplied from one while the next is stored in the other.
// [2 buffers][depth along k][tile rows (or columns) / 4]; 256 vec4s a buffer either way.
var<workgroup> a_tile: array<vec4<f32>, 512>;
var<workgroup> b_tile: array<vec4<f32>, 512>;

// Stores staging step e's element of op(a) and of op(b) in the buffer starting at `buffer`,
// k-major, for a `tile`-wide, `depth`-deep slice.
fn put(buffer: u32, e: u32, tile: u32, depth: u32, x: f32, y: f32) {
    let ea = tile_a_element(e, tile, depth);
    a_tile[buffer + ea.y * (tile / 4u) + ea.x / 4u][ea.x % 4u] = x;
    let eb = tile_b_element(e, tile, depth);
    b_tile[buffer + eb.y * (tile / 4u) + eb.x / 4u][eb.x % 4u] = y;
}

// Invocation t's four staging steps of a slice (its fetch_a and fetch_b values).
fn stage(buffer: u32, t: u32, tile: u32, depth: u32, a4: vec4<f32>, b4: vec4<f32>) {
    put(buffer, t * 4u, tile, depth, a4.x, b4.x);
    put(buffer, t * 4u + 1u, tile, depth, a4.y, b4.y);
    put(buffer, t * 4u + 2u, tile, depth, a4.z, b4.z);
    put(buffer, t * 4u + 3u, tile, depth, a4.w, b4.w);
}

// ---- 64×64 tiles, 16×16 invocations, a 4×4 block each (rows ty·4.., columns tx·4..) --------

struct Small {
    r0: vec4<f32>,
    r1: vec4<f32>,
    r2: vec4<f32>,
    r3: vec4<f32>,
}

// The block of op(a)·op(b) over k in [k_begin, k_end).
fn small_product(wid: vec3<u32>, lid: vec3<u32>, k_begin: u32, k_end: u32) -> Small {
    let row0 = wid.y * 64u;
    let col0 = wid.x * 64u;
    let t = lid.y * 16u + lid.x;
    var acc: Small;
    // Double buffered: the next slice's global loads are in flight while this one is
    // multiplied, then stored in the other workgroup buffer, so one barrier per slice suffices
    // (the buffer written was last read before the previous barrier).
    stage(0u, t, 64u, 16u, fetch_a(row0, k_begin, t, 64u, 16u, k_end), fetch_b(col0, k_begin, t, 64u, 16u, k_end));
    workgroupBarrier();
    var current = 0u;
    for (var k0 = k_begin; k0 < k_end; k0 += 16u) {
        let next_a = fetch_a(row0, k0 + 16u, t, 64u, 16u, k_end);
        let next_b = fetch_b(col0, k0 + 16u, t, 64u, 16u, k_end);
        for (var kk = 0u; kk < 16u; kk++) {
            let av = a_tile[current + kk * 16u + lid.y];
            let bv = b_tile[current + kk * 16u + lid.x];
            acc.r0 = fma(vec4<f32>(av.x), bv, acc.r0);
            acc.r1 = fma(vec4<f32>(av.y), bv, acc.r1);
            acc.r2 = fma(vec4<f32>(av.z), bv, acc.r2);
            acc.r3 = fma(vec4<f32>(av.w), bv, acc.r3);
        }
        current = 256u - current;
        stage(current, t, 64u, 16u, next_a, next_b);
        workgroupBarrier();
    }
    return acc;
}

fn small_column(wid: vec3<u32>, lid: vec3<u32>) -> u32 {
    return wid.x * 64u + lid.x * 4u;
}

fn small_store(base: u32, wid: vec3<u32>, lid: vec3<u32>, acc: Small, add: vec4<f32>, act: bool) {
    let i = wid.y * 64u + lid.y * 4u;
    let j = small_column(wid, lid);
    store4(base, i, j, acc.r0, add, act);
    store4(base, i + 1u, j, acc.r1, add, act);
    store4(base, i + 2u, j, acc.r2, add, act);
    store4(base, i + 3u, j, acc.r3, add, act);
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    small_store(0u, wid, lid, small_product(wid, lid, 0u, p.dims.z), vec4<f32>(0.0), false);
}

@compute @workgroup_size(16, 16)
fn matmul_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = small_product(wid, lid, 0u, p.dims.z);
    small_store(0u, wid, lid, acc, bias4(small_column(wid, lid)), true);
}

@compute @workgroup_size(16, 16)
fn matmul_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = small_product(wid, lid, 0u, p.dims.z);
    let i = wid.y * 64u + lid.y * 4u;
    let j = small_column(wid, lid);
    acc.r0 = activation_grad(i, j, acc.r0);
    acc.r1 = activation_grad(i + 1u, j, acc.r1);
    acc.r2 = activation_grad(i + 2u, j, acc.r2);
    acc.r3 = activation_grad(i + 3u, j, acc.r3);
    small_store(0u, wid, lid, acc, vec4<f32>(0.0), false);
}

// ---- Split k, for products whose few tiles would leave most of a big GPU idle --------------
// matmul_split: workgroup z of p.dims.w multiplies slice z of k (a whole number of 16-steps)
// and writes its partial product to slab z of `c` (a scratch buffer of p.dims.w slabs of m×n);
// split_reduce then adds the slabs up into the real `c`, with the epilogue.

fn split_chunk() -> u32 {
    let slices = max(p.dims.w, 1u);
    return ((p.dims.z + slices - 1u) / slices + 15u) / 16u * 16u;
}

@compute @workgroup_size(16, 16)
fn matmul_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let k_begin = wid.z * split_chunk();
    let k_end = min(k_begin + split_chunk(), p.dims.z);
    let acc = small_product(wid, lid, k_begin, k_end);
    small_store(wid.z * p.dims.x * p.dims.y, wid, lid, acc, vec4<f32>(0.0), false);
}

fn split_sum(i: u32) -> f32 {
    let slab = p.dims.x * p.dims.y;
    var s = 0.0;
    for (var z = 0u; z < p.dims.w; z++) {
        s += partials[z * slab + i];
    }
    return s;
}

@compute @workgroup_size(256)
fn split_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i < p.dims.x * p.dims.y) {
        c[i] = split_sum(i);
    }
}

@compute @workgroup_size(256)
fn split_reduce_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i < p.dims.x * p.dims.y) {
        c[i] = unary_f(ACT, vec4<f32>(split_sum(i) + bias[i % p.dims.y]), p.s0.x).x;
    }
}

@compute @workgroup_size(256)
fn split_reduce_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i < p.dims.x * p.dims.y) {
        c[i] = (vec4<f32>(split_sum(i)) * unary_df(ACT, vec4<f32>(act_x[i]), vec4<f32>(act_y[i]), p.s0.x)).x;
    }
}

// ---- 128×128 tiles, 16×16 invocations, an 8×8 block each: rows ty·4.. and 64 + ty·4..,
// columns tx·4.. and 64 + tx·4.., so neighbouring invocations read neighbouring vec4s -------

// Row r of the block (r0..r3 from ty·4, r4..r7 from 64 + ty·4), column groups g0 and g1.
struct Large {
    r0g0: vec4<f32>,
    r0g1: vec4<f32>,
    r1g0: vec4<f32>,
    r1g1: vec4<f32>,
    r2g0: vec4<f32>,
    r2g1: vec4<f32>,
    r3g0: vec4<f32>,
    r3g1: vec4<f32>,
    r4g0: vec4<f32>,
    r4g1: vec4<f32>,
    r5g0: vec4<f32>,
    r5g1: vec4<f32>,
    r6g0: vec4<f32>,
    r6g1: vec4<f32>,
    r7g0: vec4<f32>,
    r7g1: vec4<f32>,
}

fn large_product(wid: vec3<u32>, lid: vec3<u32>) -> Large {
    let row0 = wid.y * 128u;
    let col0 = wid.x * 128u;
    let t = lid.y * 16u + lid.x;
    var acc: Large;
    stage(0u, t, 128u, 8u, fetch_a(row0, 0u, t, 128u, 8u, p.dims.z), fetch_b(col0, 0u, t, 128u, 8u, p.dims.z));
    workgroupBarrier();
    var current = 0u;
    for (var k0 = 0u; k0 < p.dims.z; k0 += 8u) {
        let next_a = fetch_a(row0, k0 + 8u, t, 128u, 8u, p.dims.z);
        let next_b = fetch_b(col0, k0 + 8u, t, 128u, 8u, p.dims.z);
        for (var kk = 0u; kk < 8u; kk++) {
            let a0 = a_tile[current + kk * 32u + lid.y];
            let a1 = a_tile[current + kk * 32u + 16u + lid.y];
            let b0 = b_tile[current + kk * 32u + lid.x];
            let b1 = b_tile[current + kk * 32u + 16u + lid.x];
            acc.r0g0 = fma(vec4<f32>(a0.x), b0, acc.r0g0);
            acc.r0g1 = fma(vec4<f32>(a0.x), b1, acc.r0g1);
            acc.r1g0 = fma(vec4<f32>(a0.y), b0, acc.r1g0);
            acc.r1g1 = fma(vec4<f32>(a0.y), b1, acc.r1g1);
            acc.r2g0 = fma(vec4<f32>(a0.z), b0, acc.r2g0);
            acc.r2g1 = fma(vec4<f32>(a0.z), b1, acc.r2g1);
            acc.r3g0 = fma(vec4<f32>(a0.w), b0, acc.r3g0);
            acc.r3g1 = fma(vec4<f32>(a0.w), b1, acc.r3g1);
            acc.r4g0 = fma(vec4<f32>(a1.x), b0, acc.r4g0);
            acc.r4g1 = fma(vec4<f32>(a1.x), b1, acc.r4g1);
            acc.r5g0 = fma(vec4<f32>(a1.y), b0, acc.r5g0);
            acc.r5g1 = fma(vec4<f32>(a1.y), b1, acc.r5g1);
            acc.r6g0 = fma(vec4<f32>(a1.z), b0, acc.r6g0);
            acc.r6g1 = fma(vec4<f32>(a1.z), b1, acc.r6g1);
            acc.r7g0 = fma(vec4<f32>(a1.w), b0, acc.r7g0);
            acc.r7g1 = fma(vec4<f32>(a1.w), b1, acc.r7g1);
        }
        current = 256u - current;
        stage(current, t, 128u, 8u, next_a, next_b);
        workgroupBarrier();
    }
    return acc;
}

fn large_column(wid: vec3<u32>, lid: vec3<u32>) -> u32 {
    return wid.x * 128u + lid.x * 4u;
}

// `add0` and `add1` are added to column groups g0 and g1.
fn large_store(wid: vec3<u32>, lid: vec3<u32>, acc: Large, add0: vec4<f32>, add1: vec4<f32>, act: bool) {
    let i = wid.y * 128u + lid.y * 4u;
    let j = large_column(wid, lid);
    store4(0u, i + 0u, j, acc.r0g0, add0, act);
    store4(0u, i + 0u, j + 64u, acc.r0g1, add1, act);
    store4(0u, i + 1u, j, acc.r1g0, add0, act);
    store4(0u, i + 1u, j + 64u, acc.r1g1, add1, act);
    store4(0u, i + 2u, j, acc.r2g0, add0, act);
    store4(0u, i + 2u, j + 64u, acc.r2g1, add1, act);
    store4(0u, i + 3u, j, acc.r3g0, add0, act);
    store4(0u, i + 3u, j + 64u, acc.r3g1, add1, act);
    store4(0u, i + 64u, j, acc.r4g0, add0, act);
    store4(0u, i + 64u, j + 64u, acc.r4g1, add1, act);
    store4(0u, i + 65u, j, acc.r5g0, add0, act);
    store4(0u, i + 65u, j + 64u, acc.r5g1, add1, act);
    store4(0u, i + 66u, j, acc.r6g0, add0, act);
    store4(0u, i + 66u, j + 64u, acc.r6g1, add1, act);
    store4(0u, i + 67u, j, acc.r7g0, add0, act);
    store4(0u, i + 67u, j + 64u, acc.r7g1, add1, act);
}

@compute @workgroup_size(16, 16)
fn matmul_large(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    large_store(wid, lid, large_product(wid, lid), vec4<f32>(0.0), vec4<f32>(0.0), false);
}

@compute @workgroup_size(16, 16)
fn matmul_large_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = large_product(wid, lid);
    let i = wid.y * 128u + lid.y * 4u;
    let j = large_column(wid, lid);
    acc.r0g0 = activation_grad(i, j, acc.r0g0);
    acc.r0g1 = activation_grad(i, j + 64u, acc.r0g1);
    acc.r1g0 = activation_grad(i + 1u, j, acc.r1g0);
    acc.r1g1 = activation_grad(i + 1u, j + 64u, acc.r1g1);
    acc.r2g0 = activation_grad(i + 2u, j, acc.r2g0);
    acc.r2g1 = activation_grad(i + 2u, j + 64u, acc.r2g1);
    acc.r3g0 = activation_grad(i + 3u, j, acc.r3g0);
    acc.r3g1 = activation_grad(i + 3u, j + 64u, acc.r3g1);
    acc.r4g0 = activation_grad(i + 64u, j, acc.r4g0);
    acc.r4g1 = activation_grad(i + 64u, j + 64u, acc.r4g1);
    acc.r5g0 = activation_grad(i + 65u, j, acc.r5g0);
    acc.r5g1 = activation_grad(i + 65u, j + 64u, acc.r5g1);
    acc.r6g0 = activation_grad(i + 66u, j, acc.r6g0);
    acc.r6g1 = activation_grad(i + 66u, j + 64u, acc.r6g1);
    acc.r7g0 = activation_grad(i + 67u, j, acc.r7g0);
    acc.r7g1 = activation_grad(i + 67u, j + 64u, acc.r7g1);
    large_store(wid, lid, acc, vec4<f32>(0.0), vec4<f32>(0.0), false);
}

@compute @workgroup_size(16, 16)
fn matmul_large_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = large_product(wid, lid);
    let j = large_column(wid, lid);
    large_store(wid, lid, acc, bias4(j), bias4(j + 64u), true);
}
