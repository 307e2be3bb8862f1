"""agrad.descend end to end against PyTorch: the same problems, every optimizer and option set,
agrad's engine and update rules against torch autograd and torch.optim, step by step.

    python bench/descend_torch.py [--steps 200]

Needs torch (not a dependency of agrad). For each problem and optimizer it prints the worst
relative difference of the parameters over the run and how many steps were bit-identical. The
update rules follow torch's code operation for operation (core/optim.py); what is left is the
gradients' own rounding (torch sums a matmul or a mean in another order) and its growth along a
run. For developers: nothing here fails a build.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import agrad

torch.set_default_dtype(torch.float64)
T = torch.tensor


def problems(rng):
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=50)
    s = np.sign(y)
    data = {"X": X, "y": y, "s": s}
    return data, [
        ("mean((X @ w + b - y)**2)", {"w": np.zeros(3), "b": 0.0},
         lambda p: torch.mean((T(X) @ p["w"] + p["b"] - T(y)) ** 2)),
        ("(1 - a)**2 + 100*(c - a**2)**2", {"a": -1.5, "c": 2.0},
         lambda p: (1 - p["a"]) ** 2 + 100 * (p["c"] - p["a"] ** 2) ** 2),
        ("sum(relu(X @ w - 0.5)) + 0.1*sum(abs(w)) + sum(sigmoid(X @ w)*tanh(b))",
         {"w": np.array([0.3, -0.2, 0.1]), "b": 0.4},
         lambda p: torch.sum(torch.relu(T(X) @ p["w"] - 0.5)) + 0.1 * torch.sum(torch.abs(p["w"]))
         + torch.sum(torch.sigmoid(T(X) @ p["w"]) * torch.tanh(p["b"]))),
        ("mean(log(1 + exp(-(X @ w)*s))) + 0.01*sum(w**2)", {"w": np.zeros(3)},
         lambda p: torch.mean(torch.log(1 + torch.exp(-(T(X) @ p["w"]) * T(s)))) + 0.01 * torch.sum(p["w"] ** 2)),
    ]


CASES = [("sgd", 0.01, {}), ("sgd", 0.01, {"momentum": 0.9, "nesterov": True}),
         ("sgd", 0.01, {"momentum": 0.9, "dampening": 0.2, "weight_decay": 0.1}),
         ("adam", 0.01, {}), ("adam", 0.01, {"amsgrad": True, "weight_decay": 0.1}), ("adam", 0.01, {"maximize": True}),
         ("adamw", 0.01, {"betas": (0.8, 0.99)}), ("rmsprop", 0.001, {}),
         ("rmsprop", 0.001, {"centered": True, "momentum": 0.5}),
         ("adagrad", 0.05, {"lr_decay": 0.01, "initial_accumulator_value": 0.1})]
TORCH = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
         "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    steps = ap.parse_args().steps
    data, probs = problems(np.random.default_rng(5))
    worst_all = 0.0
    print(f"{'problem':40s} {'optimizer':9s} {'options':52s} {'worst rel':>9s}  bit-identical steps")
    for src, start, loss_fn in probs:
        for name, lr, opts in CASES:
            r = agrad.descend(src, at={**start, **{k: v for k, v in data.items() if k in src}}, wrt=list(start),
                              optimizer=name, lr=lr, options=opts, steps=steps, check=False, trajectory=True)
            params = {k: torch.tensor(np.array(v, dtype=float), requires_grad=True) for k, v in start.items()}
            opt = TORCH[name](list(params.values()), lr=lr, **opts)
            ran = len(next(iter(r.trajectory.values()))) - 1  # fewer when the loss diverged
            worst, same, losses = 0.0, 0, []
            for k in range(ran):
                opt.zero_grad()
                loss = loss_fn(params)
                losses.append(loss.item())
                loss.backward()
                opt.step()
                ours = {n: np.asarray(r.trajectory[n][k + 1]) for n in start}
                theirs = {n: params[n].detach().numpy() for n in start}
                for n in start:
                    worst = max(worst, float(np.max(np.abs(ours[n] - theirs[n]) / np.maximum(np.abs(theirs[n]), 1e-12))))
                same += all(np.array_equal(ours[n], theirs[n]) for n in start)
            worst_all = max(worst_all, worst)
            print(f"{src[:40]:40s} {name:9s} {str(opts):52s} {worst:9.1e}  {same}/{ran}"
                  + ("" if r.stop != "diverged" else f"; agrad stopped at step {r.diverged_at}, loss not finite: "
                     f"torch's loss there {loss_fn(params).item():.3g}"))
    print(f"worst relative difference over every run: {worst_all:.1e} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
