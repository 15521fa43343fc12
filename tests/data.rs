//! The IDX reader refuses malformed files with a message naming the file and the fault, before
//! trusting any size its header claims.

use std::io::Write;
use std::path::{Path, PathBuf};

use shadergrad::data::Digits;
use shadergrad::Error;

fn idx(magic: [u8; 4], dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut v = magic.to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

fn images(n: u32) -> Vec<u8> {
    idx([0, 0, 8, 3], &[n, 2, 2], &vec![7u8; n as usize * 4])
}

fn labels(n: u32) -> Vec<u8> {
    idx([0, 0, 8, 1], &[n], &vec![1u8; n as usize])
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn refuse(images: &[u8], labels: &[u8], wants: &str) {
    let err = Digits::from_bytes(images, labels, "imgs", "lbls").unwrap_err();
    assert!(matches!(err, Error::BadFile { .. }), "{err}");
    assert!(err.to_string().contains(wants), "expected `{wants}` in: {err}");
    println!("  refused: {err}");
}

#[test]
fn well_formed_files_load_raw_and_gzipped() {
    for (i, l) in [(images(3), labels(3)), (gzip(&images(3)), gzip(&labels(3)))] {
        let d = Digits::from_bytes(&i, &l, "imgs", "lbls").unwrap();
        assert_eq!((d.len(), d.rows, d.cols, d.features()), (3, 2, 2, 4));
    }
}

#[test]
fn bad_magic_truncation_count_mismatch_and_lying_headers_are_refused() {
    refuse(&idx([1, 2, 8, 3], &[1, 2, 2], &[0; 4]), &labels(1), "not an IDX file");
    refuse(&idx([0, 0, 0x0d, 3], &[1, 2, 2], &[0; 16]), &labels(1), "element type");
    refuse(&labels(1), &labels(1), "has 1 dimensions where images (idx3) have 3");
    refuse(&images(3)[..20], &labels(3), "claims");
    refuse(&gzip(&images(3)[..20]), &labels(3), "truncated");
    refuse(&images(3), &labels(2), "holds 3 images but lbls holds 2 labels");
    refuse(&[0, 0, 8], &labels(1), "too short");
    // A header claiming a million images in a 30-byte file: refused, nothing allocated for it.
    refuse(&idx([0, 0, 8, 3], &[1_000_000, 28, 28], &[0; 14]), &labels(1), "claims");
    refuse(
        &gzip(&idx([0, 0, 8, 3], &[1_000_000, 28, 28], &[0; 14])),
        &labels(1),
        "truncated",
    );
    refuse(
        &idx([0, 0, 8, 3], &[u32::MAX, u32::MAX, 28], &[0; 14]),
        &labels(1),
        "absurdly large",
    );
    let mut extra = images(1);
    extra.push(9);
    refuse(&gzip(&extra), &labels(1), "more data than its header claims");
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sg-data-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn datasets_are_found_by_mnist_naming() {
    let dir = temp_dir("find");
    write(&dir, "train-images-idx3-ubyte", &images(2));
    write(&dir, "train-labels-idx1-ubyte", &labels(2));
    write(&dir, "t10k-images-idx3-ubyte.gz", &gzip(&images(1)));
    write(&dir, "t10k-labels-idx1-ubyte.gz", &gzip(&labels(1)));
    let (i, l) = Digits::find(&dir, "train").unwrap();
    assert_eq!(Digits::load(&i, &l).unwrap().len(), 2);
    let (i, l) = Digits::find(&dir, "t10k").unwrap();
    assert_eq!(Digits::load(&i, &l).unwrap().len(), 1);
    let err = Digits::find(&dir, "other").unwrap_err().to_string();
    assert!(err.contains("several datasets (t10k, train)"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();

    let empty = temp_dir("empty");
    assert!(Digits::find(&empty, "train")
        .unwrap_err()
        .to_string()
        .contains("--images"));
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn a_raw_file_whose_header_lies_is_refused_from_disk() {
    let dir = temp_dir("raw");
    write(
        &dir,
        "x-images-idx3-ubyte",
        &idx([0, 0, 8, 3], &[1000, 28, 28], &[0; 100]),
    );
    write(&dir, "x-labels-idx1-ubyte", &labels(1000));
    let err = Digits::load(&dir.join("x-images-idx3-ubyte"), &dir.join("x-labels-idx1-ubyte"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x-images-idx3-ubyte") && err.contains("784000 bytes of data but the file holds 100"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn labels_outside_the_classes_are_named() {
    let d = Digits::from_bytes(&images(3), &idx([0, 0, 8, 1], &[3], &[1, 12, 3]), "i", "l").unwrap();
    let err = d.check_labels(10).unwrap_err().to_string();
    assert_eq!(err, "label 12 at position 1 is outside the 10 classes 0..10");
}

#[test]
fn idx_labels_of_one_class_are_refused_as_nothing_to_classify() {
    // Every label 1: a model of it would score 100% and know nothing.
    let dir = tempfile::tempdir().unwrap();
    let (imgs, lbls) = (dir.path().join("imgs.idx"), dir.path().join("lbls.idx"));
    std::fs::write(&imgs, images(12)).unwrap();
    std::fs::write(&lbls, labels(12)).unwrap();
    let source = shadergrad::data::Source::Idx {
        images: imgs,
        labels: lbls,
    };
    let err = source
        .load_split(shadergrad::data::Task::Classify, None, 0, true)
        .unwrap_err();
    assert!(err.to_string().contains("one class only (1) in its 12 rows"), "{err}");
}
