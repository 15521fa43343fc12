// Optimizer updates, in place over a parameter buffer w and its gradient g.
//   sgd:      w −= lr · (g + wd·w)
//   momentum: g' = g + wd·w;  v = μ·v + g';  w −= lr · (nesterov ? g' + μ·v : v)   (PyTorch's form)
//   adam:     Adam (decoupled = 0: g' = g + wd·w) or AdamW (decoupled = 1: w −= lr·wd·w);
//             m = β1·m + (1−β1)·g';  v = β2·v + (1−β2)·g'²;  w −= lr · (m/c1) / (√(v/c2) + ε)
//             with c1 = 1 − β1ᵗ and c2 = 1 − β2ᵗ computed on the host for step t.
// n = p.dims.x, four at a time (buffers are padded to whole vec4s); flags in p.dims.y;
// constants in s0, s1 (see backend::Kernel).

@group(0) @binding(1) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4<f32>>;   // momentum: the velocity v
@group(0) @binding(4) var<storage, read_write> v: array<vec4<f32>>;

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        let lr = p.s0.x;
        let wd = p.s0.y;
        w[i] -= lr * (g[i] + wd * w[i]);
    }
}

@compute @workgroup_size(256)
fn momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        let lr = p.s0.x;
        let mu = p.s0.y;
        let wd = p.s0.z;
        let gi = g[i] + wd * w[i];
        let vel = mu * m[i] + gi;
        m[i] = vel;
        w[i] -= lr * select(vel, gi + mu * vel, p.dims.y != 0u);
    }
}

@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        let lr = p.s0.x;
        let b1 = p.s0.y;
        let b2 = p.s0.z;
        let eps = p.s0.w;
        let wd = p.s1.x;
        let c1 = p.s1.y;
        let c2 = p.s1.z;
        var wi = w[i];
        var gi = g[i];
        if (p.dims.y != 0u) {
            wi -= lr * wd * wi;
        } else {
            gi += wd * wi;
        }
        let mi = b1 * m[i] + (1.0 - b1) * gi;
        let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - lr * (mi / c1) / (sqrt(vi / c2) + eps);
    }
}
