//! `shadergrad grad`: the seeds' numbers from the command line, JSON, the circuit pictures, and
//! clear errors for bad expressions.

use std::process::Command;

fn shadergrad(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .args(args)
        .output()
        .expect("run shadergrad");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const STAGED: &str = "(x + sigmoid(y)) / (sigmoid(x) + (x + y)^2)";

#[test]
fn the_staged_function_prints_value_and_partials() {
    let (ok, out, err) = shadergrad(&["grad", STAGED, "--at", "x=3,y=-4"]);
    assert!(ok, "{err}");
    assert!(out.contains("= 1.545644884"), "{out}");
    assert!(out.contains("df/dx = 2.059569795"), "{out}");
    assert!(out.contains("df/dy = 1.592232751"), "{out}");
}

#[test]
fn json_on_both_backends() {
    for backend in ["cpu", "gpu"] {
        let (ok, out, err) = shadergrad(&[
            "grad",
            "(x + y) * z",
            "--at",
            "x=-2,y=5,z=-4",
            "--json",
            "--backend",
            backend,
        ]);
        assert!(ok, "{backend}: {err}");
        let got: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let want = serde_json::json!({"value": -12.0, "gradients": {"x": -4.0, "y": -4.0, "z": 3.0}});
        assert_eq!(got, want, "{backend}: {out}");
    }
}

#[test]
fn json_names_non_ascii_variables_validly() {
    let (ok, out, err) = shadergrad(&["grad", "é * 2 + naïve", "--at", "é=3,naïve=1", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["value"], 7.0);
    assert_eq!(v["gradients"]["é"], 2.0);
    assert_eq!(v["gradients"]["naïve"], 1.0);
}

#[test]
fn softplus_and_log_softmax_from_the_command_line() {
    // log_softmax(x, y, z) = x − ln(eˣ + eʸ + eᶻ): df/dx = 1 − softmax_x, df/dy = −softmax_y.
    // At (1, 2, 3) the softmax is (0.0900306, 0.2447285, 0.6652410).
    for backend in ["cpu", "gpu"] {
        let (ok, out, err) = shadergrad(&[
            "grad",
            "log_softmax(x, y, z) + softplus(x - 1)",
            "--at",
            "x=1,y=2,z=3",
            "--json",
            "--backend",
            backend,
        ]);
        assert!(ok, "{backend}: {err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let near = |got: &serde_json::Value, want: f64| (got.as_f64().unwrap() - want).abs() < 1e-5;
        // −2.4076059644 + ln 2; softplus'(0) = ½.
        assert!(
            near(&v["value"], -2.407_605_964_4 + std::f64::consts::LN_2),
            "{backend}: {out}"
        );
        assert!(
            near(&v["gradients"]["x"], 1.0 - 0.090_030_573_2 + 0.5),
            "{backend}: {out}"
        );
        assert!(near(&v["gradients"]["y"], -0.244_728_471_1), "{backend}: {out}");
        assert!(near(&v["gradients"]["z"], -0.665_240_955_8), "{backend}: {out}");
    }
}

#[test]
fn svg_and_dot_circuits_are_written() {
    let dir = std::env::temp_dir().join(format!("sg-cli-grad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (svg, dot) = (dir.join("c.svg"), dir.join("c.dot"));
    let (ok, _, err) = shadergrad(&[
        "grad",
        "1/(1+exp(-(w0*x0 + w1*x1 + w2)))",
        "--at",
        "w0=2,x0=-1,w1=-3,x1=-2,w2=-3",
        "--svg",
        svg.to_str().unwrap(),
        "--dot",
        dot.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let svg = std::fs::read_to_string(svg).unwrap();
    // The neuron of CS231n: output 0.73, gradient 0.39 on x0's wire, -0.20 on w0's.
    for text in ["<svg", "0.73", "0.39", "-0.20", "exp", "1/x", "+1"] {
        assert!(svg.contains(text), "the SVG shows {text}");
    }
    let dot = std::fs::read_to_string(dot).unwrap();
    assert!(dot.starts_with("digraph") && dot.contains("0.73"), "{dot}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn errors_point_at_the_column_and_name_what_is_missing() {
    let (ok, _, err) = shadergrad(&["grad", "x + * y", "--at", "x=1,y=2"]);
    assert!(!ok);
    assert!(err.contains("column 5") && err.contains("    ^"), "{err}");
    let (ok, _, err) = shadergrad(&["grad", "sigmoidd(x)", "--at", "x=1"]);
    assert!(!ok && err.contains("unknown function `sigmoidd`"), "{err}");
    let (ok, _, err) = shadergrad(&["grad", "x * y", "--at", "x=1"]);
    assert!(!ok && err.contains("`y`"), "{err}");
    let (ok, _, err) = shadergrad(&["grad", "x * 2", "--at", "x=1,q=3"]);
    assert!(!ok && err.contains("\"q\""), "{err}");
    let (ok, _, err) = shadergrad(&["grad", "(x + 1", "--at", "x=1"]);
    assert!(!ok && err.contains("expected `)`"), "{err}");
}
