"""Shared helpers for the Python package's tests: the command-line binary, tables with text and
missing cells, and quiet convergence warnings (the checks fit for few epochs on purpose)."""
import os
import shutil
import subprocess
import warnings

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cli_binary():
    """The `shadergrad` command line: SHADERGRAD_BIN, or the repository's release build."""
    found = os.environ.get("SHADERGRAD_BIN") or os.path.join(ROOT, "target", "release", "shadergrad")
    if not os.path.exists(found):
        found = shutil.which("shadergrad")
    if not found:
        raise RuntimeError("these tests need the shadergrad binary: cargo build --release, or set SHADERGRAD_BIN")
    return found


def cli(*args, cwd):
    """Runs the command line in `cwd` on the CPU backend; its stdout (a failure shows stderr)."""
    out = subprocess.run([cli_binary(), *args], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def penguins(rows=240, seed=0):
    """A table as people bring them: text classes, a text category (one rare), yes/no cells,
    missing numbers and categories; the class follows the numbers and the category."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    bill = rng.uniform(35, 55, rows)
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], rows)
    island[:2] = "Atlantis"
    species = np.where(bill < 42, "Adelie", np.where(island == "Dream", "Chinstrap", "Gentoo"))
    frame = pd.DataFrame({
        "island": island,
        "bill_length_mm": bill.round(1),
        "flipper_length_mm": rng.integers(170, 230, rows).astype(float),
        "sex": rng.choice(["male", "female"], rows),
    })
    frame.loc[rng.random(rows) < 0.1, "bill_length_mm"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "sex"] = None
    return frame, species


@pytest.fixture(autouse=True)
def quiet_convergence():
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
