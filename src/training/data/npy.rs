//! NumPy arrays: `.npy` files (format versions 1 to 3) and `.npz` archives of them (as
//! `np.savez` and `np.savez_compressed` write), of float, integer or bool dtypes in either byte
//! order. A Fortran-order array is read correctly: its values are reordered to rows (C order).
//!
//! Parsed here rather than by a general reader so that nothing is allocated for a shape the
//! file does not back: the header's claim is checked against the bytes there are first.

use std::io::Read;
use std::path::Path;

use super::{Dataset, Features, Scaling, Targets, Task};
use crate::engine::error::{Error, Result};

/// An array read from a `.npy`, as f64 values in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
    /// The file's dtype, for messages (`<f4`, `|u1`, ...).
    pub dtype: String,
}

const MAGIC: &[u8] = b"\x93NUMPY";
/// More values than this in one array is a header that lies (or a data set no MLP here fits).
const MAX_VALUES: u64 = 1 << 36;

/// One value of a Python literal in a `.npy` header.
#[derive(Debug, PartialEq)]
enum Literal {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// Parses the header's dict literal: `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_header(text: &str) -> std::result::Result<Vec<(String, Literal)>, String> {
    let mut chars = text.trim().chars().peekable();
    let mut out = Vec::new();
    let skip = |c: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while c.peek().is_some_and(|ch| ch.is_whitespace()) {
            c.next();
        }
    };
    let string = |c: &mut std::iter::Peekable<std::str::Chars<'_>>| -> std::result::Result<String, String> {
        let quote = c
            .next()
            .filter(|q| *q == '\'' || *q == '"')
            .ok_or("expected a quoted string")?;
        let mut s = String::new();
        for ch in c.by_ref() {
            if ch == quote {
                return Ok(s);
            }
            s.push(ch);
        }
        Err("a string is not closed".into())
    };
    if chars.next() != Some('{') {
        return Err("the header is not a dict".into());
    }
    loop {
        skip(&mut chars);
        match chars.peek() {
            Some('}') => break,
            None => return Err("the header's dict is not closed".into()),
            _ => {}
        }
        let key = string(&mut chars)?;
        skip(&mut chars);
        if chars.next() != Some(':') {
            return Err(format!("no `:` after the key `{key}`"));
        }
        skip(&mut chars);
        let value = match chars.peek() {
            Some('\'' | '"') => Literal::Str(string(&mut chars)?),
            Some('(') => {
                chars.next();
                let mut dims = Vec::new();
                let mut num = String::new();
                loop {
                    match chars.next() {
                        Some(')') => break,
                        Some(',') => {
                            if !num.trim().is_empty() {
                                dims.push(num.trim().parse().map_err(|_| format!("`{num}` is not a size"))?);
                            }
                            num.clear();
                        }
                        Some(ch) => num.push(ch),
                        None => return Err("the shape is not closed".into()),
                    }
                    if num.len() > 24 {
                        return Err("a size in the shape is too long".into());
                    }
                }
                if !num.trim().is_empty() {
                    dims.push(num.trim().parse().map_err(|_| format!("`{num}` is not a size"))?);
                }
                Literal::Tuple(dims)
            }
            _ => {
                let word: String = std::iter::from_fn(|| chars.next_if(|ch| ch.is_alphanumeric())).collect();
                match word.as_str() {
                    "True" => Literal::Bool(true),
                    "False" => Literal::Bool(false),
                    other => return Err(format!("`{other}` is not a value a .npy header holds")),
                }
            }
        };
        out.push((key, value));
        skip(&mut chars);
        match chars.next() {
            Some(',') => {}
            Some('}') => break,
            _ => return Err("expected `,` or `}` in the header".into()),
        }
    }
    Ok(out)
}

/// A dtype: little-endian or not, kind (`f`, `i`, `u`, `b`) and size in bytes.
fn parse_dtype(descr: &str) -> Option<(bool, char, usize)> {
    let mut c = descr.chars();
    let order = c.next()?;
    let kind = c.next()?;
    let size: usize = c.as_str().parse().ok()?;
    let little = match order {
        '<' | '|' | '=' => true,
        '>' => false,
        _ => return None,
    };
    let ok = matches!((kind, size), ('f', 4 | 8) | ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1));
    ok.then_some((little, kind, size))
}

fn value(bytes: &[u8], little: bool, kind: char) -> f64 {
    let mut b = [0u8; 8];
    let n = bytes.len();
    if little {
        b[..n].copy_from_slice(bytes);
    } else {
        for (i, &x) in bytes.iter().rev().enumerate() {
            b[i] = x;
        }
    }
    let sign_extend = |v: u64| -> i64 {
        let shift = 64 - 8 * n as u32;
        ((v << shift) as i64) >> shift
    };
    let raw = u64::from_le_bytes(b);
    match (kind, n) {
        ('f', 4) => f32::from_bits(raw as u32) as f64,
        ('f', _) => f64::from_bits(raw),
        ('i', _) => sign_extend(raw) as f64,
        _ => raw as f64, // 'u' and 'b'
    }
}

/// Parses a whole `.npy` file; `name` is for errors.
pub fn parse(bytes: &[u8], name: &str) -> Result<Array> {
    let bad = |why: String| Error::bad_file(name, why);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file: it does not start with \\x93NUMPY".into()));
    }
    let (major, header_start) = match bytes[6] {
        1 => (1, 10),
        2 | 3 => (bytes[6], 12),
        v => return Err(bad(format!("format version {v} is not one of 1, 2, 3"))),
    };
    if bytes.len() < header_start {
        return Err(bad("too short for a .npy header".into()));
    }
    let header_len = if major == 1 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let data_start = header_start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("the header runs past the end of the file".into()))?;
    let text =
        std::str::from_utf8(&bytes[header_start..data_start]).map_err(|_| bad("the header is not text".into()))?;
    let entries = parse_header(text).map_err(|why| bad(format!("unreadable header: {why}")))?;
    let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let Some(Literal::Str(descr)) = get("descr") else {
        return Err(bad("the header has no 'descr' string".into()));
    };
    let Some((little, kind, size)) = parse_dtype(descr) else {
        return Err(bad(format!(
            "dtype `{descr}` is not a number type this reads (floats f4/f8, integers i1-i8 and u1-u8, bool)"
        )));
    };
    let fortran = match get("fortran_order") {
        Some(Literal::Bool(f)) => *f,
        _ => return Err(bad("the header has no 'fortran_order' True or False".into())),
    };
    let Some(Literal::Tuple(dims)) = get("shape") else {
        return Err(bad("the header has no 'shape' tuple".into()));
    };
    let count = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_VALUES)
        .ok_or_else(|| bad(format!("shape {dims:?} is absurdly large")))?;
    let data = &bytes[data_start..];
    let want = count * size as u64;
    if (data.len() as u64) < want {
        return Err(bad(format!(
            "truncated: shape {dims:?} of {descr} needs {want} bytes of data, the file holds {}",
            data.len()
        )));
    }
    if data.len() as u64 > want {
        return Err(bad(format!("holds more data than its shape {dims:?} of {descr} needs")));
    }
    let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    let mut values: Vec<f64> = data.chunks_exact(size).map(|c| value(c, little, kind)).collect();
    if fortran && shape.len() > 1 {
        values = to_c_order(&values, &shape);
    }
    Ok(Array {
        shape,
        values,
        dtype: descr.clone(),
    })
}

/// Column-major values of `shape` in row-major order.
fn to_c_order(values: &[f64], shape: &[usize]) -> Vec<f64> {
    let mut strides = vec![1usize; shape.len()];
    for i in 1..shape.len() {
        strides[i] = strides[i - 1] * shape[i - 1];
    }
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        out.push(values[index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()]);
        // The next row-major index: the last axis fastest.
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a `.npy` file.
pub fn load(path: &Path) -> Result<Array> {
    parse(&read_file(path)?, &path.display().to_string())
}

/// The arrays `x` and `y` of an `.npz` archive (`y` absent is None); `name` is for errors.
pub fn parse_npz(bytes: &[u8], name: &str) -> Result<(Array, Option<Array>)> {
    let bad = |why: String| Error::bad_file(name, why);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not an .npz (zip) archive: {e}")))?;
    let mut member = |key: &str| -> Result<Option<Array>> {
        let file = match zip.by_name(&format!("{key}.npy")) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(bad(format!("its member {key}.npy cannot be read: {e}"))),
        };
        // Read no more than the archive says the member holds (and never past the cap), so a
        // lying size cannot make it inflate without end.
        let limit = file.size().min(MAX_VALUES * 8 + (1 << 16));
        let mut data = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("its member {key}.npy cannot be read: {e}")))?;
        if data.len() as u64 > limit {
            return Err(bad(format!("its member {key}.npy holds more than its size says")));
        }
        parse(&data, &format!("{name} ({key}.npy)")).map(Some)
    };
    let x = member("x")?.ok_or_else(|| bad("holds no array named x (x.npy), the features".into()))?;
    let y = member("y")?;
    Ok((x, y))
}

/// Features `[n, f]` (a 1-D array is one feature; more dimensions are flattened per example)
/// and targets `[n]` or `[n, k]` as a data set for `task`; `source` names them in errors.
pub fn dataset(x: &Array, y: &Array, task: Task, source: &str) -> Result<Dataset> {
    let bad = |why: String| Error::bad_file(source, why);
    let n = *x
        .shape
        .first()
        .ok_or_else(|| bad("the features are a scalar, not an array".into()))?;
    let f = x.values.len().checked_div(n).unwrap_or(0);
    if n == 0 || f == 0 {
        return Err(bad(format!("the features have shape {:?}: no examples", x.shape)));
    }
    let (yn, k) = match y.shape.as_slice() {
        [m] => (*m, 1),
        [m, k] => (*m, *k),
        other => return Err(bad(format!("the targets have shape {other:?}, not [n] or [n, k]"))),
    };
    if yn != n {
        return Err(bad(format!(
            "the features have {n} examples (shape {:?}) but the targets {yn} (shape {:?})",
            x.shape, y.shape
        )));
    }
    // NumPy's indices (from 0), as the user would look the value up.
    let at = |i: usize| {
        if y.shape.len() == 1 {
            format!("y[{i}]")
        } else {
            format!("y[{}, {}]", i / k, i % k)
        }
    };
    if let Some(i) = x.values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("feature x[{}, {}] is {}", i / f, i % f, x.values[i])));
    }
    if let Some(i) = y.values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("target {} is {}", at(i), y.values[i])));
    }
    let target_names = if k == 1 && y.shape.len() == 1 {
        vec!["y".to_string()]
    } else {
        (0..k).map(|j| format!("y{j}")).collect()
    };
    let targets = match task {
        Task::Classify => {
            if k != 1 {
                return Err(bad(format!(
                    "the targets have shape {:?}: classification takes one class per example, [n]",
                    y.shape
                )));
            }
            super::table::number_classes(&y.values, |i| format!("target {}", at(i))).map_err(bad)?
        }
        Task::Regress => Targets::Values {
            values: y.values.iter().map(|&v| v as f32).collect(),
            k,
        },
        Task::Multilabel => {
            if let Some(i) = y.values.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(bad(format!(
                    "target {} is {}, not 0 or 1 as a multi-label target must be",
                    at(i),
                    y.values[i]
                )));
            }
            Targets::Labels {
                values: y.values.iter().map(|&v| v as f32).collect(),
                k,
            }
        }
    };
    let data = Dataset {
        features: Features::Floats(x.values.iter().map(|&v| v as f32).collect()),
        feature_count: f,
        feature_names: (0..f).map(|j| format!("x{j}")).collect(),
        targets,
        target_names,
        image: None,
        scaling: Scaling::default(),
        schema: None,
        weights: None,
    };
    data.check(source)?;
    Ok(data)
}

/// A data set from `--data x.npy --targets y.npy`, or from one `.npz` holding `x` and `y`.
pub fn load_dataset(data: &Path, targets: Option<&Path>, task: Task) -> Result<Dataset> {
    let name = data.display().to_string();
    let (x, y, source) = match targets {
        Some(t) => (load(data)?, load(t)?, format!("{name} and {}", t.display())),
        None => {
            let (x, y) = parse_npz(&read_file(data)?, &name)?;
            let y = y.ok_or_else(|| Error::bad_file(data, "holds no array named y (y.npy), the targets"))?;
            (x, y, name)
        }
    };
    dataset(&x, &y, task, &source)
}
