"""Models move between Python, the command line and Rust: pickle, save and load, the command
line's `predict` on a model saved here and this package's on one it trained (digits too, from
raw pixels); partial_fit continues where it stopped."""
import os
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

import shadergrad
from conftest import cli, penguins


def test_pickle_keeps_the_model_and_what_continuing_needs(tmp_path):
    X = np.random.default_rng(0).normal(size=(64, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = shadergrad.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf.partial_fit(X, y, classes=[0, 1])
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    # Both continue alike: the optimizer's state came along.
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert copy.n_iter_ == 2


def test_a_model_saved_here_predicts_the_same_through_the_command_line(tmp_path):
    X, y = penguins()
    clf = shadergrad.MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0).fit(X, y)
    clf.save(tmp_path / "model.safetensors")
    X.to_csv(tmp_path / "rows.csv", index=False)
    out = cli("predict", "--model", "model.safetensors", "--data", "rows.csv", "--backend", "cpu", cwd=tmp_path)
    lines = out.strip().splitlines()
    assert lines[0] == "row,class,p_Adelie,p_Chinstrap,p_Gentoo"
    cells = [line.split(",") for line in lines[1:]]
    assert [c[1] for c in cells] == clf.predict(X).tolist()
    probabilities = np.array([[float(v) for v in c[2:]] for c in cells])
    np.testing.assert_allclose(probabilities, clf.predict_proba(X), rtol=1e-6, atol=1e-7)


def test_a_model_the_command_line_trained_loads_and_predicts_as_it_does(tmp_path):
    X, y = penguins()
    X.assign(species=y).to_csv(tmp_path / "penguins.csv", index=False)
    cli("train", "--data", "penguins.csv", "--target", "species", "--task", "classify", "--epochs", "5",
        "--backend", "cpu", cwd=tmp_path)
    out = cli("predict", "--model", "model.safetensors", "--data", "penguins.csv", "--json", "--backend", "cpu",
              cwd=tmp_path)
    import json

    records = [json.loads(line) for line in out.splitlines()]
    model = shadergrad.load(tmp_path / "model.safetensors")
    assert isinstance(model, shadergrad.MLPClassifier)
    assert model.classes_.tolist() == ["Adelie", "Chinstrap", "Gentoo"]
    assert model.predict(X).tolist() == [r["class"] for r in records]
    np.testing.assert_allclose(model.predict_proba(X), [r["probabilities"] for r in records], rtol=1e-6)


def test_a_digits_model_takes_raw_pixels(tmp_path):
    cli("train", "--epochs", "1", "--hidden", "16", "--backend", "cpu", "--augment", "off", cwd=tmp_path)
    pixels = np.random.default_rng(4).integers(0, 256, size=(3, 784)).astype(np.float32)
    np.save(tmp_path / "pixels.npy", pixels)
    out = cli("predict", "--model", "model.safetensors", "--data", "pixels.npy", "--backend", "cpu", cwd=tmp_path)
    cells = [line.split(",") for line in out.strip().splitlines()[1:]]
    model = shadergrad.load(tmp_path / "model.safetensors")
    assert model.predict(pixels).tolist() == [int(c[1]) for c in cells]
    np.testing.assert_allclose(model.predict_proba(pixels), [[float(v) for v in c[2:]] for c in cells], rtol=1e-5)


def test_partial_fit_continues_and_needs_the_classes_first():
    X = np.random.default_rng(5).normal(size=(200, 3))
    y = np.where(X[:, 0] > 0, "up", "down")
    clf = shadergrad.MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    losses = []
    for _ in range(15):
        clf.partial_fit(X, y, classes=["down", "up"])
        losses.append(clf.loss_curve_[-1])
    assert clf.n_iter_ == 15 and len(clf.loss_curve_) == 15
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, np.where(X[:, 0] > 0, "up", "sideways"))
    reg = shadergrad.MLPRegressor(hidden_layer_sizes=(16,), random_state=0)
    for _ in range(3):
        reg.partial_fit(X, X[:, 0])
    assert reg.n_iter_ == 3


def test_an_unfitted_estimator_says_so():
    with pytest.raises(NotFittedError):
        shadergrad.MLPClassifier().predict(np.zeros((1, 2)))
    with pytest.raises(NotFittedError):
        shadergrad.MLPRegressor().save("never.safetensors")
