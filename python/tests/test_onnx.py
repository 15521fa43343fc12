"""ONNX export checked by a real runtime: `onnx.checker.check_model(full_check=True)` passes, and
onnxruntime's answers on raw rows equal `shadergrad predict`'s on the same rows (identical
classes and labels, probabilities within 1e-5, values within 1e-4 · max(1, |value|)), for every
task, activation and norm, dropout, tables with text, missing cells and unseen categories, and
the digits model on PNG pixels. Each kind covered is counted, and the counts are checked."""
import collections
import csv
import io
import json
import struct
import zlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import shadergrad
from conftest import cli

COVERED = collections.Counter()
MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}


def session(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def table_feeds(sess, csv_text):
    """The raw rows of a CSV as the exported model's inputs: numbers as float (NaN where a cell
    is missing), categories as strings ("" where missing)."""
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    feeds = {}
    for i in sess.get_inputs():
        cells = [r[i.name].strip() for r in rows]
        missing = [c.lower() in MISSING for c in cells]
        if i.type == "tensor(string)":
            feeds[i.name] = np.array([[("" if m else c)] for c, m in zip(cells, missing)], dtype=object)
            COVERED["missing categories"] += sum(missing)
        else:
            feeds[i.name] = np.array([[np.nan if m else float(c)] for c, m in zip(cells, missing)], dtype=np.float32)
            COVERED["missing numbers"] += sum(missing)
    return feeds


def compare(task, sess, feeds, records):
    """onnxruntime's answers against `shadergrad predict --json`'s records."""
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(None, feeds)))
    if task == "classify":
        assert out["label"].tolist() == [r["class"] for r in records]
        np.testing.assert_allclose(out["probabilities"], [r["probabilities"] for r in records], atol=1e-5, rtol=0)
    elif task == "regress":
        want = np.array([r["values"] for r in records])
        assert np.all(np.abs(out["values"] - want) <= 1e-4 * np.maximum(1, np.abs(want))), (out["values"], want)
    else:
        assert out["labels"].tolist() == [r["labels"] for r in records]
        np.testing.assert_allclose(out["probabilities"], [r["probabilities"] for r in records], atol=1e-5, rtol=0)
    COVERED[task] += 1


def table(rows=240, seed=0):
    """A table with text classes and categories, missing cells of every marker, numbers, two
    labels and two values to learn."""
    rng = np.random.default_rng(seed)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["size", "weight", "colour", "member", "plan", "red", "big", "price", "area"])
    for i in range(rows):
        size, weight = rng.normal(50, 10), rng.normal(0, 1)
        colour = ["red", "green", "blue"][i % 3] if i > 1 else "mauve"
        member = ["yes", "no"][rng.integers(2)]
        plan = "gold" if size + 10 * weight > 55 else ("silver" if colour == "red" else "bronze")
        cells = [f"{size:.2f}", f"{weight:.3f}", colour, member, plan, int(colour == "red"), int(size > 50),
                 f"{size * 2 + weight:.3f}", f"{size * weight:.3f}"]
        if i % 11 == 3:
            cells[0] = ["NA", "", "?", "null"][i % 4]
        if i % 13 == 5:
            cells[2] = ["", "NA", "None"][i % 3]
        w.writerow(cells)
    return out.getvalue()


def unseen(text):
    """Rows of `text` with categories training never saw."""
    lines = text.splitlines()
    extra = [line.replace(",red,", ",purple,").replace(",green,", ",teal,") for line in lines[1:6]]
    COVERED["unseen categories"] += sum(",purple," in e or ",teal," in e for e in extra)
    return "\n".join(lines + extra) + "\n"


@pytest.mark.parametrize(
    "task, targets, flags",
    [
        ("classify", "plan", ["--drop", "red,big,price,area"]),
        ("classify", "plan", ["--drop", "red,big,price,area", "--norm", "layer", "--dropout", "0.2"]),
        ("classify", "plan", ["--drop", "red,big,price,area", "--norm", "batch"]),
        ("regress", "price,area", ["--drop", "plan,red,big"]),
        ("multilabel", "red,big", ["--drop", "plan,price,area"]),
    ],
)
def test_tables_export_with_their_preprocessing(tmp_path, task, targets, flags):
    text = table()
    (tmp_path / "t.csv").write_text(text)
    (tmp_path / "new.csv").write_text(unseen(text))
    cli("train", "--data", "t.csv", "--target", targets, "--task", task, "--epochs", "3", "--hidden", "16",
        "--backend", "cpu", *flags, cwd=tmp_path)
    cli("export", "--model", "model.safetensors", "--out", "model.onnx", cwd=tmp_path)
    sess = session(tmp_path / "model.onnx")
    out = cli("predict", "--model", "model.safetensors", "--data", "new.csv", "--json", "--backend", "cpu",
              cwd=tmp_path)
    compare(task, sess, table_feeds(sess, unseen(text)), [json.loads(l) for l in out.splitlines()])
    COVERED["stack " + (" ".join(flags[2:]) or "plain")] += 1


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "silu", "softplus"])
def test_every_activation_exports(tmp_path, activation):
    text = table(seed=1)
    (tmp_path / "t.csv").write_text(text)
    cli("train", "--data", "t.csv", "--target", "plan", "--task", "classify", "--drop", "red,big,price,area",
        "--epochs", "2", "--hidden", "8,8", "--activation", activation, "--backend", "cpu", cwd=tmp_path)
    cli("export", "--model", "model.safetensors", "--out", "model.onnx", cwd=tmp_path)
    sess = session(tmp_path / "model.onnx")
    out = cli("predict", "--model", "model.safetensors", "--data", "t.csv", "--json", "--backend", "cpu", cwd=tmp_path)
    compare("classify", sess, table_feeds(sess, text), [json.loads(l) for l in out.splitlines()])
    COVERED["activation " + activation] += 1


def png(pixels, width, height):
    """An 8-bit grayscale PNG of `pixels` (row by row)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(pixels[r * width:(r + 1) * width]) for r in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_the_digits_model_exports_taking_png_pixels(tmp_path):
    cli("train", "--epochs", "1", "--hidden", "32", "--backend", "cpu", cwd=tmp_path)
    cli("export", "--model", "model.safetensors", "--out", "digits.onnx", cwd=tmp_path)
    sess = session(tmp_path / "digits.onnx")
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(4, 784)).astype(np.uint8)
    names = []
    for i, image in enumerate(images):
        (tmp_path / f"d{i}.png").write_bytes(png(image.tolist(), 28, 28))
        names.append(f"d{i}.png")
    out = cli("predict", "--model", "model.safetensors", *names, "--json", "--backend", "cpu", cwd=tmp_path)
    compare("classify", sess, {"image": images.astype(np.float32)}, [json.loads(l) for l in out.splitlines()])
    COVERED["png digits"] += len(names)


def test_an_estimators_export_answers_as_it_predicts(tmp_path):
    import pandas as pd

    frame = pd.read_csv(io.StringIO(table()), keep_default_na=False, na_values=[])
    X = frame[["size", "weight", "colour", "member"]].replace({"NA": None, "?": None, "null": None, "None": None, "": None})
    X["size"] = pd.to_numeric(X["size"])
    clf = shadergrad.MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit(X, frame["plan"])
    clf.to_onnx(tmp_path / "est.onnx")
    sess = session(tmp_path / "est.onnx")
    feeds = {
        "size": X[["size"]].to_numpy(np.float32),
        "weight": X[["weight"]].to_numpy(np.float32),
        "colour": X[["colour"]].fillna("").to_numpy(object),
        "member": X[["member"]].fillna("").to_numpy(object),
    }
    label, p = sess.run(["label", "probabilities"], feeds)
    assert label.tolist() == clf.predict(X).tolist()
    np.testing.assert_allclose(p, clf.predict_proba(X), atol=1e-5)
    COVERED["estimator"] += 1


def test_every_kind_was_covered():
    # Run last (pytest keeps a file's order): what the tests above compared.
    for kind in ["classify", "regress", "multilabel", "missing numbers", "missing categories", "unseen categories",
                 "png digits", "estimator", "stack --norm layer --dropout 0.2", "stack --norm batch"]:
        assert COVERED[kind] > 0, (kind, COVERED)
    assert sum(1 for k in COVERED if k.startswith("activation ")) == 8, COVERED
    print(dict(COVERED))
