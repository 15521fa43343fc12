"""shadergrad: scikit-learn's MLPClassifier and MLPRegressor, trained on any GPU (Vulkan, Metal,
DX12) through WGSL compute shaders, or on a fast CPU backend; model files shared with the
``shadergrad`` command line and the Rust crate.

>>> import numpy as np, shadergrad
>>> X = np.array([[0., 0.], [1., 1.], [0., 1.], [1., 0.]] * 8)
>>> clf = shadergrad.MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0)
>>> clf.fit(X, X.sum(axis=1) == 1).score(X, X.sum(axis=1) == 1) > 0.9
True
"""
from __future__ import annotations

import json
import os

import numpy as np

from . import _native
from ._estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "load", "grad", "devices"]
__version__ = "0.1.0"

_ACTIVATION_NAMES = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}


def devices():
    """The GPU adapters there are, best first: what an estimator's ``device=`` may name (any
    part of a name or type, such as ``"llvmpipe"`` or ``"discrete"``).

    >>> import shadergrad
    >>> isinstance(shadergrad.devices(), list)
    True
    """
    return _native.devices()


def grad(expression, svg=None, **at):
    """The value of ``expression`` at the point ``at`` and its partial derivatives, as
    ``shadergrad grad`` computes them; with ``svg``, the circuit diagram (values green,
    gradients red) written to that file.

    >>> import shadergrad
    >>> value, partials = shadergrad.grad("(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)", x=3, y=-4)
    >>> round(value, 6), {k: round(v, 6) for k, v in partials.items()}
    (1.545645, {'x': 2.05957, 'y': 1.592233})
    """
    value, partials = _native.grad(expression.replace("**", "^"), [(k, float(v)) for k, v in at.items()],
                                   None if svg is None else os.fspath(svg))
    return value, dict(partials)


def load(path, device="auto"):
    """The fitted estimator of a model file that ``shadergrad train``, the Rust crate or an
    estimator's ``save`` wrote; it predicts as ``shadergrad predict`` does. A model trained on
    images takes raw pixel values (0-255), one row of pixels per image.

    >>> import numpy as np, os, tempfile, shadergrad
    >>> X = np.array([[0., 0.], [1., 1.]] * 8)
    >>> clf = shadergrad.MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, [3, 7] * 8)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> clf.save(path)
    >>> shadergrad.load(path).classes_.tolist()
    [3, 7]
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        model = f.read()
    resume = None
    if os.path.exists(path + ".resume"):
        with open(path + ".resume", "rb") as f:
            resume = f.read()
    learner = _native.Learner.from_bytes(model, resume, path, device, False)
    info = json.loads(learner.info())
    sizes = info["mlp"]["sizes"]
    task = info["task"]
    cls = MLPRegressor if task == "regress" else MLPClassifier
    est = cls(hidden_layer_sizes=tuple(sizes[1:-1]),
              activation=_ACTIVATION_NAMES.get(info["mlp"]["activation"], info["mlp"]["activation"]),
              device=device)
    est._learner = learner
    est._info = info
    est._task = task
    schema = info.get("schema")
    if schema is not None:
        columns = [f["column"] for f in schema["features"]]
        est.feature_names_in_ = np.asarray(columns, dtype=object)
        est.n_features_in_ = len(columns)
    else:
        est.n_features_in_ = sizes[0]
        if not all(name.startswith("x") and name[1:].isdigit() for name in info["inputs"]):
            est.feature_names_in_ = np.asarray(info["inputs"], dtype=object)
    if task == "classify":
        names, labels = info.get("class_names") or [], info["classes"]
        if names:
            est.classes_ = np.asarray(names, dtype=object)
        elif all(float(c).is_integer() for c in labels):
            est.classes_ = np.asarray([int(c) for c in labels])
        else:
            est.classes_ = np.asarray(labels)
    elif task == "multilabel":
        est.classes_ = np.arange(sizes[-1])
    else:
        est._k = sizes[-1]
    est.n_layers_ = len(sizes)
    est.n_outputs_ = sizes[-1]
    est.out_activation_ = {"classify": "softmax", "regress": "identity", "multilabel": "logistic"}[task]
    est.n_iter_ = 0
    est.loss_curve_ = []
    est.best_loss_ = None
    est.validation_scores_ = None
    est.best_validation_score_ = None
    est.t_ = 0
    est._no_improvement_count = 0
    est._seed = 0
    est.device_ = learner.device
    return est
