// Unary elementwise ops, forward and backward side by side.
//   forward:  y[i]  = f(x[i])
//   backward: dx[i] = dy[i] · f'(x[i], y[i])      (some f' are cheapest in y: σ(1 − σ))
// n = p.dims.x elements, processed four at a time (buffers are padded to whole vec4s; the
// padding's results are never read as values). OP (an override) picks the op, a code of UnaryOp
// in src/engine/op.rs; a = p.s0.x is its constant. The math is in unary_math.wgsl.

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> y_saved: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dx: array<vec4<f32>>;

override OP: u32 = 0u;

@compute @workgroup_size(256)
fn unary_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        y[i] = unary_f(OP, x[i], p.s0.x);
    }
}

@compute @workgroup_size(256)
fn unary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        dx[i] = dy[i] * unary_df(OP, x[i], y_saved[i], p.s0.x);
    }
}

// Inverted dropout: element k survives, scaled by 1/(1 − p) = p.s0.x, when its counter hash
// (stream p.dims.y, step p.dims.z) is at least the threshold p · 2³² = p.dims.w. The backward is
// this entry point on dy: the same counters give the same mask, so no mask is stored.
@compute @workgroup_size(256)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        var keep = vec4<f32>(0.0);
        for (var k = 0u; k < 4u; k++) {
            if (counter_hash(p.dims.y, p.dims.z, i * 4u + k) >= p.dims.w) {
                keep[k] = p.s0.x;
            }
        }
        y[i] = x[i] * keep;
    }
}
