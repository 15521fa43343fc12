"""pandas and polars from opening a CSV of numbers to a float32 feature matrix, as `shadergrad
bench --table` times it: five loads in one process, each time, their median, and the peak memory.

    python3 benches/read_peers.py pandas|polars FILE.csv TARGET
"""
import statistics, sys, time
import numpy as np

which, path, target = sys.argv[1], sys.argv[2], sys.argv[3]
if which == "pandas":
    import pandas as pd
    def load():
        df = pd.read_csv(path)
        return df.drop(columns=[target]).to_numpy(np.float32), df[target].to_numpy(np.float32)
else:
    import polars as pl
    def load():
        df = pl.read_csv(path)
        return df.drop(target).to_numpy().astype(np.float32, copy=False), df[target].to_numpy()
times = []
for _ in range(5):
    t = time.perf_counter()
    x, y = load()
    times.append(time.perf_counter() - t)
    del x, y
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(f"{which}: median {statistics.median(times):.3f} s of 5 loads ({', '.join(f'{t:.3f}' for t in times)} s); peak memory {int(peak) / 1024:.0f} MB")
