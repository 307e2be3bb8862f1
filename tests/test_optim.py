"""Every optimizer against a plain-Python transcription of torch.optim's documented algorithm.

The references below are written from the pseudo-code in torch.optim's documentation, one
float at a time, independent of agrad.optim (which follows torch's code: lerp, folded bias
corrections). 50 steps of agrad.descend, with gradients from agrad's AD, must agree with the
reference run on hand-derived gradients to 1e-12 relative.
"""
import math

import numpy as np
import pytest

from agrad import descend
from agrad.errors import AgradError
from agrad.optim import OPTIMIZERS, make

RTOL = 1e-12
STEPS = 50


# ---- the documented algorithms, element by element ------------------------------------------------
def ref_sgd(theta, grad, lr, steps, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    theta, b, out = list(theta), None, []
    for t in range(1, steps + 1):
        out.append(list(theta))
        g = grad(theta)
        g = [-x for x in g] if maximize else g
        if weight_decay:
            g = [gi + weight_decay * p for gi, p in zip(g, theta)]
        if momentum:
            b = list(g) if t == 1 else [momentum * bi + (1 - dampening) * gi for bi, gi in zip(b, g)]
            g = [gi + momentum * bi for gi, bi in zip(g, b)] if nesterov else b
        theta = [p - lr * gi for p, gi in zip(theta, g)]
    return out + [theta]


def ref_adam(theta, grad, lr, steps, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
             decoupled=False):
    b1, b2 = betas
    theta = list(theta)
    m, v, vmax, out = [0.0] * len(theta), [0.0] * len(theta), [0.0] * len(theta), []
    for t in range(1, steps + 1):
        out.append(list(theta))
        g = grad(theta)
        g = [-x for x in g] if maximize else g
        if weight_decay and decoupled:
            theta = [p * (1 - lr * weight_decay) for p in theta]
        elif weight_decay:
            g = [gi + weight_decay * p for gi, p in zip(g, theta)]
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        mhat = [mi / (1 - b1 ** t) for mi in m]
        if amsgrad:
            vmax = [max(a, b) for a, b in zip(vmax, v)]
            vhat = [x / (1 - b2 ** t) for x in vmax]
        else:
            vhat = [x / (1 - b2 ** t) for x in v]
        theta = [p - lr * mh / (math.sqrt(vh) + eps) for p, mh, vh in zip(theta, mhat, vhat)]
    return out + [theta]


def ref_adamw(theta, grad, lr, steps, weight_decay=1e-2, **kw):
    return ref_adam(theta, grad, lr, steps, weight_decay=weight_decay, decoupled=True, **kw)


def ref_rmsprop(theta, grad, lr, steps, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                maximize=False):
    theta = list(theta)
    n = len(theta)
    v, gave, b, out = [0.0] * n, [0.0] * n, [0.0] * n, []
    for _ in range(steps):
        out.append(list(theta))
        g = grad(theta)
        g = [-x for x in g] if maximize else g
        if weight_decay:
            g = [gi + weight_decay * p for gi, p in zip(g, theta)]
        v = [alpha * vi + (1 - alpha) * gi * gi for vi, gi in zip(v, g)]
        vt = list(v)
        if centered:
            gave = [alpha * a + (1 - alpha) * gi for a, gi in zip(gave, g)]
            vt = [x - a * a for x, a in zip(vt, gave)]
        if momentum > 0:
            b = [momentum * bi + gi / (math.sqrt(x) + eps) for bi, gi, x in zip(b, g, vt)]
            theta = [p - lr * bi for p, bi in zip(theta, b)]
        else:
            theta = [p - lr * gi / (math.sqrt(x) + eps) for p, gi, x in zip(theta, g, vt)]
    return out + [theta]


def ref_adagrad(theta, grad, lr, steps, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                maximize=False):
    theta = list(theta)
    s, out = [initial_accumulator_value] * len(theta), []
    for t in range(1, steps + 1):
        out.append(list(theta))
        g = grad(theta)
        g = [-x for x in g] if maximize else g
        clr = lr / (1 + (t - 1) * lr_decay)
        if weight_decay:
            g = [gi + weight_decay * p for gi, p in zip(g, theta)]
        s = [si + gi * gi for si, gi in zip(s, g)]
        theta = [p - clr * gi / (math.sqrt(si) + eps) for p, gi, si in zip(theta, g, s)]
    return out + [theta]


REFS = {"sgd": ref_sgd, "adam": ref_adam, "adamw": ref_adamw, "rmsprop": ref_rmsprop, "adagrad": ref_adagrad}


# ---- problems: an expression for agrad, its gradient derived by hand for the reference ----------
_rng = np.random.default_rng(7)
_X = _rng.normal(size=20)
_Y = 1.5 * _X - 0.5 + 0.1 * _rng.normal(size=20)
_A = _rng.normal(size=(6, 3))
_b = _rng.normal(size=6)


def _lin_grad(theta):  # mean((w*X + b - Y)**2) over (w, b)
    w, b = theta
    r = [w * x + b - y for x, y in zip(_X, _Y)]
    n = len(r)
    return [sum(2 * ri * x for ri, x in zip(r, _X)) / n, sum(2 * ri for ri in r) / n]


def _ls_grad(theta):  # sum((A @ w - c)**2) over the vector w
    r = [sum(_A[i, j] * theta[j] for j in range(3)) - _b[i] for i in range(6)]
    return [sum(2 * r[i] * _A[i, j] for i in range(6)) for j in range(3)]


def _rosen_grad(theta):  # (1 - x)**2 + 10*(y - x**2)**2
    x, y = theta
    return [-2 * (1 - x) - 40 * x * (y - x * x), 20 * (y - x * x)]


def _quad_grad(theta):  # sum(W*W*D) + sum(sin(W)) over a 2x2 matrix W, D data
    d = [1.0, 2.0, 0.5, 3.0]
    return [2 * w * di + math.cos(w) for w, di in zip(theta, d)]


PROBLEMS = {
    # name: (expression, bindings, wrt, start (flat), gradient, unflatten for comparison)
    "linear regression (scalars, data)": ("mean((w*X + b - Y)**2)", {"w": 0.3, "b": -0.2, "X": _X, "Y": _Y},
                                          ["w", "b"], [0.3, -0.2], _lin_grad),
    "least squares (vector, data)": ("sum((A @ w - c)**2)", {"w": [0.1, -0.2, 0.3], "A": _A, "c": _b}, ["w"],
                                     [0.1, -0.2, 0.3], _ls_grad),
    "rosenbrock (two scalars)": ("(1 - x)**2 + 10*(y - x**2)**2", {"x": -0.5, "y": 0.8}, ["x", "y"], [-0.5, 0.8],
                                 _rosen_grad),
    "matrix parameter": ("sum(W*W*D) + sum(sin(W))", {"W": [[0.5, -1.0], [1.5, 0.2]], "D": [[1.0, 2.0], [0.5, 3.0]]},
                         ["W"], [0.5, -1.0, 1.5, 0.2], _quad_grad),
}

CONFIGS = [
    ("sgd", 0.01, {}),
    ("sgd", 0.01, {"momentum": 0.9}),
    ("sgd", 0.01, {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05}),
    ("sgd", 0.01, {"momentum": 0.9, "nesterov": True}),
    ("sgd", 0.001, {"momentum": 0.5, "nesterov": True, "weight_decay": 0.1, "maximize": True}),
    ("adam", 0.02, {}),
    ("adam", 0.02, {"weight_decay": 0.1}),
    ("adam", 0.02, {"amsgrad": True}),
    ("adam", 0.02, {"amsgrad": True, "betas": (0.8, 0.95), "eps": 1e-6, "maximize": True}),
    ("adamw", 0.02, {}),
    ("adamw", 0.02, {"weight_decay": 0.3, "amsgrad": True}),
    ("rmsprop", 0.005, {}),
    ("rmsprop", 0.005, {"momentum": 0.7}),
    ("rmsprop", 0.005, {"centered": True}),
    ("rmsprop", 0.005, {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "alpha": 0.9}),
    ("rmsprop", 0.005, {"maximize": True}),
    ("adagrad", 0.05, {}),
    ("adagrad", 0.05, {"lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.05}),
    ("adagrad", 0.05, {"eps": 1e-6, "maximize": True}),
]


def _flat(params: dict, names) -> np.ndarray:
    return np.concatenate([np.ravel(params[n]) for n in names])


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("name, lr, options", CONFIGS, ids=lambda c: str(c))
def test_fifty_steps_match_the_documented_algorithm(problem, name, lr, options):
    expr, bindings, wrt, start, grad = PROBLEMS[problem]
    ref = np.array(REFS[name](start, grad, lr, STEPS, **options))  # (steps + 1, n): before each step, then final
    r = descend(expr, at=bindings, wrt=wrt, optimizer=name, lr=lr, steps=STEPS, options=options,
                check=False, trajectory=True)
    assert r.stop == "steps" and r.updates == STEPS
    got = np.stack([np.concatenate([np.reshape(r.trajectory[n][k], -1) for n in wrt]) for k in range(STEPS + 1)])
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(_flat(r.params, wrt), ref[-1], rtol=RTOL, atol=0)
    assert not np.allclose(ref[-1], start)  # the run moved: the comparison is not of two starting points


def test_first_steps_by_hand():
    """Worked by hand on f = x**2 from x = 1 (g = 2x): numbers a reader can check."""
    r = descend("x**2", x=1.0, optimizer="sgd", lr=0.1, steps=2, options={"momentum": 0.9}, check=False,
                trajectory=True)
    # step 1: g = 2, buf = 2 (no dampening on step 1), x = 1 - 0.2 = 0.8
    # step 2: g = 1.6, buf = 0.9*2 + 1.6 = 3.4, x = 0.8 - 0.34 = 0.46
    assert r.trajectory["x"].tolist() == pytest.approx([1.0, 0.8, 0.46], rel=1e-15)
    r = descend("x**2", x=1.0, optimizer="adam", lr=0.1, steps=1, check=False)
    # Adam's first step is lr * sign(g) (m^ = g, v^ = g^2): 1 - 0.1 * 2 / (2 + 1e-8)
    assert r.params["x"] == pytest.approx(1 - 0.1 * 2 / (2 + 1e-8), rel=1e-15)
    r = descend("x**2", x=1.0, optimizer="adagrad", lr=0.1, steps=1, check=False)
    assert r.params["x"] == pytest.approx(1 - 0.1 * 2 / (2 + 1e-10), rel=1e-15)


def test_adamw_decays_even_with_zero_gradient():
    # the gradient of 0*w is 0: Adam leaves w, AdamW shrinks it by (1 - lr*wd) per step
    r = descend("0*w", w=2.0, optimizer="adamw", lr=0.1, steps=3, check=False)
    assert r.params["w"] == pytest.approx(2.0 * (1 - 0.1 * 0.01) ** 3, rel=1e-15)
    r = descend("0*w", w=2.0, optimizer="adam", lr=0.1, steps=3, check=False)
    assert r.params["w"] == 2.0


@pytest.mark.parametrize("name, lr", [("sgd", 1e-3), ("adam", 1e-3), ("adamw", 1e-3), ("rmsprop", 1e-2),
                                      ("adagrad", 1e-2)])
def test_torch_defaults(name, lr):
    opt, settings = make(name, 1)
    assert settings["lr"] == lr
    expected = {"sgd": {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
                "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
                "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False},
                "rmsprop": {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
                "adagrad": {"lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10}}
    for k, v in expected[name].items():
        assert settings[k] == v, k
    assert settings["maximize"] is False


@pytest.mark.parametrize("name, lr, options, message", [
    ("sgd", 0.0, {}, "lr= must be > 0, got 0.0"),
    ("sgd", -1.0, {}, "lr= must be > 0, got -1.0"),
    ("sgd", 0.1, {"nesterov": True}, "nesterov=True needs momentum= > 0 and dampening=0 (got momentum=0, dampening=0)"),
    ("sgd", 0.1, {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
     "nesterov=True needs momentum= > 0 and dampening=0 (got momentum=0.9, dampening=0.1)"),
    ("sgd", 0.1, {"betas": (0.9, 0.9)}, "betas= is not an option of optimizer=sgd (its options: momentum=, "
                                        "dampening=, weight_decay=, nesterov=, maximize=)"),
    ("adam", 0.1, {"momentum": 0.9}, "momentum= is not an option of optimizer=adam (its options: betas=, eps=, "
                                     "weight_decay=, amsgrad=, maximize=)"),
    ("adam", 0.1, {"betas": (1.0, 0.9)}, "the first of betas= must be in [0, 1), got 1.0"),
    ("adam", 0.1, {"eps": -1.0}, "eps= must be >= 0, got -1.0"),
    ("rmsprop", 0.1, {"momentum": -0.5}, "momentum= must be >= 0, got -0.5"),
    ("adagrad", 0.1, {"lr_decay": -0.1}, "lr_decay= must be >= 0, got -0.1"),
    ("lbfgs", 0.1, {}, "optimizer= must be one of sgd, adam, adamw, rmsprop, adagrad, got 'lbfgs'"),
])
def test_bad_options(name, lr, options, message):
    with pytest.raises(AgradError) as err:
        make(name, 1, lr, options)
    assert err.value.message == message and err.value.kind == "usage"


def test_every_optimizer_is_tested():
    assert {c[0] for c in CONFIGS} == set(OPTIMIZERS)
