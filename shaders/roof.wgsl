// The device's own fp32 FMA roof: each invocation runs long chains of independent vec4 FMAs
// (8 chains hide the FMA latency), so the kernel is bound by arithmetic alone.
// iterations = p.dims.x; each iteration is 8 vec4 FMAs = 64 flops per invocation.
// The result is written so the compiler cannot drop the work.

@group(0) @binding(1) var<storage, read_write> sink: array<f32>;

@compute @workgroup_size(256)
fn fma_roof(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let seed = f32(gid.x) * 1e-7;
    var a0 = vec4<f32>(seed, seed + 1.0, seed + 2.0, seed + 3.0);
    var a1 = a0 + 0.1;
    var a2 = a0 + 0.2;
    var a3 = a0 + 0.3;
    var a4 = a0 + 0.4;
    var a5 = a0 + 0.5;
    var a6 = a0 + 0.6;
    var a7 = a0 + 0.7;
    let mul = vec4<f32>(p.s0.x);
    let add = vec4<f32>(p.s0.y);
    for (var i = 0u; i < p.dims.x; i++) {
        a0 = fma(a0, mul, add);
        a1 = fma(a1, mul, add);
        a2 = fma(a2, mul, add);
        a3 = fma(a3, mul, add);
        a4 = fma(a4, mul, add);
        a5 = fma(a5, mul, add);
        a6 = fma(a6, mul, add);
        a7 = fma(a7, mul, add);
    }
    let s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    sink[gid.y * nwg.x * 256u + gid.x] = s.x + s.y + s.z + s.w;
}
