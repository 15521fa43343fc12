//! Every op's gradient against central finite differences in f64 on the CPU, plus the autodiff
//! engine's own rules: gradients add up at forks, backward twice is correct, detach and constants
//! stop gradients, and a gradient off the loss's path is a clear error.
//!
//! Tolerance: an element passes when |analytic − numeric| ≤ 1e-7 or the relative error ≤ 1e-5.
//! With h = 1e-6 in f64 the central difference's truncation error is O(h²·f''') ≈ 1e-12 and its
//! rounding error ≈ ε·|f|/h ≈ 1e-10, so a correct rule sits orders of magnitude inside it.
//! Inputs stay ≥ 0.1 from kinks (ReLU, |x|, max) so h never straddles one.

mod common;

use common::Rng;
use shadergrad::check::gradcheck;
use shadergrad::op::Axis;
use shadergrad::{BinaryOp, Error, Graph, Tensor, UnaryOp};

const H: f64 = 1e-6;

fn check(what: &str, g: &Graph, loss: &Tensor, feeds: &[(&Tensor, &[f64])]) {
    let report = gradcheck(g, loss, feeds, H).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(!report.tensors.is_empty(), "{what}: nothing took a gradient");
    assert!(report.passes(1e-7, 1e-5), "{what}: gradient check failed\n{report}");
    let worst = report.worst().expect("non-empty");
    println!("  {what:<34} worst rel {:.1e} ({})", worst.max_rel, worst.name);
}

/// Weights the output elements differently, so every element's gradient is distinct.
fn weighted_sum(g: &Graph, t: &Tensor, rng: &mut Rng) -> Tensor {
    let w = g.constant("weights", t.shape(), rng.vec(t.shape().len(), -1.0, 1.0));
    (t * &w).sum()
}

fn input_for(op: UnaryOp, rng: &mut Rng, n: usize) -> Vec<f64> {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Pow(_) => rng.vec(n, 0.2, 3.0),
        UnaryOp::Recip => rng.away_from_zero(n, 0.3, 2.0),
        _ => rng.away_from_zero(n, 0.1, 2.0),
    }
}

#[test]
fn every_unary_op() {
    let mut rng = Rng::new(21);
    for op in UnaryOp::ALL
        .into_iter()
        .chain([UnaryOp::Pow(0.5), UnaryOp::Pow(-1.5), UnaryOp::Elu(0.3)])
    {
        let g = Graph::new();
        let x = g.input("x", [3, 4]).with_grad();
        let loss = weighted_sum(&g, &x.map(op), &mut rng);
        let data = input_for(op, &mut rng, 12);
        check(&format!("unary {}", op.label()), &g, &loss, &[(&x, &data)]);
    }
}

#[test]
fn every_binary_op() {
    let mut rng = Rng::new(22);
    for op in BinaryOp::ALL {
        let g = Graph::new();
        let a = g.input("a", [2, 5]).with_grad();
        let b = g.input("b", [2, 5]).with_grad();
        let loss = weighted_sum(&g, &a.zip(op, &b), &mut rng);
        let (av, bv) = match op {
            BinaryOp::Pow => (rng.vec(10, 0.3, 2.0), rng.vec(10, -1.5, 1.5)),
            BinaryOp::Div => (rng.vec(10, -2.0, 2.0), rng.away_from_zero(10, 0.3, 2.0)),
            // max/min: keep the two inputs ≥ 0.1 apart.
            _ => {
                let av = rng.vec(10, -2.0, 2.0);
                let bv = av
                    .iter()
                    .map(|v| v + if rng.uniform(0.0, 1.0) < 0.5 { -0.5 } else { 0.5 })
                    .collect();
                (av, bv)
            }
        };
        check(&format!("binary {}", op.name()), &g, &loss, &[(&a, &av), (&b, &bv)]);
    }
}

#[test]
fn matmul_in_all_four_transpose_layouts() {
    let mut rng = Rng::new(23);
    let (m, n, k) = (3, 4, 5);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let g = Graph::new();
        let a = g.input("a", if ta { [k, m] } else { [m, k] }).with_grad();
        let b = g.input("b", if tb { [n, k] } else { [k, n] }).with_grad();
        let loss = weighted_sum(&g, &a.matmul_t(&b, ta, tb), &mut rng);
        let (av, bv) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0));
        check(&format!("matmul ta={ta} tb={tb}"), &g, &loss, &[(&a, &av), (&b, &bv)]);
    }
}

#[test]
fn bias_reductions_broadcasts_and_losses() {
    let mut rng = Rng::new(24);
    let (r, c) = (4, 3);
    type Build = Box<dyn Fn(&Tensor, &Tensor) -> Tensor>;
    let cases: Vec<(&str, Build)> = vec![
        ("bias_add", Box::new(|x, b| x.bias_add(b))),
        (
            "linear",
            Box::new(|x, b| {
                x.linear(
                    &x.graph()
                        .constant("w", [3, 3], vec![0.5, -1.0, 0.2, 0.3, 0.7, -0.4, 1.1, 0.0, -0.6]),
                    b,
                )
            }),
        ),
        ("sum", Box::new(|x, _| x.sum())),
        ("mean", Box::new(|x, _| x.mean())),
        ("row_sum", Box::new(|x, _| x.row_sum())),
        ("col_sum", Box::new(|x, _| x.col_sum())),
        ("row_max", Box::new(|x, _| x.row_max())),
        ("log_softmax", Box::new(|x, _| x.log_softmax())),
        // The mask is a function of (stream, step, index): fixed while h moves x.
        ("dropout", Box::new(|x, _| x.dropout(0.3, 5))),
        ("normalize rows", Box::new(|x, _| x.normalize(Axis::Rows, 1e-5))),
        ("normalize columns", Box::new(|x, _| x.normalize(Axis::Columns, 1e-5))),
        (
            "layer norm (gain and bias, one launch)",
            Box::new(|x, b| x.normalize_affine(Axis::Rows, 1e-5, &b.scale(0.5).add_scalar(1.0), &b.scale(-2.0))),
        ),
        (
            "batch norm (gain and bias, one launch)",
            Box::new(|x, b| x.normalize_affine(Axis::Columns, 1e-5, &b.add_scalar(0.3), &b.square())),
        ),
        (
            "broadcast scalar",
            Box::new(|x, _| x.sum().broadcast(shadergrad::Broadcast::Scalar, &x.shape())),
        ),
        (
            "broadcast rows",
            Box::new(|x, _| x.row_sum().broadcast(shadergrad::Broadcast::Rows, &x.shape())),
        ),
        (
            "broadcast cols",
            Box::new(|x, _| x.col_sum().broadcast(shadergrad::Broadcast::Cols, &x.shape())),
        ),
    ];
    for (name, build) in cases {
        let g = Graph::new();
        let x = g.input("x", [r, c]).with_grad();
        let b = g.input("b", [c]).with_grad();
        let y = build(&x, &b);
        let loss = weighted_sum(&g, &y, &mut rng);
        // Distinct values ≥ 0.1 apart within each row, so row_max has no tie within h.
        let xv: Vec<f64> = (0..r * c)
            .map(|i| (i % c) as f64 * 0.3 + rng.uniform(0.0, 0.1) - (i / c) as f64)
            .collect();
        let bv = rng.vec(c, -1.0, 1.0);
        check(name, &g, &loss, &[(&x, &xv), (&b, &bv)]);
    }

    // softmax_cross_entropy is smoothed_cross_entropy with smoothing 0.
    for (name, smoothing) in [
        ("softmax_cross_entropy", 0.0),
        ("softmax_cross_entropy, smoothing 0.1", 0.1),
    ] {
        let g = Graph::new();
        let logits = g.input("logits", [r, c]).with_grad();
        let labels = g.input("labels", [r]);
        let loss = logits.smoothed_cross_entropy(&labels, smoothing);
        check(
            name,
            &g,
            &loss,
            &[(&logits, &rng.vec(r * c, -2.0, 2.0)), (&labels, &[0.0, 2.0, 1.0, 2.0])],
        );
    }

    // Weighted by example, one weight 0 (that row's gradient is 0): the weights take none.
    let weights = [0.5, 2.0, 0.0, 1.5];
    let g = Graph::new();
    let logits = g.input("logits", [r, c]).with_grad();
    let labels = g.input("labels", [r]);
    let w = g.input("weights", [r]);
    let loss = logits.weighted_cross_entropy(&labels, &w, 0.1);
    check(
        "weighted_cross_entropy, smoothing 0.1",
        &g,
        &loss,
        &[
            (&logits, &rng.vec(r * c, -2.0, 2.0)),
            (&labels, &[0.0, 2.0, 1.0, 2.0]),
            (&w, &weights),
        ],
    );

    let targets: Vec<f64> = (0..r * c).map(|i| (i % 3 == 0) as u8 as f64).collect();
    let g = Graph::new();
    let z = g.input("logits", [r, c]).with_grad();
    let t = g.input("targets", [r, c]);
    let w = g.input("weights", [r]);
    let loss = z.weighted_bce_with_logits(&t, &w);
    check(
        "weighted_bce_with_logits",
        &g,
        &loss,
        &[(&z, &rng.vec(r * c, -3.0, 3.0)), (&t, &targets), (&w, &weights)],
    );

    let g = Graph::new();
    let p = g.input("pred", [r, c]).with_grad();
    let t = g.input("target", [r, c]).with_grad();
    let w = g.input("weights", [r]);
    let loss = p.weighted_mse(&t, &w).scale(3.0);
    check(
        "weighted_mse (pred and target)",
        &g,
        &loss,
        &[
            (&p, &rng.vec(r * c, -1.0, 1.0)),
            (&t, &rng.vec(r * c, -1.0, 1.0)),
            (&w, &weights),
        ],
    );

    let g = Graph::new();
    let z = g.input("logits", [r, c]).with_grad();
    let t = g.input("targets", [r, c]);
    let loss = z.bce_with_logits(&t);
    check(
        "bce_with_logits",
        &g,
        &loss,
        &[(&z, &rng.vec(r * c, -3.0, 3.0)), (&t, &targets)],
    );

    let g = Graph::new();
    let p = g.input("pred", [r, c]).with_grad();
    let t = g.input("target", [r, c]).with_grad();
    let loss = p.mse(&t).scale(3.0);
    check(
        "mse (pred and target)",
        &g,
        &loss,
        &[(&p, &rng.vec(r * c, -1.0, 1.0)), (&t, &rng.vec(r * c, -1.0, 1.0))],
    );
}

#[test]
fn parameters_take_gradients_like_inputs() {
    let mut rng = Rng::new(25);
    let g = Graph::new();
    let x = g.input("x", [6, 4]);
    let labels = g.input("y", [6]);
    let w1 = g.param("0.weight", [5, 4], rng.vec(20, -0.5, 0.5));
    let b1 = g.param("0.bias", [5], rng.vec(5, -0.1, 0.1));
    let w2 = g.param("2.weight", [3, 5], rng.vec(15, -0.5, 0.5));
    let b2 = g.param("2.bias", [3], rng.vec(3, -0.1, 0.1));
    let loss = x
        .linear(&w1, &b1)
        .tanh()
        .linear(&w2, &b2)
        .softmax_cross_entropy(&labels);
    check(
        "mlp parameters",
        &g,
        &loss,
        &[
            (&x, &rng.vec(24, -1.0, 1.0)),
            (&labels, &[0.0, 1.0, 2.0, 1.0, 0.0, 2.0]),
        ],
    );
}

#[test]
fn gradients_add_up_at_forks() {
    // f = x·x + x: x forks three ways; df/dx = 2x + 1 = 7 at x = 3.
    let g = Graph::new();
    let x = g.input("x", []).with_grad();
    let f = &(&x * &x) + &x;
    let dx = g.backward(&f).unwrap().of(&x).unwrap();
    for (backend, v) in common::on_both(&g, &[&dx], &[(&x, &[3.0])]) {
        common::assert_near("d(x·x + x)/dx", backend, v[0][0], 7.0, 1e-6);
    }
}

#[test]
fn backward_twice_gives_the_same_gradients() {
    // micrograd's known bug: a second backward() accumulated into the first one's .grad.
    let g = Graph::new();
    let x = g.input("x", [2]).with_grad();
    let f = (&x * &x).sum();
    let first = g.backward(&f).unwrap().of(&x).unwrap();
    let second = g.backward(&f).unwrap().of(&x).unwrap();
    for (backend, v) in common::on_both(&g, &[&first, &second], &[(&x, &[1.5, -2.0])]) {
        assert_eq!(v[0], vec![3.0, -4.0], "{backend}");
        assert_eq!(v[1], v[0], "{backend}: the second backward differs from the first");
    }
}

#[test]
fn detach_and_constants_stop_gradients() {
    let g = Graph::new();
    let x = g.input("x", []).with_grad();
    let c = g.scalar(2.0);
    let f = &(&x * &x.detach()) * &c; // d/dx treats the detached copy as a constant: 2·x_detached
    let grads = g.backward(&f).unwrap();
    let dx = grads.of(&x).unwrap();
    for (backend, v) in common::on_both(&g, &[&dx], &[(&x, &[5.0])]) {
        common::assert_near("d(x·detach(x)·2)/dx", backend, v[0][0], 10.0, 1e-6);
    }
    let err = grads.of(&c).unwrap_err();
    assert!(matches!(err, Error::NoGradient { .. }), "{err}");
    assert!(err.to_string().contains("constant"), "{err}");
}

#[test]
fn gradient_of_a_tensor_off_the_path_is_a_clear_error() {
    let g = Graph::new();
    let x = g.input("x", []).with_grad();
    let unused = g.input("unused", []).with_grad();
    let f = x.square();
    let err = g.backward(&f).unwrap().of(&unused).unwrap_err();
    assert!(
        err.to_string().contains("`unused`") && err.to_string().contains("does not depend"),
        "{err}"
    );
}

#[test]
fn a_loss_that_is_not_a_scalar_is_refused() {
    let g = Graph::new();
    let x = g.input("x", [3]).with_grad();
    let err = g.backward(&x.square()).err().expect("a vector loss is refused");
    assert!(err.to_string().contains("must be a scalar"), "{err}");
}

#[test]
fn gradients_of_gradients_are_refused_clearly() {
    let g = Graph::new();
    let x = g.input("x", []).with_grad();
    let dx = g.backward(&x.sigmoid()).unwrap().of(&x).unwrap();
    let err = g.backward(&dx).err().expect("second order is not supported");
    assert!(matches!(err, Error::NotDifferentiable { .. }), "{err}");
}
