"""shadergrad's defaults against scikit-learn on tables as people bring them.

For each table and seed: an 80/20 split (stratified to classify), the training part written as
a CSV just as pandas writes it (text classes and categories as text, missing cells empty),
`shadergrad train` with nothing but --data/--target/--task/--seed, then `shadergrad eval
--json` on the test part. Against it, on the same rows: scikit-learn's pipeline (median /
most-frequent imputation, one-hot with unknown categories ignored, standardised numbers) in
front of MLPClassifier / MLPRegressor (regression targets standardised), defaults; and
HistGradientBoostingClassifier / Regressor with native categories. Prints the mean test score
over the seeds (accuracy, R², or the mean accuracy of the labels) and shadergrad's wall time
(a process per run: start, read, train, save) over the pipeline MLP's fit.

    python3 benches/tables_vs_sklearn.py [path/to/shadergrad] [--seeds 5] [--only NAME,...]

Nothing is downloaded: the tables come with scikit-learn, statsmodels and palmerpenguins, or
are generated here.
"""
import argparse, json, os, subprocess, tempfile, time
import warnings

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

warnings.filterwarnings("ignore")  # scikit-learn's convergence warnings at its default max_iter


def sklearn_frame(loader, target, classes=None):
    """A scikit-learn data set as a frame, its class ids renamed to their names."""
    d = loader(as_frame=True)
    df = d.frame.rename(columns={"target": target})
    if classes is not None:
        df[target] = np.asarray(classes)[df[target].to_numpy()]
    return df


def messy(rows=2000, seed=0):
    """A generated table with text classes, categories (one rare), yes/no cells and missing
    cells written three ways, whose class follows numbers and categories alike."""
    rng = np.random.default_rng(seed)
    size = rng.normal(50, 10, rows)
    weight = rng.normal(0, 1, rows)
    region = rng.choice(["north", "south", "east", "west", "isles"], rows, p=[0.3, 0.3, 0.2, 0.18, 0.02])
    member = rng.choice(["yes", "no"], rows)
    score = size / 10 + (region == "north") * 1.5 - (region == "east") + (member == "yes") * 0.8 + weight
    plan = np.where(score > 6.5, "gold", np.where(score > 5, "silver", "bronze"))
    df = pd.DataFrame({"size": size.round(2), "weight": weight.round(3), "region": region, "member": member,
                       "plan": plan})
    df.loc[rng.random(rows) < 0.08, "size"] = np.nan
    df.loc[rng.random(rows) < 0.05, "region"] = np.nan
    return df


def tables():
    """(name, task, frame, target columns, held out of tuning)."""
    import palmerpenguins
    import statsmodels.api as sm

    yield "penguins", "classify", palmerpenguins.load_penguins().dropna(subset=["species"]), ["species"], False
    yield "iris", "classify", sklearn_frame(datasets.load_iris, "species", ["setosa", "versicolor", "virginica"]), ["species"], False
    yield "wine", "classify", sklearn_frame(datasets.load_wine, "cultivar", ["a", "b", "c"]), ["cultivar"], True
    yield "breast cancer", "classify", sklearn_frame(datasets.load_breast_cancer, "diagnosis", ["malignant", "benign"]), ["diagnosis"], False
    yield "diabetes", "regress", sklearn_frame(datasets.load_diabetes, "progression"), ["progression"], False
    fair = sm.datasets.fair.load_pandas().data
    fair["affair"] = np.where(fair.pop("affairs") > 0, "yes", "no")
    for c in ["occupation", "occupation_husb"]:
        fair[c] = "occ" + fair[c].astype(int).astype(str)
    yield "fair (statsmodels)", "classify", fair, ["affair"], True
    grunfeld = sm.datasets.grunfeld.load_pandas().data
    yield "grunfeld (statsmodels)", "regress", grunfeld, ["invest"], False
    yield "generated: text, categories, missing", "classify", messy(), ["plan"], False
    digits = datasets.load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
    yield "digits 8×8", "classify", digits, ["digit"], False
    X, y = datasets.make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    yield "friedman1", "regress", pd.DataFrame(X, columns=[f"x{i}" for i in range(10)]).assign(y=y), ["y"], False
    X, y = datasets.make_multilabel_classification(n_samples=1000, n_features=20, n_classes=5, random_state=0)
    labels = [f"l{j}" for j in range(5)]
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]).join(pd.DataFrame(y, columns=labels))
    yield "multi-label, 5 labels", "multilabel", frame, labels, False


def preprocess(X):
    text = [c for c in X.columns if X[c].dtype == object or str(X[c].dtype) in ("str", "string", "category")]
    numbers = [c for c in X.columns if c not in text]
    return ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
        ("text", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), text),
    ]), text


def score(task, truth, predicted):
    if task == "regress":
        return r2_score(truth, predicted)
    return accuracy_score(truth, predicted) if task == "classify" else float((np.asarray(truth) == predicted).mean())


def pipeline_mlp(task, Xtr, ytr, Xte, yte, seed):
    pre, _ = preprocess(Xtr)
    if task == "regress":
        ys = StandardScaler().fit(ytr.to_numpy().reshape(-1, 1))
        m = make_pipeline(pre, MLPRegressor(random_state=seed)).fit(Xtr, ys.transform(ytr.to_numpy().reshape(-1, 1)).ravel())
        return score(task, yte, ys.inverse_transform(m.predict(Xte).reshape(-1, 1)).ravel())
    y = ytr.to_numpy() if task == "multilabel" else ytr.iloc[:, 0]
    m = make_pipeline(pre, MLPClassifier(random_state=seed)).fit(Xtr, y)
    return score(task, yte.to_numpy() if task == "multilabel" else yte.iloc[:, 0], m.predict(Xte))


def boosting(task, Xtr, ytr, Xte, yte, seed):
    if task == "multilabel":
        return None
    _, text = preprocess(Xtr)
    Xtr = Xtr.astype({c: "category" for c in text})
    # The training split's categories; a category it never saw is missing.
    Xte = Xte.astype({c: pd.CategoricalDtype(Xtr[c].cat.categories) for c in text})
    Model = HistGradientBoostingRegressor if task == "regress" else HistGradientBoostingClassifier
    m = Model(categorical_features="from_dtype", random_state=seed).fit(Xtr, ytr.iloc[:, 0])
    return score(task, yte.iloc[:, 0], m.predict(Xte))


def ours(sg, work, task, targets, tr, te, seed, backend, extra):
    tr.to_csv(os.path.join(work, "train.csv"), index=False)
    te.to_csv(os.path.join(work, "test.csv"), index=False)
    started = time.time()
    subprocess.run([sg, "train", "--data", "train.csv", "--target", ",".join(targets), "--task", task,
                    "--seed", str(seed), "--backend", backend, "--out", "model.safetensors", "--plot", "curve.svg",
                    *extra.split()],
                   cwd=work, check=True, capture_output=True)
    took = time.time() - started
    out = subprocess.run([sg, "eval", "--model", "model.safetensors", "--data", "test.csv", "--json",
                          "--backend", backend], cwd=work, check=True, capture_output=True, text=True)
    e = json.loads(out.stdout)
    return e["r2"] if task == "regress" else e["accuracy"], took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shadergrad", nargs="?", default="target/release/shadergrad")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--only", default="", help="tables whose names contain one of these (comma-separated)")
    ap.add_argument("--mlp-only", action="store_true", help="no gradient boosting (quicker)")
    ap.add_argument("--train-flags", default="", help="more flags for shadergrad train, to try other settings")
    a = ap.parse_args()
    sg = os.path.abspath(a.shadergrad)
    only = [o for o in a.only.split(",") if o]
    print(f"| table | task | rows | pipeline + MLP | gradient boosting | shadergrad | time ratio |")
    print(f"|---|---|---:|---:|---:|---:|---:|")
    for name, task, frame, targets, held_out in tables():
        if only and not any(o in name for o in only):
            continue
        work = tempfile.mkdtemp(prefix="sg-tables-")
        mine, mlp, hgb, t_ours, t_mlp = [], [], [], 0.0, 0.0
        for seed in range(a.seeds):
            stratify = frame[targets[0]] if task == "classify" else None
            tr, te = train_test_split(frame, test_size=0.2, random_state=seed, stratify=stratify)
            Xtr, ytr, Xte, yte = tr.drop(columns=targets), tr[targets], te.drop(columns=targets), te[targets]
            s, took = ours(sg, work, task, targets, tr, te, seed, a.backend, a.train_flags)
            mine.append(s)
            t_ours += took
            started = time.time()
            mlp.append(pipeline_mlp(task, Xtr, ytr, Xte, yte, seed))
            t_mlp += time.time() - started
            hgb.append(None if a.mlp_only else boosting(task, Xtr, ytr, Xte, yte, seed))
        b = "–" if hgb[0] is None else f"{np.mean(hgb):.4f}"
        mark = " (held out)" if held_out else ""
        print(f"| {name}{mark} | {task} | {len(frame):,} | {np.mean(mlp):.4f} | {b} | {np.mean(mine):.4f} | {t_ours / t_mlp:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
