// The math of every unary op, f and f' side by side, shared by the elementwise kernels
// (unary.wgsl) and the matmul epilogues (matmul.wgsl, the generated blocked matmul).
//   f(op, x, a):      y = f(x)
//   df(op, x, y, a):  f'(x), from x and the saved y = f(x) (some f' are cheapest in y: σ(1 − σ))
// `op` is a code of UnaryOp in src/engine/op.rs; the constants naming the codes (IDENTITY,
// RELU, ...) are generated from that table and prepended to this file. `a` is the op's constant
// (alpha, exponent, scale or addend). Callers pass an override constant as `op`, so each pipeline
// keeps only its own case. A code without a case gives NaN, which every op test would catch.

const GELU_C: f32 = 0.7978845608; // √(2/π)
const GELU_K: f32 = 0.044715;
const ZERO: vec4<f32> = vec4<f32>(0.0);
const ONE: vec4<f32> = vec4<f32>(1.0);

fn unary_f(op: u32, x: vec4<f32>, a: f32) -> vec4<f32> {
    switch op {
        case IDENTITY: { return x; }
        case NEG: { return -x; }
        case RELU: { return max(x, ZERO); }
        case LEAKY_RELU: { return select(a * x, x, x > ZERO); }
        case ELU: { return select(a * (exp(x) - 1.0), x, x > ZERO); }
        case SIGMOID: { return sigmoid(x); }
        case TANH: { return stable_tanh(x); }
        case GELU: { return 0.5 * x * (1.0 + stable_tanh(GELU_C * (x + GELU_K * x * x * x))); }
        case SILU: { return x * sigmoid(x); }
        // max(x, 0) + ln(1 + e^−|x|): finite for any x, and accurate where e^−|x| is tiny
        // (log1p in common.wgsl).
        case SOFTPLUS: { return max(x, ZERO) + log1p(exp(-abs(x))); }
        case EXP: { return exp(x); }
        case LOG: { return log(x); }
        case RECIP: { return 1.0 / x; }
        case SQUARE: { return x * x; }
        case SQRT: { return sqrt(x); }
        case ABS: { return abs(x); }
        case POW: { return real_pow(x, vec4<f32>(a)); }
        case SCALE: { return a * x; }
        case ADD_SCALAR: { return x + a; }
        default: { return vec4<f32>(nan()); }
    }
}

fn unary_df(op: u32, x: vec4<f32>, y: vec4<f32>, a: f32) -> vec4<f32> {
    switch op {
        case IDENTITY, ADD_SCALAR: { return ONE; }
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
        case SOFTPLUS: { return sigmoid(x); }
        case EXP: { return y; }
        case LOG: { return 1.0 / x; }
        case RECIP: { return -y * y; }
        case SQUARE: { return 2.0 * x; }
        case SQRT: { return 0.5 / y; }
        case ABS: { return sign(x); }
        case POW: { return a * real_pow(x, vec4<f32>(a - 1.0)); }
        case SCALE: { return vec4<f32>(a); }
        default: { return vec4<f32>(nan()); }
    }
}
