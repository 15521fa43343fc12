// Binary elementwise ops (the seeds' gates), forward and backward side by side.
//   forward:  c[i]    = f(a[i], b[i])
//   backward: grad[i] = dc[i] · ∂f/∂a   (WRT = 0)   or   dc[i] · ∂f/∂b   (WRT = 1)
// n = p.dims.x, four at a time (buffers are padded to whole vec4s). OP picks the op: a code of
// BinaryOp in src/engine/op.rs, whose table also generates the constants naming the codes (ADD,
// SUB, ...), prepended to this file. A code without a case gives NaN. Max and min route the
// gradient to the winner, `a` on a tie ("the max gate routes the gradient", CS231n).

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> dc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> grad: array<vec4<f32>>;

override OP: u32 = 0u;
override WRT: u32 = 0u;

const ZERO: vec4<f32> = vec4<f32>(0.0);
const ONE: vec4<f32> = vec4<f32>(1.0);

fn f(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    switch OP {
        case ADD: { return a + b; }
        case SUB: { return a - b; }
        case MUL: { return a * b; }
        case DIV: { return a / b; }
        case MAX: { return select(b, a, a >= b); }
        case MIN: { return select(b, a, a <= b); }
        case POW: { return real_pow(a, b); }
        default: { return vec4<f32>(nan()); }
    }
}

fn df_da(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    switch OP {
        case ADD, SUB: { return ONE; }
        case MUL: { return b; }
        case DIV: { return 1.0 / b; }
        case MAX: { return select(ZERO, ONE, a >= b); }
        case MIN: { return select(ZERO, ONE, a <= b); }
        case POW: { return b * real_pow(a, b - 1.0); }
        default: { return vec4<f32>(nan()); }
    }
}

fn df_db(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    switch OP {
        case ADD: { return ONE; }
        case SUB: { return -ONE; }
        case MUL: { return a; }
        case DIV: { return -a / (b * b); }
        case MAX: { return select(ONE, ZERO, a >= b); }
        case MIN: { return select(ONE, ZERO, a <= b); }
        case POW: { return real_pow(a, b) * log(a); }
        default: { return vec4<f32>(nan()); }
    }
}

@compute @workgroup_size(256)
fn binary_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        c[i] = f(a[i], b[i]);
    }
}

@compute @workgroup_size(256)
fn binary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        let ai = a[i];
        let bi = b[i];
        if (WRT == 0u) {
            grad[i] = dc[i] * df_da(ai, bi);
        } else {
            grad[i] = dc[i] * df_db(ai, bi);
        }
    }
}
