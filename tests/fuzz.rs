//! Untrusted inputs are safe to open: the IDX, CSV, NPY, NPZ, PNG and PGM readers, a table's
//! preprocessing (inference, fitting, encoding new rows), the checkpoint loader and the
//! expression parser get random and mutated inputs and must answer each with a value or an error: no
//! panic, no hang, no allocation a header asks for before the file backs it.
//!
//! CI runs 2,000 inputs per target; `SHADERGRAD_FUZZ_CASES=100000 cargo test --release --test fuzz`
//! is the long fuzz run recorded in the README.

use std::io::Write;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use std::cell::Cell;

use proptest::test_runner::{Config, TestRunner};
use shadergrad::data::{image, npy, table, Digits, Task};
use shadergrad::model::Model;

mod common;

fn cases() -> u32 {
    std::env::var("SHADERGRAD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn runner(seed: u64, cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed_bytes(seed)),
    )
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b
}

/// A seed input and mutations of it: flipped bytes, truncations, insertions, random tails.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len();
    (
        prop::collection::vec((0..len.max(1), any::<u8>()), 0..6),
        0..=len,
        prop::collection::vec(any::<u8>(), 0..24),
        any::<bool>(),
    )
        .prop_map(move |(flips, cut, tail, truncate)| {
            let mut v = seed.clone();
            for (i, b) in flips {
                if i < v.len() {
                    v[i] = b;
                }
            }
            if truncate {
                v.truncate(cut);
            }
            v.extend(tail);
            v
        })
}

fn idx(magic: [u8; 4], dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut v = magic.to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Runs `target` on every input, asserting each answer comes quickly; reports the count.
fn fuzz<S: Strategy>(name: &str, seed: u64, strategy: S, target: impl Fn(&S::Value) -> bool) {
    fuzz_cases(name, seed, cases(), strategy, target)
}

/// [`fuzz`] with `cases` inputs.
fn fuzz_cases<S: Strategy>(name: &str, seed: u64, cases: u32, strategy: S, target: impl Fn(&S::Value) -> bool) {
    let start = Instant::now();
    let slowest = Cell::new(Duration::ZERO);
    let accepted = Cell::new(0u32);
    runner(seed, cases)
        .run(&strategy, |input| {
            let t = Instant::now();
            if target(&input) {
                accepted.set(accepted.get() + 1);
            }
            slowest.set(slowest.get().max(t.elapsed()));
            prop_assert!(t.elapsed() < Duration::from_secs(2), "an input took {:?}", t.elapsed());
            Ok(())
        })
        .unwrap();
    println!(
        "  {name}: {cases} inputs, {} accepted, the rest refused with errors; slowest {:?}, total {:?}",
        accepted.get(),
        slowest.get(),
        start.elapsed()
    );
}

#[test]
fn the_idx_reader_never_panics() {
    let images = idx([0, 0, 8, 3], &[3, 4, 4], &[7; 48]);
    let labels = idx([0, 0, 8, 1], &[3], &[1, 2, 3]);
    let strategy = prop_oneof![
        mutated(images.clone()),
        mutated(gzip(&images)),
        prop::collection::vec(any::<u8>(), 0..64),
    ];
    fuzz("IDX images", 1, strategy, |bytes| {
        Digits::from_bytes(bytes, &labels, "images", "labels").is_ok()
    });
    let strategy = prop_oneof![mutated(labels.clone()), mutated(gzip(&labels))];
    fuzz("IDX labels", 2, strategy, |bytes| {
        Digits::from_bytes(&images, bytes, "images", "labels").is_ok()
    });
}

#[test]
fn the_checkpoint_loader_never_panics() {
    let mut meta = std::collections::HashMap::new();
    meta.insert("sizes".to_string(), "3,2".to_string());
    let w = [0.5f32; 6];
    let b = [0.1f32; 2];
    let views = vec![
        (
            "0.weight".to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 3], bytemuck::cast_slice(&w))
                .unwrap(),
        ),
        (
            "0.bias".to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], bytemuck::cast_slice(&b)).unwrap(),
        ),
    ];
    let valid = safetensors::serialize(views, Some(meta)).unwrap();
    assert!(Model::from_bytes(&valid, "seed.safetensors".as_ref()).is_ok());
    let strategy = prop_oneof![mutated(valid.clone()), prop::collection::vec(any::<u8>(), 0..128)];
    fuzz("safetensors checkpoints", 3, strategy, |bytes| {
        Model::from_bytes(bytes, "fuzz.safetensors".as_ref()).is_ok()
    });
}

#[test]
fn the_expression_parser_never_panics() {
    let alphabet: Vec<char> = "xyz019.e+-*/^(), sigmodrelutanhexplgqrtabsmaxin_#é".chars().collect();
    let random =
        prop::collection::vec(prop::sample::select(alphabet), 0..40).prop_map(|v| v.into_iter().collect::<String>());
    let valid = "(x + sigmoid(y)) / (sigmoid(x) + (x + y)^2) - max(x, 2e-3) * leaky_relu(z, 0.1)".to_string();
    let mutations = mutated(valid.into_bytes()).prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    let deep = (1usize..2000).prop_map(|n| format!("{}x{}", "(".repeat(n), ")".repeat(n)));
    let long = (1usize..3000).prop_map(|n| vec!["x"; n].join("+"));
    let strategy = prop_oneof![random, mutations, deep, long];
    fuzz("expressions", 4, strategy, |text| shadergrad::expr::parse(text).is_ok());
}

#[test]
fn the_csv_reader_never_panics() {
    let valid = b"a, b ,label,y\n1,2.5,x,0\n-3,4e2,\"q,r\",1\n0.5,-0,z,1\n".to_vec();
    let columns = table::Columns {
        targets: vec!["y".into()],
        drop: vec!["label".into()],
        ..Default::default()
    };
    assert!(table::parse_csv(&valid, "seed.csv", &columns, Task::Classify).is_ok());
    let alphabet: Vec<u8> = b"ab,y\n\r\"0123456789.-+eEinfaN \xff".to_vec();
    let random = prop::collection::vec(prop::sample::select(alphabet), 0..80);
    let strategy = prop_oneof![mutated(valid), random, tables()];
    fuzz("CSV tables", 5, strategy, |bytes| {
        let classes = table::parse_csv(bytes, "fuzz.csv", &columns, Task::Classify).is_ok();
        let labels = table::parse_csv(bytes, "fuzz.csv", &columns, Task::Multilabel).is_ok();
        classes | labels
    });
}

/// Tables of likely cells, ragged or not, as spreadsheets and pandas write them (a byte-order
/// mark, CRLF, an index column, quoted cells with commas and line ends, missing markers, text
/// classes, yes/no): they reach the parsing of numbers, categories, classes and labels.
fn tables() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop::sample::select(vec![
        "0",
        "1",
        "2",
        "-1.5",
        "1e3",
        "x",
        "",
        "nan",
        "inf",
        "\"1\"",
        " 3 ",
        "NA",
        "?",
        "yes",
        "No",
        "1st class",
        "\"a,b\"",
        "\"two\nlines\"",
        "null",
        "Adelie",
    ]);
    let header = prop::sample::select(vec![
        "a,b,label,y",
        ",b,label,y",
        "Unnamed: 0,b,label,y",
        "a,,label,y",
        "a,b,label",
    ]);
    let ending = prop::sample::select(vec!["\n", "\r\n"]);
    // Mostly rows of the header's width, some ragged.
    let width = prop_oneof![4 => Just(4usize), 1 => 2usize..6];
    let row = width
        .prop_flat_map(move |w| prop::collection::vec(cell.clone(), w))
        .prop_map(|c| c.join(","));
    (any::<bool>(), header, ending, prop::collection::vec(row, 0..30)).prop_map(|(bom, header, end, rows)| {
        let mut text = if bom { "\u{feff}".to_string() } else { String::new() };
        text += header;
        for r in rows {
            text += end;
            text += &r;
        }
        text.into_bytes()
    })
}

/// A table big enough that the reader cuts it into pieces for its workers (64 KiB each at
/// least), quoted cells among its rows so that the cuts must respect quotes.
fn big_table() -> Vec<u8> {
    let mut text = String::from(",kind,b,note,y\n");
    for i in 0..6000 {
        text += &format!(
            "{i},{},{}.5,\"n,{i}\nx\",{}\n",
            ["red", "NA", "blue"][i % 3],
            i % 17,
            ["a", "b"][i % 2]
        );
    }
    text.into_bytes()
}

#[test]
fn the_table_pipeline_never_panics() {
    // From bytes to a model's inputs: read, infer each column, fit the preprocessing on the
    // first rows, encode every row (unseen categories, text where numbers were), and encode a
    // second fuzzed table with it, as predict does. Fewer cases of the big table: each is
    // 250 KB.
    let columns = table::Columns {
        targets: vec!["y".into()],
        categorical: vec!["b".into()],
        ..Default::default()
    };
    let markers = table::Markers::new(None);
    let pipeline = |bytes: &[u8], other: &[u8]| -> bool {
        let Ok(t) = table::read_csv(bytes, "fuzz.csv", &markers) else {
            return false;
        };
        let Ok(info) = table::infer(&t, &columns) else {
            return false;
        };
        let all: Vec<usize> = (0..t.rows).collect();
        let Ok((_, rows)) = table::targets(&t, &columns.targets, Task::Classify, &all) else {
            return false;
        };
        let fitted = &rows[..rows.len().div_ceil(2)];
        let schema = table::Schema::fit(&t, &info, fitted, None, None);
        let ok = schema.encode(&t, &rows).is_ok();
        if let Ok(new) = table::read_csv(other, "other.csv", &markers) {
            let every: Vec<usize> = (0..new.rows).collect();
            let _ = schema.encode(&new, &every);
        }
        ok
    };
    fuzz("table pipeline", 9, (tables(), tables()), |(a, b)| pipeline(a, b));
    let big = big_table();
    assert!(pipeline(&big, &big), "the big table reads");
    let few = (cases() / 20).max(20);
    // Half of them cut back to their last line end, so that a ragged tail does not end every
    // input at the reader.
    let whole_lines = mutated(big.clone()).prop_map(|mut v| {
        let end = v.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        v.truncate(end);
        v
    });
    let big = prop_oneof![mutated(big), whole_lines];
    fuzz_cases("big tables (cut into pieces)", 10, few, (big, tables()), |(a, b)| {
        pipeline(a, b)
    });
}

#[test]
fn the_npy_and_npz_readers_never_panic() {
    let x = common::npy_f64(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let fortran = common::npy("<i2", true, &[2, 3], &[1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]);
    let y = common::npy("|u1", false, &[3], &[0, 1, 1]);
    let y_array = npy::parse(&y, "y.npy").unwrap();
    // Well-formed headers of every kind the reader knows and some it does not, over data of
    // the size the header claims, a byte short or a byte over.
    let kinds = vec![
        ("<f4", 4),
        (">f8", 8),
        ("<i8", 8),
        ("|u1", 1),
        ("|b1", 1),
        (">u2", 2),
        ("<f2", 2),
        ("<c8", 8),
    ];
    let headers = (
        prop::sample::select(kinds),
        any::<bool>(),
        prop::collection::vec(0usize..5, 0..4),
        -1i64..=1,
        any::<u8>(),
    )
        .prop_map(|((d, size), f, shape, off, fill)| {
            let len = (shape.iter().product::<usize>() * size) as i64 + off;
            common::npy(d, f, &shape, &vec![fill; len.max(0) as usize])
        });
    let strategy = prop_oneof![
        mutated(x.clone()),
        mutated(fortran),
        headers,
        prop::collection::vec(any::<u8>(), 0..96)
    ];
    fuzz("NPY arrays", 6, strategy, |bytes| {
        // Accepted: parsed; a parsed array also goes through the data set checks.
        npy::parse(bytes, "fuzz.npy")
            .inspect(|a| drop(npy::dataset(a, &y_array, Task::Classify, "fuzz")))
            .is_ok()
    });
    let stored = common::npz(&[("x", &x), ("y", &y)], false);
    let deflated = common::npz(&[("x", &x), ("y", &y)], true);
    assert!(npy::parse_npz(&deflated, "seed.npz").is_ok());
    let strategy = prop_oneof![mutated(stored), mutated(deflated)];
    fuzz("NPZ archives", 7, strategy, |bytes| {
        npy::parse_npz(bytes, "fuzz.npz").is_ok()
    });
}

#[test]
fn the_image_readers_never_panic() {
    let mut png_bytes = Vec::new();
    {
        let mut e = png::Encoder::new(&mut png_bytes, 3, 2);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Eight);
        let mut w = e.write_header().unwrap();
        w.write_image_data(&[
            10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180,
        ])
        .unwrap();
    }
    let pgm = b"P5\n# a comment\n3 2\n255\n\x00\x10\x20\x30\x40\x50".to_vec();
    let ascii = b"P2 3 2 15\n0 1 2\n3 4 15\n".to_vec();
    for seed in [&png_bytes, &pgm, &ascii] {
        assert_eq!(image::parse(seed, "seed").unwrap().pixels.len(), 6);
    }
    let strategy = prop_oneof![mutated(png_bytes), mutated(pgm), mutated(ascii)];
    fuzz("PNG and PGM images", 8, strategy, |bytes| {
        image::parse(bytes, "fuzz").is_ok()
    });
}
