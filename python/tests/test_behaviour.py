"""What a Python library is expected to do: release the GIL while it trains, stop at Ctrl-C
within a step leaving the estimator as it was, print a line per epoch when verbose, raise
ValueError (with the crate's words) for bad input; and grad, as `shadergrad grad`."""
import _thread
import signal
import threading
import time

import numpy as np
import pytest

import shadergrad


def big():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(20000, 32)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


def test_fit_releases_the_gil():
    X, y = big()
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    started = time.perf_counter()
    # Long enough to measure (about 1 s on two cores), every epoch run.
    shadergrad.MLPClassifier(
        hidden_layer_sizes=(128,), max_iter=150, n_iter_no_change=150, random_state=0
    ).fit(X, y)
    took = time.perf_counter() - started
    done.set()
    t.join()
    during = [s for s in ticks if started < s < started + took]
    # The other thread ran all through the fit: ticks a few milliseconds apart at most.
    assert took > 0.2 and len(during) > took / 0.01, (took, len(during))


def interrupt_after(seconds):
    """Ctrl-C (as the main thread sees it) after `seconds`; cancel it when done, so that a run
    that ended first cannot leave it to strike elsewhere."""
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler for the test: Python leaves SIGINT alone when it starts with
    it ignored, as a script's background job starts, and `interrupt_main` then does nothing (a
    CI run started that way waited here for a KeyboardInterrupt that never came)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_within_a_step_and_leaves_the_estimator_as_it_was(ctrl_c_raises):
    X, y = big()
    clf = shadergrad.MLPClassifier(hidden_layer_sizes=(64,), random_state=0)
    clf.partial_fit(X[:200], y[:200], classes=[0, 1])
    before = clf.predict_proba(X[:50])
    iterations = clf.n_iter_
    timer = interrupt_after(0.3)
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            # Bounded: a Ctrl-C never heard fails the test rather than running on.
            while time.perf_counter() - started < 60:
                clf.partial_fit(X, y)
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 5
    # Whatever partial_fit was interrupted left nothing half done.
    assert len(clf.loss_curve_) == clf.n_iter_
    # A fit that cannot stop early (no improvement is ever required) until Ctrl-C.
    fresh = shadergrad.MLPClassifier(
        hidden_layer_sizes=(64,), max_iter=10_000, n_iter_no_change=10_000, random_state=0
    )
    timer = interrupt_after(0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            fresh.fit(X, y)
    finally:
        timer.cancel()
    assert not hasattr(fresh, "classes_") or not hasattr(fresh, "_learner")
    assert iterations <= clf.n_iter_ and before.shape == (50, 2)


def test_verbose_prints_a_line_per_epoch(capsys):
    X = np.random.default_rng(7).normal(size=(50, 2))
    shadergrad.MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, verbose=True).fit(X, X[:, 0])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines[:3]] == ["Iteration 1", "Iteration 2", "Iteration 3"]


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: shadergrad.MLPClassifier().fit([[0.0, np.nan], [1.0, 2.0]], [0, 1]), "NaN"),
        (lambda: shadergrad.MLPClassifier().fit([[0.0], [1.0]], [0, 0]), "only one class"),
        (lambda: shadergrad.MLPClassifier(hidden_layer_sizes=(0,)).fit([[0.0], [1.0]], [0, 1]), "hidden_layer_sizes"),
        (lambda: shadergrad.MLPClassifier(solver="lbfgs").fit([[0.0], [1.0]], [0, 1]), "lbfgs"),
        (lambda: shadergrad.MLPRegressor(device="no-such-gpu").fit([[0.0], [1.0]], [0, 1]), "no-such-gpu"),
        (lambda: shadergrad.MLPRegressor(max_iter=2).fit([[0.0], [1.0]], [0, 1]).predict([[0.0, 1.0]]), "features"),
        (lambda: shadergrad.MLPRegressor().fit([[0.0], [1.0]], None), "requires y"),
        (lambda: shadergrad.MLPRegressor().fit([[0.0], [1.0]], [0.0, 1.0], sample_weight=[1.0]), "sample_weight"),
    ],
)
def test_bad_input_is_a_value_error_saying_what_is_wrong(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_grad_gives_the_value_the_partials_and_the_circuit(tmp_path):
    value, partials = shadergrad.grad("(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)", x=3, y=-4,
                                      svg=tmp_path / "circuit.svg")
    assert abs(value - 1.5456448841066441) < 1e-15
    assert abs(partials["x"] - 2.0595697955721652) < 1e-15 and abs(partials["y"] - 1.5922327514838093) < 1e-15
    assert (tmp_path / "circuit.svg").read_text().startswith("<svg")
    with pytest.raises(ValueError, match="a value for the variable `y`"):
        shadergrad.grad("x * y", x=1)
