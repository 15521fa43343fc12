"""shadergrad's defaults against scikit-learn's MLPs on the small data sets scikit-learn ships.

For each data set and seed: an 80/20 split (stratified to classify), the training part written
as a CSV, `shadergrad train` with nothing but --data/--target/--task (and --validation 0, so it
trains on the same rows as scikit-learn), `shadergrad eval --json` on the test part; then
scikit-learn's MLPClassifier / MLPRegressor, defaults, on standardised inputs (and targets, to
regress). Prints the mean test score over the seeds: accuracy, R², or mean label accuracy.

    python3 benches/tabular_vs_sklearn.py [path/to/shadergrad] [--seeds 5] [--backend cpu]
"""
import argparse, csv, json, os, subprocess, tempfile, time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore")  # scikit-learn's convergence warnings at its default max_iter


def data_sets():
    yield "iris", "classify", *datasets.load_iris(return_X_y=True)
    yield "wine", "classify", *datasets.load_wine(return_X_y=True)
    yield "breast_cancer", "classify", *datasets.load_breast_cancer(return_X_y=True)
    yield "digits 8x8", "classify", *datasets.load_digits(return_X_y=True)
    yield "diabetes", "regress", *datasets.load_diabetes(return_X_y=True)
    X, y = datasets.make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    yield "friedman1", "regress", X, y
    X, y = datasets.make_multilabel_classification(n_samples=1000, n_features=20, n_classes=5, random_state=0)
    yield "multilabel 5", "multilabel", X.astype(float), y


def target_names(y):
    return [f"y{j}" for j in range(y.shape[1])] if y.ndim > 1 else ["y"]


def write(path, X, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{i}" for i in range(X.shape[1])] + target_names(y))
        for a, b in zip(X, y):
            w.writerow(list(a) + (list(b) if np.ndim(b) else [b]))


def sklearn_score(task, Xtr, ytr, Xte, yte, seed):
    sc = StandardScaler().fit(Xtr)
    if task == "regress":
        ys = StandardScaler().fit(ytr.reshape(-1, 1))
        m = MLPRegressor(random_state=seed).fit(sc.transform(Xtr), ys.transform(ytr.reshape(-1, 1)).ravel())
        return r2_score(yte, ys.inverse_transform(m.predict(sc.transform(Xte)).reshape(-1, 1)).ravel())
    p = MLPClassifier(random_state=seed).fit(sc.transform(Xtr), ytr).predict(sc.transform(Xte))
    return accuracy_score(yte, p) if task == "classify" else (yte == p).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shadergrad", nargs="?", default="target/release/shadergrad")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--backend", default="cpu")
    a = ap.parse_args()
    sg = os.path.abspath(a.shadergrad)
    work = tempfile.mkdtemp(prefix="sg-vs-sklearn-")
    print(f"{'data set':14} {'task':10} {'rows':>5}  {'scikit-learn':>12}  {'shadergrad':>10}  {'time ratio':>10}")
    for name, task, X, y in data_sets():
        ours, theirs, t_ours, t_theirs = [], [], 0.0, 0.0
        for seed in range(a.seeds):
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.2, random_state=seed, stratify=y if task == "classify" else None
            )
            write(os.path.join(work, "train.csv"), Xtr, ytr)
            write(os.path.join(work, "test.csv"), Xte, yte)
            t = time.time()
            train = [sg, "train", "--data", "train.csv", "--target", ",".join(target_names(y)), "--task", task,
                     "--validation", "0", "--seed", str(seed), "--backend", a.backend]
            subprocess.run(train, cwd=work, check=True, capture_output=True)
            t_ours += time.time() - t
            out = subprocess.run([sg, "eval", "--model", "model.safetensors", "--data", "test.csv", "--json",
                                  "--backend", a.backend], cwd=work, check=True, capture_output=True, text=True)
            e = json.loads(out.stdout)
            ours.append(e["r2"] if task == "regress" else e["accuracy"])
            t = time.time()
            theirs.append(sklearn_score(task, Xtr, ytr, Xte, yte, seed))
            t_theirs += time.time() - t
        print(f"{name:14} {task:10} {len(y):5}  {np.mean(theirs):12.4f}  {np.mean(ours):10.4f}  {t_ours / t_theirs:10.2f}")


if __name__ == "__main__":
    main()
