//! The worked examples of the seeds (CS231n's backprop notes, Kamper's introduction, the two
//! blog posts), each with its hand-derived numbers, on both backends.
//!
//! Tolerances: the CPU runs in f64 and must match to 1e-9; the GPU runs in f32, whose rounding
//! on these few-op circuits stays below 1e-5.

mod common;

use common::{assert_near, on_both, Rng};
use shadergrad::Graph;

fn tol(backend: &str) -> f64 {
    if backend == "cpu" {
        1e-9
    } else {
        1e-5
    }
}

/// Scalar inputs that take gradients, by name.
fn scalars<const N: usize>(g: &Graph, names: [&str; N]) -> [shadergrad::Tensor; N] {
    names.map(|n| g.input(n, []).with_grad())
}

#[test]
fn cs231n_add_then_multiply() {
    // f = (x + y)·z at x = -2, y = 5, z = -4: q = 3, f = -12;
    // df/dz = q = 3, df/dq = z = -4, and the add gate routes -4 to both x and y.
    let g = Graph::new();
    let [x, y, z] = scalars(&g, ["x", "y", "z"]);
    let f = (&x + &y) * z.clone();
    let grads = g.backward(&f).unwrap();
    let outs = [
        f.clone(),
        grads.of(&x).unwrap(),
        grads.of(&y).unwrap(),
        grads.of(&z).unwrap(),
    ];
    let refs: Vec<_> = outs.iter().collect();
    for (backend, v) in on_both(&g, &refs, &[(&x, &[-2.0]), (&y, &[5.0]), (&z, &[-4.0])]) {
        for (what, got, want) in [
            ("f", v[0][0], -12.0),
            ("df/dx", v[1][0], -4.0),
            ("df/dy", v[2][0], -4.0),
            ("df/dz", v[3][0], 3.0),
        ] {
            assert_near(&format!("(x+y)*z: {what}"), backend, got, want, tol(backend));
        }
    }
}

#[test]
fn cs231n_sigmoid_neuron_gate_by_gate_and_fused() {
    // f = 1 / (1 + e^-(w0·x0 + w1·x1 + w2)), w = [2, -3, -3], x = [-1, -2]:
    // the dot is 1, f = σ(1) = 0.73; the local gradient is (1 - f)·f = 0.1966, so
    // dx = [w0, w1]·0.1966 = [0.393, -0.590] and dw = [x0, x1, 1]·0.1966 = [-0.197, -0.393, 0.197].
    let s = 0.19661193324148185;
    let want = [0.7310585786300049, 2.0 * s, -3.0 * s, -s, -2.0 * s, s];
    for fused in [false, true] {
        let g = Graph::new();
        let [w0, x0, w1, x1, w2] = scalars(&g, ["w0", "x0", "w1", "x1", "w2"]);
        let dot = &(&(&w0 * &x0) + &(&w1 * &x1)) + &w2;
        // The circuit of the notes: *-1, exp, +1, 1/x; or the one sigmoid gate.
        let f = if fused {
            dot.sigmoid()
        } else {
            dot.scale(-1.0).exp().add_scalar(1.0).recip()
        };
        let grads = g.backward(&f).unwrap();
        let outs = [
            f.clone(),
            grads.of(&x0).unwrap(),
            grads.of(&x1).unwrap(),
            grads.of(&w0).unwrap(),
            grads.of(&w1).unwrap(),
            grads.of(&w2).unwrap(),
        ];
        let refs: Vec<_> = outs.iter().collect();
        let feeds: [(&shadergrad::Tensor, &[f64]); 5] = [
            (&w0, &[2.0]),
            (&x0, &[-1.0]),
            (&w1, &[-3.0]),
            (&x1, &[-2.0]),
            (&w2, &[-3.0]),
        ];
        for (backend, v) in on_both(&g, &refs, &feeds) {
            for (i, name) in ["f", "dx0", "dx1", "dw0", "dw1", "dw2"].iter().enumerate() {
                assert_near(
                    &format!("neuron (fused={fused}): {name}"),
                    backend,
                    v[i][0],
                    want[i],
                    tol(backend),
                );
            }
        }
    }
}

#[test]
fn cs231n_staged_function() {
    // f = (x + σ(y)) / (σ(x) + (x + y)²) at x = 3, y = -4, staged as in the notes:
    // num = x + σ(y) = 3.01799, den = σ(x) + 1 = 1.95257, f = num/den = 1.54564;
    // dnum = 1/den, dden = -num/den²; x forks three ways and y twice, so
    // df/dx = dnum + dden·(σ(x)(1 - σ(x)) + 2(x + y)) = 2.05957,
    // df/dy = dnum·σ(y)(1 - σ(y)) + dden·2(x + y) = 1.59223.
    let g = Graph::new();
    let [x, y] = scalars(&g, ["x", "y"]);
    let num = &x + &y.sigmoid();
    let den = &x.sigmoid() + &(&x + &y).square();
    let f = &num / &den;
    let grads = g.backward(&f).unwrap();
    let outs = [f.clone(), grads.of(&x).unwrap(), grads.of(&y).unwrap()];
    let refs: Vec<_> = outs.iter().collect();
    for (backend, v) in on_both(&g, &refs, &[(&x, &[3.0]), (&y, &[-4.0])]) {
        assert_near("staged: f", backend, v[0][0], 1.5456448841066441, tol(backend));
        assert_near("staged: df/dx", backend, v[1][0], 2.0595697955721652, tol(backend));
        assert_near("staged: df/dy", backend, v[2][0], 1.5922327514838093, tol(backend));
    }
}

#[test]
fn kamper_example_with_forks() {
    // Kamper's f(x, y) = (x + σ(y)) / (x² + y) at x = 3, y = -4: a = σ(y), b = x + a,
    // c = x², d = y + c = 5, e = 1/d, f = b·e = 0.60360. Backward: δb = e, δe = b,
    // δd = -δe/d², δx = δb + 2x·δd = -0.52432, δy = δd + a(1 - a)·δb = -0.11719.
    let g = Graph::new();
    let [x, y] = scalars(&g, ["x", "y"]);
    let f = &(&x + &y.sigmoid()) / &(&x.square() + &y);
    let grads = g.backward(&f).unwrap();
    let outs = [f.clone(), grads.of(&x).unwrap(), grads.of(&y).unwrap()];
    let refs: Vec<_> = outs.iter().collect();
    for (backend, v) in on_both(&g, &refs, &[(&x, &[3.0]), (&y, &[-4.0])]) {
        assert_near("kamper: f", backend, v[0][0], 0.6035972419924184, tol(backend));
        assert_near("kamper: df/dx", backend, v[1][0], -0.524316690390902, tol(backend));
        assert_near("kamper: df/dy", backend, v[2][0], -0.11718690715582544, tol(backend));
    }
}

#[test]
fn cs231n_gates_add_max_multiply() {
    // f = 2·(x·y + max(z, w)) at x = 3, y = -4, z = 2, w = -1: the add gate routes 2.00 to both
    // branches, the max gate routes it all to z (w gets 0), the multiply gate swaps its inputs:
    // df/dx = -4·2 = -8, df/dy = 3·2 = 6.
    let g = Graph::new();
    let [x, y, z, w] = scalars(&g, ["x", "y", "z", "w"]);
    let f = (&(&x * &y) + &z.maximum(&w)).scale(2.0);
    let grads = g.backward(&f).unwrap();
    let outs = [
        grads.of(&x).unwrap(),
        grads.of(&y).unwrap(),
        grads.of(&z).unwrap(),
        grads.of(&w).unwrap(),
    ];
    let refs: Vec<_> = outs.iter().collect();
    for (backend, v) in on_both(&g, &refs, &[(&x, &[3.0]), (&y, &[-4.0]), (&z, &[2.0]), (&w, &[-1.0])]) {
        for (i, (name, want)) in [("df/dx", -8.0), ("df/dy", 6.0), ("df/dz", 2.0), ("df/dw", 0.0)]
            .iter()
            .enumerate()
        {
            assert_near(&format!("gates: {name}"), backend, v[i][0], *want, tol(backend));
        }
    }
}

#[test]
fn vectorised_relu_passes_gradient_where_the_input_is_positive() {
    // The ReLU's local gradient is 1 where x > 0, else 0: dx = dy ⊙ [x > 0].
    let g = Graph::new();
    let x = g.input("x", [2, 3]).with_grad();
    let up = g.constant("dy", [2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let f = (&x.relu() * &up).sum();
    let dx = g.backward(&f).unwrap().of(&x).unwrap();
    for (backend, v) in on_both(&g, &[&dx], &[(&x, &[-1.0, 0.5, 2.0, 3.0, -0.1, 7.0])]) {
        assert_eq!(v[0], vec![0.0, 2.0, 3.0, 4.0, 0.0, 6.0], "{backend}");
        println!("  relu mask {backend}: {:?}", v[0]);
    }
}

#[test]
fn affine_layer_weight_gradient_is_dd_times_x_transposed() {
    // D = W·X (W [2, 3], X [3, 4]); with upstream dD: dW = dD·Xᵀ, dX = Wᵀ·dD (CS231n, "Gradients
    // for vectorized operations"); a bias b [2] broadcast over D's columns gets db = Σ over columns.
    // Here D is built row-major as Xᵀ·Wᵀ + b ([4, 2], the batch layout), so db sums over rows.
    let mut rng = Rng::new(11);
    let wv = rng.vec(6, -1.0, 1.0);
    let xv = rng.vec(12, -1.0, 1.0);
    let dd = rng.vec(8, -1.0, 1.0); // upstream gradient [4, 2]
    let bv = rng.vec(2, -1.0, 1.0);
    let g = Graph::new();
    let w = g.input("W", [2, 3]).with_grad();
    let x = g.input("X", [4, 3]).with_grad(); // rows are examples: D = X·Wᵀ + b
    let b = g.input("b", [2]).with_grad();
    let upstream = g.constant("dD", [4, 2], dd.clone());
    let d = x.linear(&w, &b);
    let f = (&d * &upstream).sum();
    let grads = g.backward(&f).unwrap();
    let outs = [grads.of(&w).unwrap(), grads.of(&x).unwrap(), grads.of(&b).unwrap()];
    let refs: Vec<_> = outs.iter().collect();
    // Hand-computed: dW[i][j] = Σ_n dD[n][i]·X[n][j]; dX[n][j] = Σ_i dD[n][i]·W[i][j]; db[i] = Σ_n dD[n][i].
    let mut dw = vec![0.0; 6];
    let mut dx = vec![0.0; 12];
    let mut db = vec![0.0; 2];
    for n in 0..4 {
        for i in 0..2 {
            db[i] += dd[n * 2 + i];
            for j in 0..3 {
                dw[i * 3 + j] += dd[n * 2 + i] * xv[n * 3 + j];
                dx[n * 3 + j] += dd[n * 2 + i] * wv[i * 3 + j];
            }
        }
    }
    let feeds: [(&shadergrad::Tensor, &[f64]); 3] = [(&w, &wv), (&x, &xv), (&b, &bv)];
    for (backend, v) in on_both(&g, &refs, &feeds) {
        for (name, got, want) in [("dW", &v[0], &dw), ("dX", &v[1], &dx), ("db", &v[2], &db)] {
            common::assert_close(&format!("affine {name} {backend}"), got, want, tol(backend), 0.0, None);
        }
    }
}

#[test]
fn two_layer_mlp_with_softmax_cross_entropy() {
    // The other seeds' 2-layer MLP: s = W2·relu(W1·x + b1) + b2, L = softmax-CE(s, y).
    // dL/ds = (p - onehot(y))/N, then dW2 = ds·h1ᵀ, dh1 = W2ᵀ·ds, da1 = dh1 ⊙ [a1 > 0], dW1 = da1·xᵀ.
    // Checked element by element against those formulas written out here in plain f64.
    let (n, d, h, c) = (5, 4, 6, 3);
    let mut rng = Rng::new(12);
    let xv = rng.vec(n * d, -1.0, 1.0);
    let w1v = rng.vec(h * d, -1.0, 1.0);
    let b1v = rng.vec(h, -0.5, 0.5);
    let w2v = rng.vec(c * h, -1.0, 1.0);
    let b2v = rng.vec(c, -0.5, 0.5);
    let labels = vec![0.0, 2.0, 1.0, 2.0, 0.0];

    // Reference, by the formulas.
    let mut a1 = vec![0.0; n * h];
    for i in 0..n {
        for j in 0..h {
            a1[i * h + j] = b1v[j] + (0..d).map(|k| xv[i * d + k] * w1v[j * d + k]).sum::<f64>();
        }
    }
    let h1: Vec<f64> = a1.iter().map(|v| v.max(0.0)).collect();
    let mut ds = vec![0.0; n * c];
    let mut loss = 0.0;
    for i in 0..n {
        let s: Vec<f64> = (0..c)
            .map(|j| b2v[j] + (0..h).map(|k| h1[i * h + k] * w2v[j * h + k]).sum::<f64>())
            .collect();
        let m = s.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
        let y = labels[i] as usize;
        loss += (z.ln() - (s[y] - m)) / n as f64;
        for j in 0..c {
            ds[i * c + j] = ((s[j] - m).exp() / z - if j == y { 1.0 } else { 0.0 }) / n as f64;
        }
    }
    let mut dw2 = vec![0.0; c * h];
    let mut dh1 = vec![0.0; n * h];
    for i in 0..n {
        for j in 0..c {
            for k in 0..h {
                dw2[j * h + k] += ds[i * c + j] * h1[i * h + k];
                dh1[i * h + k] += ds[i * c + j] * w2v[j * h + k];
            }
        }
    }
    let mut dw1 = vec![0.0; h * d];
    for i in 0..n {
        for j in 0..h {
            let da = if a1[i * h + j] > 0.0 { dh1[i * h + j] } else { 0.0 };
            for k in 0..d {
                dw1[j * d + k] += da * xv[i * d + k];
            }
        }
    }

    let g = Graph::new();
    let x = g.input("x", [n, d]);
    let y = g.input("y", [n]);
    let w1 = g.param("0.weight", [h, d], w1v);
    let b1 = g.param("0.bias", [h], b1v);
    let w2 = g.param("2.weight", [c, h], w2v);
    let b2 = g.param("2.bias", [c], b2v);
    let logits = x.linear(&w1, &b1).relu().linear(&w2, &b2);
    let l = logits.softmax_cross_entropy(&y);
    let grads = g.backward(&l).unwrap();
    let outs = [l.clone(), grads.of(&w1).unwrap(), grads.of(&w2).unwrap()];
    let refs: Vec<_> = outs.iter().collect();
    for (backend, v) in on_both(&g, &refs, &[(&x, &xv), (&y, &labels)]) {
        assert_near("mlp loss", backend, v[0][0], loss, tol(backend));
        common::assert_close(&format!("mlp dW1 {backend}"), &v[1], &dw1, tol(backend), 0.0, None);
        common::assert_close(&format!("mlp dW2 {backend}"), &v[2], &dw2, tol(backend), 0.0, None);
    }
}
