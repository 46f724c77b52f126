"""bench.py - aai against PyTorch on this CPU, one invocation (bench/run).

Workloads (README.md "Performance" explains the figures):
  peak        measured fp32 FMA peak (bench/peak.c), the roofline's limit;
              measured again after each workload, with a warning where 2
              threads were not 1.7x 1 thread (the shared host took a core);
              also the sustained FMA rate (1.5 s, after the clock settles:
              a note when two busy cores keep under 1.7x one, the ceiling
              of a training epoch's 2-thread speed-up) and the memory
              bandwidth at 1 and 2 threads (a triad), the limit of the
              steps that only stream
  compile     aaic wall time per example (median of 3) and --time-passes
  mlp_infer   examples/fashion_mlp.aai predict: batch-1 latency and batch-256
              throughput (bench/infer_harness.c calls the generated entry) vs
              torch eager (no_grad), TorchScript (trace + freeze) and numpy, same
              weights (aai's trained safetensors), same input; max |diff|
  mlp_train   Fashion-MNIST 60k, batch 64, Adam 1e-3, shuffled, 5 epochs:
              seconds of epoch 2 and test accuracy on both sides
  cnn_train   examples/fashion_cnn.aai (LeNet-like, conv 1->8 5x5 pad 2, pool,
              conv 8->16 5x5, pool, dense 400->120->10), batch 64, Adam 1e-3,
              --cnn-epochs epochs: seconds of epoch 2 and test accuracy
  cnn_infer   the CNN's predict as mlp_infer (fewer timed calls), same
              weights (aai's trained ones) loaded into torch; max |diff|
  startup     process start to first prediction of the MLP binary with its
              weights baked in (aaic --weights), and reading them from a
              file, vs python3 -c "import torch"
  memory      peak RSS of `model train` vs the planned bytes
  step_scaling  the big kernels of the MLP's training step (its products
              at batch 64 and its Adam update, through libaairt), replayed
              in the step's order at 1 and 2 threads (bench/step_scaling.c):
              a step scales no better than its kernels do
  own_scaling aai at 2 threads against aai at 1 (training epoch 2, batch-256
              throughput): ratios of the round medians and of the best rounds,
              and for training the median ratio of --scaling-pairs pairs of
              aai-only runs back to back
  roofline    achieved GFLOP/s / measured peak, MLP and CNN: batch-256 inference
              (manifest flops_per_sample) and a training epoch
              (train_flops_per_sample: a step's forward and backward pass)

Every workload runs at 1 and 2 threads (aai: --threads N; torch:
set_num_threads(N); both: OPENBLAS_NUM_THREADS=N), aai and torch
interleaved round by round; figures are medians over rounds. Torch at 2
threads runs with OMP_WAIT_POLICY=PASSIVE (its faster setting here). Prints
a table and writes bench/results/latest.json.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
PEER = os.path.join(ROOT, "bench", "peer_torch.py")
LIBS = ["-lyaml", "-lcjson", "-lz", "-lmvec", "-lm", "-lpthread", "-ldl"]


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def run(cmd, env=None, capture=True, check=True, stdin=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(cmd, env=e, stdin=stdin, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def tenv(t, torch_side=False):
    env = {"OPENBLAS_NUM_THREADS": str(t), "AAI_THREADS": str(t)}
    if torch_side and t > 1:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Bench:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.aaic = os.path.join(self.build, "aaic")
        self.work = tempfile.mkdtemp(prefix="aai-bench-")
        self.rows = []    # table rows: workload, threads, figure, aai, peer, peer name, ratio
        self.res = {"machine": machine(), "workloads": {}}

    def w(self, *p):
        return os.path.join(self.work, *p)

    def row(self, workload, threads, figure, aai, peer, peer_name, higher_better, ratio=None):
        if ratio is None and aai and peer:
            ratio = aai / peer if higher_better else peer / aai
        self.rows.append((workload, threads, figure, aai, peer, peer_name, ratio))
        self.res["workloads"].setdefault(workload, []).append(
            {"threads": threads, "figure": figure, "aai": aai, "peer": peer, "peer_name": peer_name,
             "ratio_aai_faster": ratio})

    # ---- tools ------------------------------------------------------------
    def build_tools(self):
        run(["cc", "-O3", "-pthread", os.path.join(ROOT, "bench", "peak.c"), "-o", self.w("peak")])
        run(["cc", "-O2", os.path.join(ROOT, "bench", "step_scaling.c"),
             "-I", os.path.join(ROOT, "runtime", "include"), "-I", os.path.join(ROOT, "runtime", "src"),
             os.path.join(self.build, "lib", "libaairt.a")] + LIBS + ["-o", self.w("step_scaling")])

    def compile_model(self, example, name):
        src = os.path.join(ROOT, "examples", example)
        run([self.aaic, src, "-o", self.w(name)])
        run([self.aaic, "-c", src, "-o", self.w(name + ".o")])
        run(["cc", "-O2", os.path.join(ROOT, "bench", "infer_harness.c"), self.w(name + ".o"),
             "-I", os.path.join(ROOT, "runtime", "include"), "-I", os.path.join(ROOT, "runtime", "src"),
             os.path.join(self.build, "lib", "libaairt.a")] + LIBS + ["-o", self.w(name + "_harness")])
        info = json.loads(run([self.w(name), "info", "--json"]).stdout)
        return info

    # ---- workloads ----------------------------------------------------------
    def peak(self):
        p = last_json(run([self.w("peak")]).stdout)
        self.res["peak_gflops"] = p
        log(f"peak {p}")
        return p

    def peak_again(self, after):
        """The FMA peak measured again after workload `after`: on a shared
        host the second core's share changes during a run, and a 2-thread
        row measured while it is gone says nothing about the code."""
        p = last_json(run([self.w("peak")]).stdout)
        self.res.setdefault("peak_gflops_after", {})[after] = p
        log(f"peak after {after} {p}")
        return p

    @staticmethod
    def short_probe(p):
        """The probe pair (AVX2 or AVX-512, 1 and 2 threads) of one peak
        measurement whose 2-thread rate is furthest under 1.7x its 1-thread
        one, as "t2 vs t1 GFLOP/s, isa"; None when both pairs reach 1.7x.
        Either pair counts: the probes run one after the other, and a core
        the host takes for one of them is gone for the rows around it too
        (run 32: after mlp_train the AVX-512 pair found one core, the AVX2
        pair two, and two of mlp_infer's three 2-thread rounds ran at the
        1-thread speed)."""
        worst = None
        for isa in ("avx2", "avx512"):
            t1, t2 = p.get(f"{isa}_t1"), p.get(f"{isa}_t2")
            if t1 and t2 is not None and t2 < 1.7 * t1 and (worst is None or t2 / t1 < worst[0]):
                worst = (t2 / t1, f"{t2} vs {t1} GFLOP/s, {isa}")
        return worst[1] if worst else None

    def host_short_of_cores(self):
        """A warning naming the workloads after which the FMA peak at 2
        threads was less than 1.7x the 1-thread one in either probe pair
        (the host did not give the run a second core then, so those
        2-thread rows, and the compile times, which use both, say little
        about aai or torch), or the 1-thread peak was 20 % below the
        start's (the host slowed even one core)."""
        start = self.res.get("peak_gflops", {})
        peaks = {"start": start}
        peaks.update(self.res.get("peak_gflops_after", {}))
        short = [f"{k} ({probe})" for k, p in peaks.items() if (probe := self.short_probe(p))]
        slow = [f"{k} ({p['avx2_t1']} vs {start['avx2_t1']} GFLOP/s)" for k, p in peaks.items()
                if start.get("avx2_t1") and p.get("avx2_t1", 0) < 0.8 * start["avx2_t1"]]
        msgs = []
        if short:
            msgs.append("the host gave this run less than two cores at: " + ", ".join(short) +
                        " (2-thread FMA peak vs 1-thread); the 2-thread rows near them are not "
                        "representative")
        if slow:
            msgs.append("one core ran a fifth or more below its speed at the start after: " +
                        ", ".join(slow) + "; those rows are not representative")
        if not msgs:
            return None
        msg = "; ".join(msgs) + "; run again"
        self.res["host_warning"] = msg
        return msg

    def sustained_ceiling(self):
        """The lowest ratio of sustained 2-thread to 1-thread FMA rate
        over the probes, when under 1.7: a long compute-bound run (a
        training epoch) cannot speed up more than that with a second
        thread, whatever the code does."""
        peaks = [self.res.get("peak_gflops", {})] + list(self.res.get("peak_gflops_after", {}).values())
        ratios = [p["avx2_sustained_t2"] / p["avx2_sustained_t1"] for p in peaks
                  if p.get("avx2_sustained_t1") and p.get("avx2_sustained_t2")]
        if not ratios or min(ratios) >= 1.7:
            return None
        msg = (f"two busy cores sustained only {min(ratios):.2f}x one core's FMA rate "
               f"(range {min(ratios):.2f}-{max(ratios):.2f}x over the probes): the ceiling of any "
               f"long compute-bound 2-thread speed-up in this run")
        self.res["sustained_ceiling"] = {"min": min(ratios), "max": max(ratios)}
        return msg

    def compile_times(self):
        out = {}
        for ex in sorted(os.listdir(os.path.join(ROOT, "examples"))):
            if not ex.endswith(".aai"):
                continue
            src = os.path.join(ROOT, "examples", ex)
            ts = []
            for _ in range(3):
                t0 = time.perf_counter()
                run([self.aaic, src, "-o", self.w("c_" + ex[:-4])])
                ts.append(time.perf_counter() - t0)
            stages = {}
            r = run([self.aaic, "--time-passes", src, "-o", self.w("c_" + ex[:-4])])
            for line in (r.stderr + r.stdout).splitlines():
                m = re.match(r"aaic:\s+(\S+)\s+([\d.]+) ms", line)
                if m:
                    stages[m.group(1)] = stages.get(m.group(1), 0) + float(m.group(2))
            out[ex] = {"wall_ms": med(ts) * 1e3, "stages_ms": stages}
            self.row("compile", 1, ex, med(ts) * 1e3, None, "target 150 ms", False)
            log(f"compile {ex}: {med(ts) * 1e3:.0f} ms {stages}")
        self.res["compile"] = out

    def train(self, model, exe, threads, rounds, epochs):
        """Trains `model` (mlp, cnn) on both sides with the aai executable
        `exe`; returns the aai weights of the first thread count's run."""
        per = {t: {"aai": [], "torch": [], "aai_acc": None, "torch_acc": None} for t in threads}
        for r in range(rounds):
            for t in threads:
                wts = self.w(f"{exe}_t{t}.safetensors")
                mfile = self.w(f"{exe}_t{t}_metrics.jsonl")
                if os.path.exists(mfile):
                    os.remove(mfile)
                cmd = ["/usr/bin/time", "-v", self.w(exe), "train", "--epochs", str(epochs), "--quiet",
                       "--metrics", mfile, "--out", wts, "--threads", str(t)]
                rr = run(cmd, env=tenv(t))
                ep = [json.loads(line) for line in open(mfile)]
                per[t]["aai"].append(ep[1]["seconds"] if len(ep) > 1 else ep[0]["seconds"])
                per[t]["aai_acc"] = ep[-1].get("test_accuracy")
                per[t]["aai_epochs"] = [e["seconds"] for e in ep]
                m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", rr.stderr)
                if m and t == threads[0] and model == "mlp":
                    self.res.setdefault("train_peak_rss_kb", []).append(int(m.group(1)))
                tr = last_json(run([PY, PEER, "train", "--model", model, "--threads", str(t),
                                    "--epochs", str(epochs)], env=tenv(t, True)).stdout)
                per[t]["torch"].append(tr["epoch_seconds"][1] if epochs > 1 else tr["epoch_seconds"][0])
                per[t]["torch_acc"] = tr["test_accuracy"]
                per[t]["torch_epochs"] = tr["epoch_seconds"]
                log(f"{model}_train t{t} round {r}: aai {per[t]['aai_epochs']} acc {per[t]['aai_acc']}; "
                    f"torch {tr['epoch_seconds']} acc {tr['test_accuracy']}")
        for t in threads:
            p = per[t]
            # Epoch 2 is timed (epoch 1 pays for first touches) unless only one ran.
            timed = "epoch 2 (s)" if epochs > 1 else "epoch 1 (s)"
            self.row(f"{model}_train", t, timed, med(p["aai"]), med(p["torch"]), "torch eager", False)
            self.row(f"{model}_train", t, f"test acc after {epochs} ep", p["aai_acc"], p["torch_acc"],
                     "torch eager", True)
        self.res[f"{model}_train"] = per
        return self.w(f"{exe}_t{threads[0]}.safetensors")

    def infer(self, model, harness, threads, rounds, weights, n_b1=2000, n_big=200):
        """Batch-1 latency and batch-256 throughput of `model` (mlp, cnn):
        aai's generated predict in process (`harness`) against torch eager
        and TorchScript (and, for the MLP, numpy) on the same weights and
        rows."""
        x = self.w("x.f32")
        run([PY, PEER, "mkx", "--rows", "256", "--out", x])
        keys = ["aai_b1", "aai_big", "eager_b1", "eager_big", "script_b1", "script_big"]
        if model == "mlp":
            keys += ["numpy_b1", "numpy_big"]
        per = {t: {k: [] for k in keys} for t in threads}
        diffs = []
        for r in range(rounds):
            for t in threads:
                out = self.w(f"out_t{t}.f32")
                h = last_json(run([self.w(harness), weights, x, "256", out, str(t), str(n_b1),
                                   str(n_big)], env=tenv(t)).stdout)
                p = last_json(run([PY, PEER, "infer", "--model", model, "--threads", str(t),
                                   "--weights", weights, "--x", x, "--rows", "256", "--aai-out", out,
                                   "--n-b1", str(n_b1), "--n-big", str(n_big)],
                                  env=tenv(t, True)).stdout)
                d = per[t]
                d["aai_b1"].append(h["b1_latency_us"])
                d["aai_big"].append(h["big_throughput"])
                for k in ("eager", "script", "numpy"):
                    if f"{k}_b1" in d:
                        d[f"{k}_b1"].append(p[f"{k}_b1_latency_us"])
                        d[f"{k}_big"].append(p[f"{k}_big_throughput"])
                diffs.append(max(p["max_abs_diff"], p["max_abs_diff_b1"]))
                if p.get("numpy_max_abs_diff", 0) > 1e-4:
                    raise SystemExit(f"bench: numpy's MLP disagrees with torch by {p['numpy_max_abs_diff']}")
                log(f"{model}_infer t{t} round {r}: aai {h['b1_latency_us']:.1f} us, "
                    f"{h['big_throughput']:.0f}/s; torch eager {p['eager_b1_latency_us']:.1f} us, "
                    f"{p['eager_big_throughput']:.0f}/s; script {p['script_b1_latency_us']:.1f} us, "
                    f"{p['script_big_throughput']:.0f}/s; max|diff| {diffs[-1]:.2e}")
        w = f"{model}_infer"
        self.res[f"{w}_rounds"] = {t: dict(per[t]) for t in threads}
        for t in threads:
            d = {k: med(v) for k, v in per[t].items()}
            self.row(w, t, "batch-1 latency (us)", d["aai_b1"], d["eager_b1"], "torch eager", False)
            self.row(w, t, "batch-1 latency (us)", d["aai_b1"], d["script_b1"], "torchscript", False)
            if "numpy_b1" in d:
                self.row(w, t, "batch-1 latency (us)", d["aai_b1"], d["numpy_b1"], "numpy", False)
            self.row(w, t, "batch-256 (samples/s)", d["aai_big"], d["eager_big"], "torch eager", True)
            self.row(w, t, "batch-256 (samples/s)", d["aai_big"], d["script_big"], "torchscript", True)
            if "numpy_big" in d:
                self.row(w, t, "batch-256 (samples/s)", d["aai_big"], d["numpy_big"], "numpy", True)
            per[t] = d
        self.res[w] = per
        self.res[f"{w}_max_abs_diff"] = max(diffs)
        return per

    def startup(self, weights):
        """Process start to first prediction: the MLP built with its trained
        weights baked in (`aaic --weights`, the figure the target is about)
        and the plain binary reading the same weights from a file."""
        # one 28x28 image in the dataset's own format (IDX), for --input
        row = self.w("row.idx")
        with open(row, "wb") as f:
            f.write(struct.pack(">IIII", 0x803, 1, 28, 28) + bytes(range(256)) * 3 + bytes(16))
        run([self.aaic, os.path.join(ROOT, "examples", "fashion_mlp.aai"), "--weights", weights,
             "-o", self.w("fm_baked")])
        cmds = {"baked": [self.w("fm_baked"), "predict", "--input", row],
                "file": [self.w("fm"), "predict", "--weights", weights, "--input", row],
                "true": ["/bin/true"]}
        if run(cmds["baked"]).stdout != run(cmds["file"]).stdout:
            raise SystemExit("startup: the baked binary predicts differently from the weights file")
        ts = {k: [] for k in cmds}
        for _ in range(self.a.startup_runs):
            for k, cmd in cmds.items():  # interleaved: the machine's noise hits all alike
                t0 = time.perf_counter()
                run(cmd, env=tenv(1))
                ts[k].append(time.perf_counter() - t0)
        tt = []
        for _ in range(5):
            t0 = time.perf_counter()
            run([PY, "-c", "import torch"], env=tenv(1))
            tt.append(time.perf_counter() - t0)
        ms = {k: med(v) * 1e3 for k, v in ts.items()}
        self.row("startup", 1, "start to first prediction, baked (ms)", ms["baked"], med(tt) * 1e3,
                 "python3 -c 'import torch'", False)
        self.row("startup", 1, "same, weights file (ms)", ms["file"], med(tt) * 1e3,
                 "python3 -c 'import torch'", False)
        self.res["startup"] = {"aai_ms": ms["baked"], "aai_weights_file_ms": ms["file"],
                               "import_torch_ms": med(tt) * 1e3, "spawn_true_ms": ms["true"]}
        log(f"startup {self.res['startup']}")

    def step_scaling(self):
        """Each kernel of the MLP's training step at 1 and 2 threads: the
        ceiling of the step's own 2-thread speed-up on this host now."""
        r = last_json(run([self.w("step_scaling")]).stdout)
        for k in r["kernels"] + [{"name": "the kernels of a step", "us_t1": r["step_us_t1"],
                                  "us_t2": r["step_us_t2"]}]:
            self.row("step_scaling", 2, f"{k['name']} (us)", k["us_t2"], k["us_t1"], "aai 1 thread",
                     False)
        self.res["step_scaling"] = r
        log(f"step_scaling {r}")

    def own_scaling(self, threads):
        """aai at 2 threads against aai at 1 (the issue's 1.7x target): the
        ratio of the medians over rounds, and of the best rounds. On a
        shared host a 2-thread round can lose its second core for a while
        (the peak probes say when) while 1-thread rounds rarely lose
        anything, so the medians mix the host into the figure; the best
        rounds show what the code does when the host gives it both cores."""
        if threads[:2] != [1, 2]:
            return
        out = self.res.setdefault("own_scaling", {})
        cases = [(f"{m}_train", f"{m}_train", "aai", "epoch 2 (s)", False) for m in ("mlp", "cnn")]
        cases += [(f"{m}_infer", f"{m}_infer_rounds", "aai_big", "batch-256 (samples/s)", True)
                  for m in ("mlp", "cnn")]
        for name, key, field, figure, higher in cases:
            per = self.res.get(key)
            if not per:
                continue
            one, two = per[1][field], per[2][field]
            best = max if higher else min
            for how, v1, v2 in (("median", med(one), med(two)), ("best round", best(one), best(two))):
                self.row("own_scaling", 2, f"{name} {figure}, {how}", v2, v1,
                         "aai 1 thread (target 1.7x)", higher)
                out[f"{name} {how}"] = v1 / v2 if not higher else v2 / v1

    def paired_scaling(self, model, exe, pairs):
        """aai's training epoch 2 at 1 and at 2 threads, run back to back
        `pairs` times (the order alternating), without torch in between:
        the median of each pair's ratio. A pair's two runs meet the host in
        the same state, so this is the steadiest of the own_scaling
        figures."""
        secs = {1: [], 2: []}
        ratios = []
        for p in range(pairs):
            for t in ((1, 2) if p % 2 == 0 else (2, 1)):
                mfile = self.w(f"{exe}_pair_metrics.jsonl")
                if os.path.exists(mfile):
                    os.remove(mfile)
                run([self.w(exe), "train", "--epochs", "2", "--quiet", "--metrics", mfile, "--out",
                     self.w(f"{exe}_pair.safetensors"), "--threads", str(t)], env=tenv(t))
                secs[t].append([json.loads(line) for line in open(mfile)][1]["seconds"])
            ratios.append(secs[1][-1] / secs[2][-1])
        log(f"{model}_train pairs: 1 thread {secs[1]}, 2 threads {secs[2]}")
        self.row("own_scaling", 2, f"{model}_train epoch 2 (s), median of {pairs} back-to-back pairs",
                 med(secs[2]), med(secs[1]), "aai 1 thread (target 1.7x)", False, ratio=med(ratios))
        self.res.setdefault("own_scaling", {})[f"{model}_train paired"] = {
            "ratios": ratios, "t1": secs[1], "t2": secs[2]}

    def memory(self, info):
        n = info["n_param_floats"]
        arena = info["arena"]["static_floats"] + info["arena"]["row_floats"] * info["train"]["batch"]
        data = (60000 + 10000) * (784 + 1)
        planned = 4 * (4 * n + arena + data)  # params, grads, Adam m and v; arena; data
        rss = med(self.res.get("train_peak_rss_kb", [])) or 0
        self.res["memory"] = {"planned_bytes": planned, "peak_rss_bytes": rss * 1024,
                              "ratio": rss * 1024 / planned}
        self.row("memory", 1, "train peak RSS / planned", rss * 1024 / planned, None, "target 1.2", False)

    def roofline(self, model, info, infer, train, peak):
        """Achieved GFLOP/s over the measured FMA peak (1-thread peak times
        the threads) for batch-256 inference and a training epoch of
        `model`: FLOPs per row from the manifest (flops_per_sample for
        predict, train_flops_per_sample for a step's forward and backward
        pass), the same figures for torch, which does the same work."""
        fwd, train_fps = info["flops_per_sample"], info.get("train_flops_per_sample")
        out = self.res.setdefault("roofline", {})
        for t, d in (infer or {}).items():
            pk = peak["avx2_t1"] * t
            g = fwd * d["aai_big"] / 1e9
            out[f"{model}_infer_t{t}"] = {"gflops": g, "peak": pk, "fraction": g / pk}
            self.row("roofline", t, f"{model}_infer b256 fraction of peak", g / pk,
                     fwd * d["eager_big"] / 1e9 / pk, "torch eager", True)
        for t, d in (train or {}).items():
            if not train_fps:
                break
            pk = peak["avx2_t1"] * t
            g = train_fps * 60000 / med(d["aai"]) / 1e9
            gt = train_fps * 60000 / med(d["torch"]) / 1e9
            out[f"{model}_train_t{t}"] = {"gflops": g, "peak": pk, "fraction": g / pk,
                                          "train_flops_per_sample": train_fps}
            self.row("roofline", t, f"{model}_train fraction of peak", g / pk, gt / pk,
                     "torch eager", True)

    # ---- report -------------------------------------------------------------
    def table(self):
        def f(v):
            if v is None:
                return "-"
            if isinstance(v, float) and v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-2):
                return f"{v:.3g}"
            return f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else f"{v:.1f}" if isinstance(v, float) else str(v)
        lines = ["| workload | threads | figure | aai | peer | peer | aai faster by |",
                 "|---|---:|---|---:|---:|---|---:|"]
        for w, t, fig, a, p, pn, r in self.rows:
            lines.append(f"| {w} | {t} | {fig} | {f(a)} | {f(p)} | {pn} | {f(r) + 'x' if r else '-'} |")
        return "\n".join(lines)


def machine():
    model = "?"
    try:
        for line in subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_"))}}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build-bench")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3, help="inference rounds (aai and torch interleaved)")
    p.add_argument("--train-rounds", type=int, default=3,
                   help="training rounds (aai and torch interleaved); epoch 2 seconds are their median")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--cnn-epochs", type=int, default=2)
    p.add_argument("--startup-runs", type=int, default=30)
    p.add_argument("--scaling-pairs", type=int, default=3,
                   help="aai-only 1-thread/2-thread training pairs for own_scaling (0: none)")
    p.add_argument("--only", default="", help="comma list of: compile,mlp_infer,mlp_train,cnn_train,cnn_infer,startup,"
                   "step_scaling")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    a = p.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    only = set(filter(None, a.only.split(",")))
    want = lambda name: not only or name in only  # noqa: E731
    b = Bench(a)
    try:
        b.build_tools()
        info = b.compile_model("fashion_mlp.aai", "fm")
        b.res["mlp_manifest"] = {"flops_per_sample": info["flops_per_sample"],
                                 "n_param_floats": info["n_param_floats"], "arena": info["arena"]}
        peak = b.peak()
        if want("compile"):
            b.compile_times()
            b.peak_again("compile")
        train = None
        weights = b.w("fm_t1.safetensors")
        if want("mlp_train") or want("mlp_infer") or want("startup"):
            if want("mlp_train"):
                weights = b.train("mlp", "fm", threads, a.train_rounds, a.epochs)
                if a.scaling_pairs and threads[:2] == [1, 2]:
                    b.paired_scaling("mlp", "fm", a.scaling_pairs)
                b.peak_again("mlp_train")
                b.memory(info)
                train = b.res["mlp_train"]
            else:
                run([b.w("fm"), "train", "--epochs", "1", "--quiet", "--metrics", b.w("m.jsonl"),
                     "--out", weights], env=tenv(2))
        if want("step_scaling"):
            b.step_scaling()
        infer = None
        if want("mlp_infer"):
            infer = b.infer("mlp", "fm_harness", threads, a.rounds, weights)
            b.peak_again("mlp_infer")
        cnn = None
        if want("cnn_train") or want("cnn_infer"):
            cnn = {"info": b.compile_model("fashion_cnn.aai", "cnn")}
            cw = b.w("cnn_t1.safetensors")
            if want("cnn_train"):
                cw = b.train("cnn", "cnn", threads, a.train_rounds, a.cnn_epochs)
                if a.scaling_pairs and threads[:2] == [1, 2]:
                    b.paired_scaling("cnn", "cnn", a.scaling_pairs)
                b.peak_again("cnn_train")
                cnn["train"] = b.res["cnn_train"]
            else:
                run([b.w("cnn"), "train", "--epochs", "1", "--quiet", "--metrics", b.w("mc.jsonl"),
                     "--out", cw], env=tenv(2))
            if want("cnn_infer"):
                cnn["infer"] = b.infer("cnn", "cnn_harness", threads, a.rounds, cw, n_b1=500,
                                       n_big=40)
                b.peak_again("cnn_infer")
        if want("startup"):
            b.startup(weights)
        b.roofline("mlp", info, infer, train, peak)
        if cnn:
            b.roofline("cnn", cnn["info"], cnn.get("infer"), cnn.get("train"), peak)
        b.own_scaling(threads)
        print(b.table())
        after = ", ".join(f"{k} {p['avx2_t1']} / {p['avx2_t2']} GFLOP/s "
                          f"({p.get('avx2_sustained_t1')} / {p.get('avx2_sustained_t2')} sustained), "
                          f"{p.get('dram_t1')} / {p.get('dram_t2')} GB/s"
                          for k, p in b.res.get("peak_gflops_after", {}).items())
        print(f"\nmachine: {b.res['machine']['cpu']}, {b.res['machine']['cpus']} CPUs; "
              f"peak {peak} (1 / 2 threads after each workload: {after}); max |aai - torch| of "
              f"the logits: mlp_infer {b.res.get('mlp_infer_max_abs_diff')}, cnn_infer "
              f"{b.res.get('cnn_infer_max_abs_diff')}")
        short = b.host_short_of_cores()
        if short:
            print(f"WARNING: {short}")
        ceiling = b.sustained_ceiling()
        if ceiling:
            print(f"NOTE: {ceiling}")
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(b.res, f, indent=1)
        print(f"wrote {os.path.relpath(a.out)}")
    finally:
        shutil.rmtree(b.work, ignore_errors=True)


if __name__ == "__main__":
    main()
