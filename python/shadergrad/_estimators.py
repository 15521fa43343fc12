"""scikit-learn's MLPClassifier and MLPRegressor over shadergrad: the same parameters, defaults
and fitted attributes, trained on a GPU (Vulkan, Metal, DX12) or on shadergrad's CPU backend.

The scikit-learn conventions (parameter validation, input checks, labels, ``classes_``) are here;
training, prediction and model files are the native module's, which is the shadergrad crate.
"""
from __future__ import annotations

import json
import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkClassifier
from sklearn.neural_network import MLPRegressor as _SkRegressor
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _native

_HUGE = np.finfo(np.float64).max
_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid"}
_OURS = {
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "norm": [StrOptions({"layer", "batch"}), None],
    "schedule": [StrOptions({"constant", "cosine"})],
    "device": [str],
    "categorical": ["array-like", None],
}


def _is_table(X):
    """Whether X is a DataFrame to read as a table: text, categories or missing cells."""
    try:
        import pandas as pd
    except ImportError:  # pandas is optional
        return False
    if not isinstance(X, pd.DataFrame):
        return False
    numeric = all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in X.dtypes)
    return not numeric or bool(X.isna().to_numpy().any())


def _csv(X):
    """A DataFrame as CSV bytes, as pandas writes a table (missing cells empty)."""
    return X.to_csv(index=False).encode()


class _MLP(BaseEstimator):
    """What the classifier and the regressor share; see their own docstrings."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        norm=None,
        schedule="constant",
        device="auto",
        categorical=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.norm = norm
        self.schedule = schedule
        self.device = device
        self.categorical = categorical

    # ----- what the subclasses say -----------------------------------------------------------

    _task = None  # "classify", "regress" or "multilabel" once y is seen

    def _targets(self, y, first):
        raise NotImplementedError

    def _smoothing(self):
        return 0.0

    def _class_weights(self, y):
        return None

    # ----- fitting ----------------------------------------------------------------------------

    def _check_params(self):
        self._validate_params()
        sizes = list(np.atleast_1d(self.hidden_layer_sizes))
        if any(h <= 0 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        if self.solver == "lbfgs":
            raise ValueError("solver='lbfgs' is not supported by shadergrad: use 'adam' or 'sgd'")
        if self.activation == "identity":
            raise ValueError("activation='identity' is not supported by shadergrad: use 'relu', 'tanh' or 'logistic'")
        if self.learning_rate != "constant":
            raise ValueError(
                f"learning_rate={self.learning_rate!r} is not supported by shadergrad: use 'constant' "
                "(or schedule='cosine')"
            )

    def _inputs(self, X, y, reset):
        """X and y checked as scikit-learn checks them: X as float32 rows (and whether it came
        as float64), or a DataFrame to read as a table (and None)."""
        if _is_table(X):
            if y is None:
                return validate_data(self, X, reset=reset, skip_check_array=True), None, None
            X, y = validate_data(self, X, y, reset=reset, skip_check_array=True)
            return X, y, None
        if y is None:
            X = validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))
        else:
            X, y = validate_data(
                self, X, y, reset=reset, dtype=(np.float64, np.float32), multi_output=True,
                y_numeric=self._task == "regress",
            )
        return np.ascontiguousarray(X, dtype=np.float32), y, X.dtype == np.float64

    def _config(self, n_rows, batch, outputs, seed, mean_weight=1.0):
        hidden = [int(h) for h in np.atleast_1d(self.hidden_layer_sizes)]
        # scikit-learn adds alpha·W / (samples in the batch) to each batch's gradient; weighted,
        # a batch counts as the samples its weights stand for, so that a weight of 2 is a sample
        # twice here too.
        decay = self.alpha / (batch * mean_weight)
        if self.solver == "adam":
            optimizer = {"rule": "adam", "lr": self.learning_rate_init, "beta1": self.beta_1, "beta2": self.beta_2,
                         "eps": self.epsilon, "weight_decay": decay, "decoupled": False}
        elif self.momentum > 0:
            optimizer = {"rule": "momentum", "lr": self.learning_rate_init, "momentum": self.momentum,
                         "nesterov": bool(self.nesterovs_momentum), "weight_decay": decay}
        else:
            optimizer = {"rule": "sgd", "lr": self.learning_rate_init, "weight_decay": decay}
        steps = max(1, self.max_iter) * -(-n_rows // batch)
        schedule = {"schedule": "constant"} if self.schedule == "constant" else \
            {"schedule": "cosine", "total": steps, "min_factor": 0.0}
        return {
            "mlp": {"sizes": [1] + hidden + [outputs], "activation": _ACTIVATIONS[self.activation],
                    "dropout": float(self.dropout), "norm": self.norm or "none"},
            "task": self._task,
            "init": "xavier",
            "optimizer": optimizer,
            "schedule": schedule,
            "batch": batch,
            "epochs": int(self.max_iter),
            "seed": seed,
            "loss_every": 1,
            "regularize": {"label_smoothing": self._smoothing(), "augment": "off", "patience": None},
        }

    def _batch(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if not 1 <= self.batch_size <= n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return int(np.clip(self.batch_size, 1, n))

    def fit(self, X, y, sample_weight=None):
        """Fits the model to X and y (optionally weighting each sample), from scratch unless
        ``warm_start``; ``X`` is a NumPy array (or anything array-like) or a pandas DataFrame,
        whose text, categories and missing cells are read as ``shadergrad train`` reads a table.

        >>> import numpy as np, shadergrad
        >>> X = np.array([[0., 0.], [1., 1.], [0., 1.], [1., 0.]] * 8)
        >>> clf = shadergrad.MLPClassifier(hidden_layer_sizes=(8,), random_state=0).fit(X, X[:, 0] > 0)
        >>> clf.n_iter_ > 0
        True
        """
        self._check_params()
        continuing = self.warm_start and hasattr(self, "_learner")
        return self._fit(X, y, sample_weight, incremental=False, continuing=continuing)

    def _fit(self, X, y, sample_weight, incremental, continuing, classes=None):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X, y, wide = self._inputs(X, y, reset=not continuing)
        table = wide is None
        rows, k, labels, names = self._targets(y, first=not continuing, classes=classes)
        n = X.shape[0]
        rows = rows.reshape(n, -1)
        weights = None
        class_weights = self._class_weights(y)
        if sample_weight is not None or class_weights is not None:
            weights = _check_sample_weight(sample_weight, np.empty((n, 0)), dtype=np.float64)
            if class_weights is not None:
                weights = weights * class_weights
            weights = np.ascontiguousarray(weights, dtype=np.float32)
        rng = check_random_state(self.random_state)
        seed = self._seed if continuing else int(rng.randint(0, 2**31 - 1))
        val = None
        if self.early_stopping and not incremental:
            stratify = y if self._task == "classify" else None
            tr, va = train_test_split(np.arange(n), random_state=rng, test_size=self.validation_fraction,
                                      stratify=stratify)
            pick = (lambda idx: X.iloc[idx]) if table else (lambda idx: X[idx])
            val = (pick(va), rows[va])
            X, rows = pick(tr), rows[tr]
            weights = None if weights is None else np.ascontiguousarray(weights[tr])
            n = len(tr)
        batch = self._batch(n)
        mean_weight = 1.0 if weights is None else max(float(np.mean(weights)), np.finfo(np.float32).tiny)
        learner = self._learner if continuing else _native.Learner(self.device, bool(wide))
        # The input width is the data's (a table's, once its schema is fitted): the native side
        # sets it.
        config = self._config(n, batch, k, seed, mean_weight)
        schedule = {
            "max_iter": int(self.max_iter), "tol": float(self.tol), "n_iter_no_change": int(self.n_iter_no_change),
            "early_stopping": val is not None, "incremental": incremental, "verbose": bool(self.verbose),
            "alpha": float(self.alpha) / mean_weight, "shuffle": bool(self.shuffle),
            "epochs_before": int(self.n_iter_) if continuing else 0,
            # JSON has no infinity: the largest float stands for it.
            "best_loss": float(self.best_loss_) if continuing and self.best_loss_ is not None else _HUGE,
            "best_validation_score": -_HUGE,
            "no_improvement": int(self._no_improvement_count) if continuing else 0,
        }
        as_rows = lambda x: _csv(x) if table else x
        as_targets = lambda r: np.ascontiguousarray(r, dtype=np.float32).ravel()
        outcome = learner.fit(
            json.dumps(config), self._task, as_rows(X), as_targets(rows), k, labels, names,
            weight=weights, val=None if val is None else (as_rows(val[0]), as_targets(val[1])),
            schedule=json.dumps(schedule), warm=continuing,
            categorical=[str(c) for c in (self.categorical or [])],
        )
        self._learner = learner
        self._seed = seed
        self._after_fit(outcome, continuing, incremental, n)
        return self

    def _after_fit(self, outcome, continuing, incremental, n):
        info = json.loads(self._learner.info())
        self._info = info
        curve = list(outcome.loss_curve)
        self.loss_curve_ = (self.loss_curve_ + curve) if continuing else curve
        self.n_iter_ = (self.n_iter_ if continuing else 0) + outcome.epochs
        self.t_ = (self.t_ if continuing else 0) + outcome.epochs * n
        if self.early_stopping and not incremental:
            self.validation_scores_ = list(outcome.validation_scores)
            self.best_validation_score_ = outcome.best_validation_score
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = outcome.best_loss
        self._no_improvement_count = outcome.no_improvement
        self.device_ = self._learner.device
        sizes = info["mlp"]["sizes"]
        self.n_layers_ = len(sizes)
        self.n_outputs_ = sizes[-1]
        self.out_activation_ = {"classify": "softmax", "regress": "identity", "multilabel": "logistic"}[self._task]
        if not incremental and not outcome.converged and outcome.epochs == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
            )

    # ----- predicting -------------------------------------------------------------------------

    def _outputs(self, X):
        """The model's outputs for X: probabilities, or values in the original units."""
        check_is_fitted(self, "_learner")
        table_model = self._info.get("schema") is not None
        if table_model:
            import pandas as pd
            if not isinstance(X, pd.DataFrame):
                raise ValueError(
                    f"this {type(self).__name__} was fitted on a DataFrame with text or missing cells: "
                    f"predict takes a DataFrame with its columns ({', '.join(map(str, self.feature_names_in_))})"
                )
            # A table's columns are taken by name, in any order; others are ignored.
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise ValueError(f"X has no column {missing[0]!r}, which the model takes")
            X = X[list(self.feature_names_in_)]
            validate_data(self, X, reset=False, skip_check_array=True)
            x = _csv(X)
        else:
            x, _, _ = self._inputs(X, None, reset=False)
            if isinstance(x, bytes):
                raise ValueError(
                    f"this {type(self).__name__} was fitted on numbers alone: X must hold numbers and no missing cells"
                )
        raw, n, unseen = self._learner.predict(x)
        if unseen:
            warnings.warn(unseen)
        return np.frombuffer(raw, dtype=np.float64).reshape(n, -1)

    # ----- models and pickles -----------------------------------------------------------------

    def save(self, path):
        """Writes the model file ``shadergrad train`` writes (and, beside it as
        ``<path>.resume``, what continuing its training needs), atomically.

        >>> import numpy as np, os, tempfile, shadergrad
        >>> X = np.array([[0., 0.], [1., 1.]] * 8)
        >>> reg = shadergrad.MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, X[:, 0])
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> reg.save(path)
        >>> np.allclose(shadergrad.load(path).predict(X), reg.predict(X))
        True
        """
        check_is_fitted(self, "_learner")
        model, resume = self._learner.to_bytes()
        _write_atomic(path, model)
        if resume is not None:
            _write_atomic(os.fspath(path) + ".resume", resume)

    def to_onnx(self, path):
        """Writes the model as an ONNX file, as ``shadergrad export`` does: a DataFrame model
        takes one input per column (``float`` numbers, NaN where missing; ``string``
        categories, ``""`` where missing), any other model ``features`` ``[N, n_features_in_]``;
        it answers ``label`` and ``probabilities``, ``values``, or ``probabilities`` and
        ``labels``, as ``predict`` and ``predict_proba`` do.

        >>> import numpy as np, os, tempfile, shadergrad
        >>> X = np.array([[0., 0.], [1., 1.]] * 8)
        >>> clf = shadergrad.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, [3, 7] * 8)
        >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
        >>> clf.to_onnx(path)
        >>> os.path.getsize(path) > 0
        True
        """
        check_is_fitted(self, "_learner")
        _write_atomic(path, self._learner.to_onnx())

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object's own is the instance's __dict__
        learner = state.pop("_learner", None)
        if learner is not None:
            state["_model_bytes"], state["_resume_bytes"] = learner.to_bytes()
            state["_wide"] = "f64" in learner.device
        return state

    def __setstate__(self, state):
        model = state.pop("_model_bytes", None)
        resume = state.pop("_resume_bytes", None)
        wide = state.pop("_wide", False)
        super().__setstate__(state)
        if model is not None:
            self._learner = _native.Learner.from_bytes(model, resume, "the pickled model", self.device, wide)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # 2-D y: several values to regress, or 0/1 labels to learn (as scikit-learn's MLPs).
        tags.target_tags.multi_output = True
        return tags


def _write_atomic(path, data):
    """Writes ``data`` to ``path`` through a temporary file beside it and a rename."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class MLPClassifier(ClassifierMixin, _MLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` (the same parameters,
    defaults and fitted attributes), trained by shadergrad on a GPU (Vulkan, Metal, DX12) or on
    its CPU backend. ``y`` of one label per row classifies; a 2-D 0/1 ``y`` learns several
    labels at once. See scikit-learn's documentation for its parameters; shadergrad adds:

    dropout : float, default=0.0
        The probability of dropping each hidden activation in training.
    norm : {"layer", "batch"} or None, default=None
        Layer or batch normalisation before each hidden activation.
    label_smoothing : float, default=0.0
        The cross-entropy's target is 1 - s on the label plus s/classes on every class.
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss (scikit-learn's meaning), times any ``sample_weight``.
    schedule : {"constant", "cosine"}, default="constant"
        The learning rate over the run: constant, or cosine decay to 0 over ``max_iter`` epochs.
    device : str, default="auto"
        "auto" (a hardware GPU, else the CPU backend), "cpu", "gpu", or part of an adapter's name
        (see ``shadergrad.devices()``). On the CPU a float64 ``X`` is computed in float64.
    categorical : list of column names, default=None
        DataFrame columns of numbers to read as categories.

    ``MLPClassifier.cli_defaults()`` gives the command line's tuned defaults instead.

    >>> import numpy as np, shadergrad
    >>> X = np.array([[0., 0.], [1., 1.], [0., 1.], [1., 0.]] * 8)
    >>> y = np.array(["no", "yes", "no", "yes"] * 8)
    >>> clf = shadergrad.MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict([[1., 0.]]).tolist()
    (['no', 'yes'], ['yes'])
    """

    _parameter_constraints = {**_SkClassifier._parameter_constraints, **_OURS,
                              "label_smoothing": [Interval(Real, 0, 1, closed="left")],
                              "class_weight": [StrOptions({"balanced"}), dict, None]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, norm=None, label_smoothing=0.0,
                 class_weight=None, schedule="constant", device="auto", categorical=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose, warm_start=warm_start,
            momentum=momentum, nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            n_iter_no_change=n_iter_no_change, max_fun=max_fun, dropout=dropout, norm=norm, schedule=schedule,
            device=device, categorical=categorical,
        )
        self.label_smoothing = label_smoothing
        self.class_weight = class_weight

    @classmethod
    def cli_defaults(cls, **params):
        """An estimator with ``shadergrad train``'s tuned defaults (momentum SGD at 0.05 on a
        cosine schedule, batches of 64, 256-wide layers), any ``params`` on top.

        >>> import shadergrad
        >>> shadergrad.MLPClassifier.cli_defaults(max_iter=20).get_params()["schedule"]
        'cosine'
        """
        return cls(**{**_CLI_DEFAULTS, **params})

    def _smoothing(self):
        return float(self.label_smoothing)

    def _class_weights(self, y):
        if self.class_weight is None or self._task == "multilabel":
            return None
        return compute_sample_weight(self.class_weight, y)

    def _targets(self, y, first, classes=None):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multilabel-indicator":
            if first:
                self._task = "multilabel"
                self.classes_ = np.arange(y.shape[1])
            elif self._task != "multilabel" or y.shape[1] != len(self.classes_):
                raise ValueError("y has another shape than the labels this model was fitted on")
            return np.ascontiguousarray(y, dtype=np.float32).ravel(), y.shape[1], [], []
        if first:
            self._task = "classify"
            found = unique_labels(y) if classes is None else unique_labels(classes)
            if classes is None and len(found) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the data, but the data "
                    f"contain only one class: {found[0]!r}"
                )
            self.classes_ = found
        elif self._task != "classify":
            raise ValueError("y has another shape than the targets this model was fitted on")
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise ValueError(f"y contains classes not in classes_: {unknown.tolist()}")
        ids = np.searchsorted(self.classes_, y).astype(np.float32)
        numeric = np.issubdtype(np.asarray(self.classes_).dtype, np.number)
        labels = [float(c) for c in self.classes_] if numeric else [float(i) for i in range(len(self.classes_))]
        names = [] if numeric else [str(c) for c in self.classes_]
        return ids, len(self.classes_), labels, names

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over X and y; ``classes`` (every class there will be) on the first call.

        >>> import numpy as np, shadergrad
        >>> X = np.array([[0., 0.], [1., 1.]] * 8)
        >>> clf = shadergrad.MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
        >>> clf = clf.partial_fit(X, [0, 1] * 8, classes=[0, 1]).partial_fit(X, [0, 1] * 8)
        >>> clf.n_iter_
        2
        """
        first = not hasattr(self, "_learner")
        if first:
            self._check_params()
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, sample_weight, incremental=True, continuing=not first,
                         classes=None if not first else classes)

    def predict_proba(self, X):
        """The probability of each class (each label, for several labels) for each row of X."""
        return self._outputs(X)

    def predict_log_proba(self, X):
        """The log of ``predict_proba``."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The class of each row of X, as ``y`` wrote them (0/1 rows for several labels)."""
        p = self._outputs(X)
        if self._task == "multilabel":
            return (p > 0.5).astype(int)
        return self.classes_[np.argmax(p, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _MLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` (the same parameters,
    defaults and fitted attributes), trained by shadergrad on a GPU or on its CPU backend; a 2-D
    ``y`` regresses several values at once. Inputs and targets are standardised by the training
    data (predictions come back in the original units). shadergrad's own parameters are the
    classifier's less ``label_smoothing`` and ``class_weight``.

    >>> import numpy as np, shadergrad
    >>> X = np.linspace(-1, 1, 64).reshape(-1, 1)
    >>> reg = shadergrad.MLPRegressor(hidden_layer_sizes=(16,), max_iter=500, random_state=0).fit(X, 3 * X[:, 0])
    >>> bool(reg.score(X, 3 * X[:, 0]) > 0.95)
    True
    """

    _parameter_constraints = {**_SkRegressor._parameter_constraints, **_OURS}
    _task = "regress"

    @classmethod
    def cli_defaults(cls, **params):
        """An estimator with ``shadergrad train``'s tuned defaults, any ``params`` on top (see
        ``MLPClassifier.cli_defaults``)."""
        return cls(**{**_CLI_DEFAULTS, **params})

    def _targets(self, y, first, classes=None):
        y = np.asarray(y, dtype=np.float64)
        k = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self._k = k
        elif k != self._k:
            raise ValueError(f"y has {k} targets per row, but this model was fitted on {self._k}")
        return np.ascontiguousarray(y, dtype=np.float32).ravel(), k, [], []

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X and y.

        >>> import numpy as np, shadergrad
        >>> X = np.linspace(-1, 1, 16).reshape(-1, 1)
        >>> shadergrad.MLPRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, X[:, 0]).n_iter_
        1
        """
        first = not hasattr(self, "_learner")
        if first:
            self._check_params()
        return self._fit(X, y, sample_weight, incremental=True, continuing=not first)

    def predict(self, X):
        """The values for each row of X, in the original units."""
        p = self._outputs(X)
        return p.ravel() if self._k == 1 else p


_CLI_DEFAULTS = dict(hidden_layer_sizes=(256, 256), solver="sgd", momentum=0.9, nesterovs_momentum=False,
                     learning_rate_init=0.05, schedule="cosine", batch_size=64, alpha=0.0,
                     n_iter_no_change=2**31 - 1, max_iter=10)
