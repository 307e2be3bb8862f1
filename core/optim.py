"""torch.optim's update rules on numpy arrays: SGD, Adam, AdamW, RMSprop, Adagrad.

Each class follows the single-tensor code path torch.optim runs on CPU (`_single_tensor_*` in
torch/optim/*.py, torch 2.x) operation for operation, so the rounding is torch's too: where torch
writes `exp_avg.lerp_(grad, 1 - beta1)` this writes lerp's formula, not the documented
`beta1*m + (1-beta1)*g` (they differ in the last bits). The remaining difference is fused
multiply-adds: torch's vectorized kernels use FMA where numpy rounds the product first, a last-bit
difference at most per operation.

Every rule is elementwise, so all parameters live in ONE flat float64 vector and each step is a
handful of numpy calls whatever the number of parameters (torch loops over tensors; the arithmetic
per element is the same). `step(p, g)` updates `p` in place and may overwrite `g`.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import AgradError, real


class _Optimizer:
    """What every torch.optim algorithm does first: count the step, negate the gradient under
    maximize, and add the L2 penalty weight_decay * param to it (coupled weight decay)."""

    lr: float
    weight_decay: float
    maximize: bool
    t: int

    def _gradient(self, p, g, *, coupled: bool = True):
        self.t += 1
        if self.maximize:
            np.negative(g, out=g)
        if coupled and self.weight_decay != 0:
            g = g + self.weight_decay * p  # grad.add(param, alpha=weight_decay)
        return g


def _lerp_(m, g, w):
    """m.lerp_(g, w) as torch's CPU kernel computes it (aten Lerp.h): the small-weight branch
    adds to m, the other subtracts from g."""
    if abs(w) < 0.5:
        m += w * (g - m)
    else:
        m[...] = g - (g - m) * (1 - w)


class SGD(_Optimizer):
    r"""torch.optim.SGD. Documented algorithm (torch docs):

        g_t <- grad f(theta_{t-1});  if maximize: g_t <- -g_t
        if lambda != 0: g_t <- g_t + lambda theta_{t-1}
        if mu != 0:
            if t > 1: b_t <- mu b_{t-1} + (1 - tau) g_t   else: b_t <- g_t
            if nesterov: g_t <- g_t + mu b_t   else: g_t <- b_t
        theta_t <- theta_{t-1} - gamma g_t
    """

    name = "sgd"
    torch = "torch.optim.SGD"
    defaults = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False,
                "maximize": False}

    def __init__(self, size: int, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise AgradError("nesterov=True needs momentum= > 0 and dampening=0", kind="usage")
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov, self.maximize = weight_decay, nesterov, maximize
        self.buf = None
        self.t = 0

    def step(self, p, g):
        g = self._gradient(p, g)
        if self.momentum != 0:
            if self.buf is None:
                self.buf = g.copy()  # the first buffer is the gradient itself: no dampening
            else:
                self.buf *= self.momentum
                self.buf += (1 - self.dampening) * g  # buf.mul_(m).add_(grad, alpha=1 - dampening)
            g = g + self.momentum * self.buf if self.nesterov else self.buf
        p += -self.lr * g  # param.add_(grad, alpha=-lr)

    def state(self) -> dict:
        return {} if self.buf is None else {"momentum_buffer": self.buf}


class Adam(_Optimizer):
    r"""torch.optim.Adam (and AdamW with decoupled weight decay). Documented algorithm:

        g_t <- grad f(theta_{t-1});  if maximize: g_t <- -g_t
        if lambda != 0: g_t <- g_t + lambda theta_{t-1}        (AdamW: theta_{t-1} <- theta_{t-1} (1 - gamma lambda))
        m_t <- beta1 m_{t-1} + (1 - beta1) g_t
        v_t <- beta2 v_{t-1} + (1 - beta2) g_t^2
        m^_t <- m_t / (1 - beta1^t)
        if amsgrad: vmax_t <- max(vmax_{t-1}, v_t);  v^_t <- vmax_t / (1 - beta2^t)
        else:       v^_t <- v_t / (1 - beta2^t)
        theta_t <- theta_{t-1} - gamma m^_t / (sqrt(v^_t) + eps)

    In torch's code (followed here): m by lerp, the bias corrections folded into a step size
    lr / (1 - beta1^t) and a denominator sqrt(v) / sqrt(1 - beta2^t) + eps; amsgrad keeps the
    max of the raw v and bias-corrects that.
    """

    name = "adam"
    torch = "torch.optim.Adam"
    decoupled = False
    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False,
                "maximize": False}

    def __init__(self, size: int, *, lr, betas, eps, weight_decay, amsgrad, maximize):
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.weight_decay, self.amsgrad, self.maximize = weight_decay, amsgrad, maximize
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.vmax = np.zeros(size) if amsgrad else None
        self.t = 0

    def step(self, p, g):
        g = self._gradient(p, g, coupled=not self.decoupled)
        if self.decoupled and self.weight_decay != 0:
            p *= 1 - self.lr * self.weight_decay  # param.mul_(1 - lr * weight_decay)
        _lerp_(self.m, g, 1 - self.beta1)  # exp_avg.lerp_(grad, 1 - beta1)
        self.v *= self.beta2  # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        self.v += (1 - self.beta2) * g * g
        step = float(self.t)
        step_size = self.lr / (1 - self.beta1 ** step)
        bc2_sqrt = (1 - self.beta2 ** step) ** 0.5
        if self.amsgrad:
            np.maximum(self.vmax, self.v, out=self.vmax)
            denom = np.sqrt(self.vmax)
        else:
            denom = np.sqrt(self.v)
        denom /= bc2_sqrt
        denom += self.eps
        p += -step_size * self.m / denom  # param.addcdiv_(exp_avg, denom, value=-step_size)

    def state(self) -> dict:
        out = {"exp_avg": self.m, "exp_avg_sq": self.v}
        if self.vmax is not None:
            out["max_exp_avg_sq"] = self.vmax
        return out


class AdamW(Adam):
    __doc__ = "torch.optim.AdamW: Adam with decoupled weight decay, theta <- theta (1 - lr wd) first.\n" + (
        Adam.__doc__ or "")
    name = "adamw"
    torch = "torch.optim.AdamW"
    decoupled = True
    defaults = {**Adam.defaults, "weight_decay": 1e-2}


class RMSprop(_Optimizer):
    r"""torch.optim.RMSprop. Documented algorithm:

        g_t <- grad f(theta_{t-1});  if maximize: g_t <- -g_t
        if lambda != 0: g_t <- g_t + lambda theta_{t-1}
        v_t <- alpha v_{t-1} + (1 - alpha) g_t^2
        v~_t <- v_t
        if centered: g^ave_t <- alpha g^ave_{t-1} + (1 - alpha) g_t;  v~_t <- v~_t - (g^ave_t)^2
        if mu > 0: b_t <- mu b_{t-1} + g_t / (sqrt(v~_t) + eps);  theta_t <- theta_{t-1} - gamma b_t
        else:      theta_t <- theta_{t-1} - gamma g_t / (sqrt(v~_t) + eps)

    torch's code keeps g^ave by lerp (grad_avg.lerp_(grad, 1 - alpha)), as here.
    """

    name = "rmsprop"
    torch = "torch.optim.RMSprop"
    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False,
                "maximize": False}

    def __init__(self, size: int, *, lr, alpha, eps, weight_decay, momentum, centered, maximize):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.weight_decay, self.momentum, self.centered, self.maximize = weight_decay, momentum, centered, maximize
        self.v = np.zeros(size)
        self.gavg = np.zeros(size) if centered else None
        self.buf = np.zeros(size) if momentum > 0 else None
        self.t = 0

    def step(self, p, g):
        g = self._gradient(p, g)
        self.v *= self.alpha  # square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        self.v += (1 - self.alpha) * g * g
        if self.centered:
            _lerp_(self.gavg, g, 1 - self.alpha)
            avg = np.sqrt(self.v + -1.0 * self.gavg * self.gavg)  # square_avg.addcmul(ga, ga, value=-1).sqrt_()
        else:
            avg = np.sqrt(self.v)
        avg += self.eps
        if self.buf is not None:
            self.buf *= self.momentum  # buf.mul_(momentum).addcdiv_(grad, avg)
            self.buf += g / avg
            p += -self.lr * self.buf
        else:
            p += -self.lr * g / avg  # param.addcdiv_(grad, avg, value=-lr)

    def state(self) -> dict:
        out = {"square_avg": self.v}
        if self.gavg is not None:
            out["grad_avg"] = self.gavg
        if self.buf is not None:
            out["momentum_buffer"] = self.buf
        return out


class Adagrad(_Optimizer):
    r"""torch.optim.Adagrad. Documented algorithm:

        g_t <- grad f(theta_{t-1});  if maximize: g_t <- -g_t
        gamma~ <- gamma / (1 + (t - 1) eta)                       (eta: lr_decay)
        if lambda != 0: g_t <- g_t + lambda theta_{t-1}
        state_sum_t <- state_sum_{t-1} + g_t^2                  (state_sum_0: initial_accumulator_value)
        theta_t <- theta_{t-1} - gamma~ g_t / (sqrt(state_sum_t) + eps)
    """

    name = "adagrad"
    torch = "torch.optim.Adagrad"
    defaults = {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10,
                "maximize": False}

    def __init__(self, size: int, *, lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize):
        self.lr, self.lr_decay, self.weight_decay, self.eps, self.maximize = lr, lr_decay, weight_decay, eps, maximize
        self.sum = np.full(size, float(initial_accumulator_value))
        self.t = 0

    def step(self, p, g):
        g = self._gradient(p, g)
        clr = self.lr / (1 + (self.t - 1) * self.lr_decay)
        self.sum += 1.0 * g * g  # state_sum.addcmul_(grad, grad, value=1)
        std = np.sqrt(self.sum)
        std += self.eps
        p += -clr * g / std  # param.addcdiv_(grad, std, value=-clr)

    def state(self) -> dict:
        return {"sum": self.sum}


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}

# The limits torch.optim's constructors enforce (torch raises ValueError), in one table.
_NONNEGATIVE = ("momentum", "dampening", "weight_decay", "eps", "lr_decay", "initial_accumulator_value", "alpha")


def make(name: str, size: int, lr=None, options: dict | None = None):
    """The optimizer `name` over `size` parameters, with torch's defaults for every option not
    given. Errors speak of the arguments by their torch names (lr, betas, weight_decay, ...)."""
    cls = OPTIMIZERS.get(name) if isinstance(name, str) else None  # a list is unhashable: TypeError
    if cls is None:
        raise AgradError(f"optimizer= must be one of {', '.join(OPTIMIZERS)}, got {name!r}", kind="usage")
    if options is not None and not isinstance(options, dict):
        raise AgradError(f"options= should be a dict of option names to values, not {type(options).__name__}",
                         kind="usage")
    options = dict(options or {})
    unknown = [k for k in options if k not in cls.defaults or k == "lr"]
    if unknown:
        known = ", ".join(f"{k}=" for k in cls.defaults if k != "lr")
        raise AgradError(f"{unknown[0]}= is not an option of optimizer={name} (its options: {known})", kind="usage")
    settings = {**cls.defaults, **options}
    settings["lr"] = cls.defaults["lr"] if lr is None else lr
    validate(name, settings)
    return cls(size, **settings), settings


def validate(name: str, s: dict) -> None:
    defaults = OPTIMIZERS[name].defaults
    for key, v in s.items():  # the types first: the rules below compare numbers
        if isinstance(defaults.get(key), bool):
            if not isinstance(v, (bool, np.bool_)):
                raise AgradError(f"{key}= must be True or False, got {v!r}", kind="usage")
        elif key != "betas" and not real(v, finite=False):
            raise AgradError(f"{key}= must be a number, got {v!r}", kind="usage")
    lr = s["lr"]
    if not (math.isfinite(lr) and lr > 0):
        raise AgradError(f"lr= must be > 0, got {lr!r}", kind="usage")
    for key in _NONNEGATIVE:
        if key in s and not (math.isfinite(float(s[key])) and float(s[key]) >= 0):
            raise AgradError(f"{key}= must be >= 0, got {s[key]!r}", kind="usage")
    if "betas" in s:
        betas = s["betas"]
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all((real(b, finite=False) for b in betas))):
            raise AgradError(f"betas= must be two numbers, got {betas!r}", kind="usage")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise AgradError(f"{('the first', 'the second')[i]} of betas= must be in [0, 1), got {b!r}", kind="usage")
        s["betas"] = (float(betas[0]), float(betas[1]))
    if name == "rmsprop" and s["alpha"] > 1:
        raise AgradError(f"alpha= must be in [0, 1], got {s['alpha']!r}", kind="usage")
    if name == "sgd" and s["nesterov"] and (s["momentum"] <= 0 or s["dampening"] != 0):
        raise AgradError("nesterov=True needs momentum= > 0 and dampening=0 "
                         f"(got momentum={s['momentum']:g}, dampening={s['dampening']:g})", kind="usage")
