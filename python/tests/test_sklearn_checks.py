"""scikit-learn's own estimator checks, as they are: every check on the CPU backend (the default
device where the only GPU is a software one), and the training, idempotence, subset and pickle
checks on the GPU (lavapipe here, in f32)."""
import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

import shadergrad


@parametrize_with_checks([shadergrad.MLPClassifier(), shadergrad.MLPRegressor()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


GPU_CHECKS = ["check_fit_idempotent", "check_methods_subset_invariance", "check_estimators_pickle"]


@pytest.mark.parametrize("check", GPU_CHECKS + ["check_classifiers_train"])
def test_classifier_checks_on_the_gpu(check):
    getattr(estimator_checks, check)("MLPClassifier", shadergrad.MLPClassifier(device="gpu"))


@pytest.mark.parametrize("check", GPU_CHECKS + ["check_regressors_train"])
def test_regressor_checks_on_the_gpu(check):
    getattr(estimator_checks, check)("MLPRegressor", shadergrad.MLPRegressor(device="gpu"))


def test_the_gpu_estimators_ran_on_the_gpu():
    import numpy as np

    X = np.random.default_rng(0).normal(size=(40, 3))
    est = shadergrad.MLPRegressor(device="gpu", max_iter=2).fit(X, X[:, 0])
    assert "cpu" not in est.device_.lower().split(" ")[0], est.device_
