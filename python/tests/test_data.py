"""What X and y may be: DataFrames with text, categories and missing cells (read as `shadergrad
train` reads a table), several labels, several values, sample weights, float64 and float32."""
import numpy as np
import pandas as pd
import pytest

import shadergrad
from conftest import penguins


def test_a_dataframe_with_text_and_missing_cells_trains_and_predicts_classes_as_written():
    X, y = penguins()
    clf = shadergrad.MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, y)
    assert clf.classes_.tolist() == ["Adelie", "Chinstrap", "Gentoo"]
    assert clf.feature_names_in_.tolist() == ["island", "bill_length_mm", "flipper_length_mm", "sex"]
    assert clf.n_features_in_ == 4
    predicted = clf.predict(X)
    assert set(predicted) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert (predicted == y).mean() > 0.85
    # The model's inputs: one-hot islands (Atlantis, seen twice, shares "other"), the filled
    # bill with its missing-cell indicator, the flipper, one-hot sex with a missing input.
    assert clf._info["inputs"] == [
        "island=Biscoe", "island=Dream", "island=Torgersen", "island (other)", "bill_length_mm",
        "bill_length_mm (missing)", "flipper_length_mm", "sex=female", "sex=male", "sex (missing)",
    ]


def test_unseen_categories_are_counted_in_a_warning_and_columns_may_come_in_any_order():
    X, y = penguins()
    clf = shadergrad.MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0).fit(X, y)
    new = X.iloc[:3][["sex", "island", "flipper_length_mm", "bill_length_mm"]].copy()
    new["island"] = ["Mars", "Biscoe", "Dream"]
    with pytest.warns(UserWarning, match="1 cell held a category without an input of its own"):
        clf.predict(new)
    with pytest.raises(ValueError, match="fitted on a DataFrame"):
        clf.predict(np.zeros((2, 4)))


def test_several_labels_and_several_values():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 4))
    labels = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5], axis=1).astype(int)
    clf = shadergrad.MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, labels)
    assert clf.predict(X).shape == (120, 3) and set(np.unique(clf.predict(X))) <= {0, 1}
    p = clf.predict_proba(X)
    assert p.shape == (120, 3) and ((p >= 0) & (p <= 1)).all()
    assert (clf.predict(X) == labels).mean() > 0.9
    values = np.stack([X[:, 0] * 2, X[:, 1] - X[:, 2]], axis=1)
    reg = shadergrad.MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, values)
    assert reg.predict(X).shape == (120, 2)
    assert reg.score(X, values) > 0.9


def test_sample_weights_count_as_repeated_rows():
    # Full batches (fewer than 200 rows), f64 on the CPU: a weight of 2 is the row twice and a
    # weight of 0 no row, to rounding.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    w = rng.integers(0, 3, 30)
    weighted = shadergrad.MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y, sample_weight=w)
    rows = np.repeat(np.arange(30), w)
    repeated = shadergrad.MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X[rows], y[rows])
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)
    balanced = shadergrad.MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0, class_weight="balanced")
    assert not np.allclose(balanced.fit(X, y).predict_proba(X), shadergrad.MLPClassifier(
        hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y).predict_proba(X))


def test_float64_computes_in_f64_on_the_cpu_and_float32_in_f32():
    X = np.random.default_rng(3).normal(size=(20, 2))
    assert "f64" in shadergrad.MLPRegressor(max_iter=2, device="cpu").fit(X, X[:, 0]).device_
    assert "f32" in shadergrad.MLPRegressor(max_iter=2, device="cpu").fit(X.astype(np.float32), X[:, 0]).device_
