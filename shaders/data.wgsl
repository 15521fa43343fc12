// Data coming in: 8-bit values (pixels, class labels) packed four to a u32 word, little-endian
// (Rust: backend::pack_bytes), spread to f32 on the device, so a batch crosses the bus in a
// quarter of the bytes.
//   y[i] = scale · byte i
// n = p.dims.x values, four (one word) per invocation: y is padded to whole vec4s; scale = p.s0.x.

@group(0) @binding(1) var<storage, read> words: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn unpack_bytes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        let w = words[i];
        let bytes = vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(0xffu);
        y[i] = vec4<f32>(bytes) * p.s0.x;
    }
}
