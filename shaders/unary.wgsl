// Unary elementwise ops, forward and backward side by side.
//   forward:  y[i]  = f(x[i])
//   backward: dx[i] = dy[i] · f'(x[i], y[i])      (some f' are cheapest in y: σ(1 − σ))
// n = p.dims.x elements, processed four at a time (buffers are padded to whole vec4s; the
// padding's results are never read as values). OP (an override) picks the op; a = p.s0.x is its
// constant. Codes follow UnaryOp::ALL in src/op.rs (a test checks each const against it).

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> y_saved: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dx: array<vec4<f32>>;

override OP: u32 = 0u;

const IDENTITY: u32 = 0u;
const NEG: u32 = 1u;
const RELU: u32 = 2u;
const LEAKY_RELU: u32 = 3u;
const ELU: u32 = 4u;
const SIGMOID: u32 = 5u;
const TANH: u32 = 6u;
const GELU: u32 = 7u;
const SILU: u32 = 8u;
const EXP: u32 = 9u;
const LOG: u32 = 10u;
const RECIP: u32 = 11u;
const SQUARE: u32 = 12u;
const SQRT: u32 = 13u;
const ABS: u32 = 14u;
const POW: u32 = 15u;
const SCALE: u32 = 16u;
const ADD_SCALAR: u32 = 17u;

const GELU_C: f32 = 0.7978845608; // √(2/π)
const GELU_K: f32 = 0.044715;
const ZERO: vec4<f32> = vec4<f32>(0.0);
const ONE: vec4<f32> = vec4<f32>(1.0);

fn f(x: vec4<f32>, a: f32) -> vec4<f32> {
    switch OP {
        case NEG: { return -x; }
        case RELU: { return max(x, ZERO); }
        case LEAKY_RELU: { return select(a * x, x, x > ZERO); }
        case ELU: { return select(a * (exp(x) - 1.0), x, x > ZERO); }
        case SIGMOID: { return sigmoid(x); }
        case TANH: { return stable_tanh(x); }
        case GELU: { return 0.5 * x * (1.0 + stable_tanh(GELU_C * (x + GELU_K * x * x * x))); }
        case SILU: { return x * sigmoid(x); }
        case EXP: { return exp(x); }
        case LOG: { return log(x); }
        case RECIP: { return 1.0 / x; }
        case SQUARE: { return x * x; }
        case SQRT: { return sqrt(x); }
        case ABS: { return abs(x); }
        case POW: { return real_pow(x, vec4<f32>(a)); }
        case SCALE: { return a * x; }
        case ADD_SCALAR: { return x + a; }
        default: { return x; } // IDENTITY
    }
}

fn df(x: vec4<f32>, y: vec4<f32>, a: f32) -> vec4<f32> {
    switch OP {
        case NEG: { return -ONE; }
        case RELU: { return select(ZERO, ONE, x > ZERO); }
        case LEAKY_RELU: { return select(vec4<f32>(a), ONE, x > ZERO); }
        case ELU: { return select(y + a, ONE, x > ZERO); }
        case SIGMOID: { return y * (1.0 - y); }
        case TANH: { return 1.0 - y * y; }
        case GELU: {
            let t = stable_tanh(GELU_C * (x + GELU_K * x * x * x));
            let du = GELU_C * (1.0 + 3.0 * GELU_K * x * x);
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
        }
        case SILU: {
            let s = sigmoid(x);
            return s * (1.0 + x * (1.0 - s));
        }
        case EXP: { return y; }
        case LOG: { return 1.0 / x; }
        case RECIP: { return -y * y; }
        case SQUARE: { return 2.0 * x; }
        case SQRT: { return 0.5 / y; }
        case ABS: { return sign(x); }
        case POW: { return a * real_pow(x, vec4<f32>(a - 1.0)); }
        case SCALE: { return vec4<f32>(a); }
        default: { return ONE; } // IDENTITY, ADD_SCALAR
    }
}

@compute @workgroup_size(256)
fn unary_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        y[i] = f(x[i], p.s0.x);
    }
}

@compute @workgroup_size(256)
fn unary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    if (i * 4u < p.dims.x) {
        dx[i] = dy[i] * df(x[i], y_saved[i], p.s0.x);
    }
}
