"""peer_torch.py - the PyTorch side of bench/run (Debian python3-torch 1.13).

Subcommands (each prints one JSON object on the last line of stdout):

  mkx    --rows R --out X.f32          random [0,1) input rows (seed 0)
  infer  --threads N --weights W.safetensors --x X.f32 --rows R
         [--model mlp|cnn] [--aai-out OUT.f32]
                                       batch-1 latency and batch-R throughput
                                       of torch eager (no_grad) and TorchScript
                                       (trace + freeze), and for the MLP of
                                       numpy (BLAS products); with --aai-out, the
                                       max |aai - torch| of the logits
  train  --threads N --epochs E --batch B [--model mlp|cnn]
         [--init W.safetensors]        Fashion-MNIST MLP or LeNet CNN, Adam
                                       1e-3: per-epoch seconds and test
                                       accuracy

Models: mlp is examples/fashion_mlp.aai (784-256-128-10); cnn is
examples/fashion_cnn.aai (conv 1->8 5x5 pad 2, relu, maxpool 2, conv 8->16
5x5, relu, maxpool 2, dense 400->120, relu, dense 120->10), parameter names
and layouts as in aai's weights file.

Weights come from aai's safetensors file, read here by hand (torch 1.13 has
no safetensors package): u64 little-endian header length, JSON header, raw
little-endian data. Thread count: torch.set_num_threads(N) and
OPENBLAS_NUM_THREADS=N (set by the caller before the process starts, since
OpenBLAS reads it once).
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np

FMNIST = "/usr/share/datasets/fashion-mnist"
MLP_SIZES = [("h1", 784, 256), ("h2", 256, 128), ("output", 128, 10)]


def read_safetensors(path):
    """{name: float32 ndarray} of an F32 safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name}: dtype {t['dtype']}, expected F32")
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(raw[base + b:base + e], dtype="<f4").reshape(t["shape"]).copy()
    return out


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def time_calls(fn, n, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def load_idx(name):
    with gzip.open(os.path.join(FMNIST, name), "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows * cols)
    return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)


def init_torch(threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    return torch


def mlp(torch):
    class Mlp(torch.nn.Module):
        """examples/fashion_mlp.aai: names and layouts as aai's weights file."""

        def __init__(self):
            super().__init__()
            for name, i, o in MLP_SIZES:
                setattr(self, name, torch.nn.Linear(i, o))

        def forward(self, x):
            x = torch.relu(self.h1(x))
            x = torch.relu(self.h2(x))
            return self.output(x)

    return Mlp()


def lenet(torch):
    nn = torch.nn

    class Lenet(nn.Module):
        """examples/fashion_cnn.aai: names and layouts as aai's weights file."""

        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 5, padding=2)
            self.c2 = nn.Conv2d(8, 16, 5)
            self.f1 = nn.Linear(400, 120)
            self.output = nn.Linear(120, 10)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
            x = torch.relu(self.f1(torch.flatten(x, 1)))
            return self.output(x)

    return Lenet()


MODELS = {"mlp": (mlp, (-1, 784)), "cnn": (lenet, (-1, 1, 28, 28))}


def numpy_mlp(weights_path):
    """The MLP in plain numpy (BLAS products plus numpy element-wise ops),
    weights pre-transposed once, as ../shared/bench/mlp_infer.py does; returns
    the logits, like aai's predict and the torch model."""
    w = read_safetensors(weights_path)
    layers = [(w[f"{n}.weight"].T.copy(), w[f"{n}.bias"].copy()) for n, _, _ in MLP_SIZES]

    def forward(x):
        h = x
        for i, (wt, b) in enumerate(layers):
            h = h @ wt
            h += b
            if i + 1 < len(layers):
                np.maximum(h, 0, out=h)
        return h

    return forward


def load_weights(torch, model, path):
    state = {k: torch.from_numpy(v) for k, v in read_safetensors(path).items()}
    model.load_state_dict(state, strict=True)


def cmd_mkx(a):
    rng = np.random.default_rng(0)
    rng.random((a.rows, a.width), dtype=np.float32).tofile(a.out)
    return {"rows": a.rows, "width": a.width}


def cmd_infer(a):
    torch = init_torch(a.threads)
    build, shape = MODELS[a.model]
    model = build(torch).eval()
    load_weights(torch, model, a.weights)
    x = torch.from_numpy(np.fromfile(a.x, dtype=np.float32).reshape(a.rows, *shape[1:]))
    x1 = x[:1].clone()
    res = {"threads": torch.get_num_threads()}
    with torch.no_grad():
        scripted = {b: torch.jit.freeze(torch.jit.trace(model, xb)) for b, xb in ((1, x1), (a.rows, x))}
        ref = model(x).numpy()
        peers = {"eager": lambda xb: model(xb), "script": lambda xb: scripted[xb.shape[0]](xb)}
        if a.model == "mlp":
            forward = numpy_mlp(a.weights)
            xn, x1n = x.numpy(), x1.numpy()
            res["numpy_max_abs_diff"] = float(np.abs(forward(xn) - ref).max())
            peers["numpy"] = lambda xb: forward(x1n if xb is x1 else xn)
        for name, fn in peers.items():
            lat = median(time_calls(lambda: fn(x1), a.n_b1, a.n_b1 // 10 + 1))
            tb = median(time_calls(lambda: fn(x), a.n_big, a.n_big // 10 + 1))
            res[f"{name}_b1_latency_us"] = lat * 1e6
            res[f"{name}_big_batch_us"] = tb * 1e6
            res[f"{name}_big_throughput"] = a.rows / tb
    if a.aai_out:
        got = np.fromfile(a.aai_out, dtype=np.float32)
        big, one = got[:ref.size].reshape(ref.shape), got[ref.size:]
        res["max_abs_diff"] = float(np.abs(big - ref).max())
        res["max_abs_diff_b1"] = float(np.abs(one - ref[0]).max())
    return res


def cmd_train(a):
    torch = init_torch(a.threads)
    build, shape = MODELS[a.model]
    xtr = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz").astype(np.float32).reshape(shape) / 255)
    ytr = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz"))
    xte = torch.from_numpy(load_idx("t10k-images-idx3-ubyte.gz").astype(np.float32).reshape(shape) / 255)
    yte = load_idx("t10k-labels-idx1-ubyte.gz")
    model = build(torch)
    if a.init:
        load_weights(torch, model, a.init)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    n = len(xtr)
    secs = []
    for _ in range(a.epochs):
        perm = torch.randperm(n, generator=gen)
        t0 = time.perf_counter()
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        secs.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = float((model(xte).argmax(1).numpy() == yte).mean())
    return {"threads": torch.get_num_threads(), "epoch_seconds": secs, "test_accuracy": acc}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("mkx")
    q.add_argument("--rows", type=int, required=True)
    q.add_argument("--width", type=int, default=784)
    q.add_argument("--out", required=True)
    q = sub.add_parser("infer")
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--weights", required=True)
    q.add_argument("--x", required=True)
    q.add_argument("--rows", type=int, default=256)
    q.add_argument("--model", choices=sorted(MODELS), default="mlp")
    q.add_argument("--aai-out")
    q.add_argument("--n-b1", type=int, default=2000)
    q.add_argument("--n-big", type=int, default=200)
    q = sub.add_parser("train")
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--epochs", type=int, default=5)
    q.add_argument("--batch", type=int, default=64)
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--model", choices=sorted(MODELS), default="mlp")
    q.add_argument("--init")
    a = p.parse_args()
    want = os.environ.get("OPENBLAS_NUM_THREADS")
    if a.cmd != "mkx" and want != str(a.threads):
        sys.exit(f"peer_torch.py: OPENBLAS_NUM_THREADS={want}, expected {a.threads}")
    res = {"mkx": cmd_mkx, "infer": cmd_infer, "train": cmd_train}[a.cmd](a)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
