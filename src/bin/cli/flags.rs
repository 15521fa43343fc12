//! Flag values the commands share, parsed here so every message names the flag at fault.

use std::path::Path;

use shadergrad::nn::{self, Activation};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::{Error, Result};

/// The device a `--backend` flag names, or the best one (see `Device::best`).
pub fn device(flag: &Option<String>) -> Result<shadergrad::Device> {
    device_with_note(flag).map(|(device, _)| device)
}

/// [`device`], and the line that says why `auto` passed over a GPU, if it did (see
/// `Device::with_note`): said by `train` alone, once.
pub fn device_with_note(flag: &Option<String>) -> Result<(shadergrad::Device, Option<String>)> {
    let env = std::env::var("SHADERGRAD_BACKEND")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (name, from) = match (flag, &env) {
        (Some(name), _) => (name.as_str(), "--backend"),
        (None, Some(name)) => (name.trim(), "SHADERGRAD_BACKEND"),
        (None, None) => ("auto", "--backend"),
    };
    shadergrad::Device::with_note(name).map_err(|e| match e {
        shadergrad::Error::InvalidValue { value, expected, .. } => shadergrad::Error::InvalidValue {
            name: from.into(),
            value,
            expected,
        },
        other => other,
    })
}

/// `256,256` as sizes, for `flag`.
pub fn sizes(text: &str, flag: &str) -> Result<Vec<usize>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|s| s.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::invalid(flag, text, "comma-separated positive sizes such as 256,256"))
}

/// `--optimizer`: `sgd`, `momentum`, `nesterov`, `adam`, `adamw`, at learning rate `lr`.
pub fn optimizer(name: &str, lr: f64) -> Result<Optimizer> {
    Ok(match name {
        "sgd" => Optimizer::sgd(lr),
        "momentum" => Optimizer::momentum(lr),
        "nesterov" => Optimizer::nesterov(lr),
        "adam" => Optimizer::adam(lr),
        "adamw" => Optimizer::adamw(lr),
        other => {
            return Err(Error::invalid(
                "--optimizer",
                other,
                "sgd, momentum, nesterov, adam or adamw",
            ))
        }
    })
}

/// `--schedule`: `constant`, `cosine` (over `total_steps`), or `step:EVERY:GAMMA`.
pub fn schedule(text: &str, total_steps: u64) -> Result<Schedule> {
    let parts: Vec<&str> = text.split(':').collect();
    Ok(match parts.as_slice() {
        ["constant"] => Schedule::Constant,
        ["cosine"] => Schedule::Cosine {
            total: total_steps,
            min_factor: 0.0,
        },
        ["step", every, gamma] => Schedule::Step {
            every: every
                .parse()
                .map_err(|_| Error::invalid("--schedule", text, "step:EVERY:GAMMA with whole EVERY"))?,
            gamma: gamma
                .parse()
                .map_err(|_| Error::invalid("--schedule", text, "step:EVERY:GAMMA with numeric GAMMA"))?,
        },
        _ => {
            return Err(Error::invalid(
                "--schedule",
                text,
                "constant, cosine or step:EVERY:GAMMA",
            ))
        }
    })
}

/// `--activation`.
pub fn activation(name: &str) -> Result<Activation> {
    nn::activation(name).map_err(|e| match e {
        Error::InvalidValue { value, expected, .. } => Error::InvalidValue {
            name: "--activation".into(),
            value,
            expected,
        },
        other => other,
    })
}

/// A file `flag` names for output, checked before the work that ends in writing it: its
/// directory exists and takes a file.
pub fn output_path(path: &Path, flag: &str) -> Result<()> {
    shadergrad::io::check_writable(path).map_err(|e| {
        Error::invalid(
            flag,
            path.display().to_string(),
            format!("a file that can be written ({e})"),
        )
    })
}

/// `--plot` (or any chart file): an `.svg` or `.png` that can be written, checked before the work
/// that ends in writing it.
pub fn chart_path(path: &Path, flag: &str) -> Result<()> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    match ext.as_deref() {
        Some("svg" | "png") => output_path(path, flag),
        _ => Err(Error::invalid(
            flag,
            path.display().to_string(),
            "a file name ending in .svg or .png",
        )),
    }
}

/// A duration such as `90s`, `5m`, `1h`, `0` (seconds when no unit is given), for `flag`.
pub fn duration(text: &str, flag: &str) -> Result<std::time::Duration> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let seconds = match unit {
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .map(|n| n * seconds)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| Error::invalid(flag, text, "a duration such as 90s, 5m or 1h, or 0"))
}

/// `--at x=3,y=-4` (commas or spaces between pairs) as `(name, value)` pairs.
pub fn bindings(text: &str) -> Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    for part in text.split([',', ' ']).filter(|p| !p.trim().is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(Error::invalid("--at", part, "name=value pairs such as x=3,y=-4"));
        };
        let v: f64 = value
            .trim()
            .parse()
            .map_err(|_| Error::invalid("--at", part, format!("a number after `{}=`", name.trim())))?;
        out.push((name.trim().to_string(), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_bad_ones_name_the_flag() {
        assert_eq!(sizes("256, 128", "--hidden").unwrap(), [256, 128]);
        assert!(sizes("256,0", "--hidden").unwrap_err().to_string().contains("--hidden"));
        assert_eq!(optimizer("adam", 1e-3).unwrap().name(), "adam");
        let err = optimizer("rmsprop", 0.1).unwrap_err().to_string();
        assert!(err.contains("--optimizer") && err.contains("adam"), "{err}");
        let err = schedule("linear", 10).unwrap_err().to_string();
        assert!(err.contains("--schedule") && err.contains("cosine"), "{err}");
        assert_eq!(
            schedule("step:10:0.5", 0).unwrap(),
            Schedule::Step { every: 10, gamma: 0.5 }
        );
        let err = activation("swish").unwrap_err().to_string();
        assert!(err.contains("--activation") && err.contains("relu"), "{err}");
        assert!(chart_path(Path::new("c.jpg"), "--plot").is_err());
        assert_eq!(
            bindings("x=3, y=-4").unwrap(),
            vec![("x".to_string(), 3.0), ("y".to_string(), -4.0)]
        );
        assert!(bindings("x:3").unwrap_err().to_string().contains("--at"));
        assert_eq!(duration("90s", "--every").unwrap().as_secs(), 90);
        assert_eq!(duration("2m", "--every").unwrap().as_secs(), 120);
        assert_eq!(duration("0", "--every").unwrap().as_secs(), 0);
        assert!(duration("soon", "--every").unwrap_err().to_string().contains("--every"));
    }
}
