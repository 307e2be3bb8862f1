"""Shared oracles for the tests: central finite differences through the forward pass, and
derivatives with every value kept against derivatives with unread values released."""
import numpy as np

from agrad import autodiff, program
import agrad
from agrad.ops import OPS
from agrad.tensor import Tensor, apply, grad_mode


def forward(src, point):
    prog = program.compile_source(src)
    with grad_mode(False):
        leaves = {k: Tensor(np.asarray(v, dtype=np.float64)[()] if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64))
                  for k, v in point.items()}
        return np.asarray(program.forward(prog, leaves, np.float64).value, dtype=np.float64)


def fd_grad(src, point, var, h=1e-6):
    """Central differences of a scalar output, with a step scaled to the value."""
    x = np.asarray(point[var], dtype=np.float64)
    out = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        step = h * max(1.0, abs(float(x[idx])))
        plus, minus = x.copy(), x.copy()
        plus[idx] += step
        minus[idx] -= step
        fp = forward(src, {**point, var: plus})
        fm = forward(src, {**point, var: minus})
        out[idx] = (fp - fm) / (2 * step)
    return out


def grads(src, **point):
    r = agrad.grad(src, at={k: np.asarray(v, dtype=np.float64) for k, v in point.items()}, check=False)
    return {k: np.asarray(v) for k, v in r.gradients.items()}


def _first_and_second(src, point, wrt, keep):
    """d out/d wrt, and d/d wrt of sum(d out/d wrt[0]), from one forward pass that keeps `keep`."""
    prog = program.compile_source(src)
    leaves = {k: Tensor(np.asarray(v, dtype=np.float64), requires_grad=k in wrt) for k, v in point.items()}
    out = program.evaluate(prog, leaves, np.float64, keep=keep(prog))[prog.output]
    first = autodiff.grad(out, [leaves[k] for k in wrt], create_graph=True)
    second = autodiff.grad(apply(OPS["sum"], (first[0],)), [leaves[k] for k in wrt])
    return [g.value for g in first + second]


def assert_release_changes_nothing(src, point, wrt):
    """A released value reads as NaN, so a rule reading a value its row's `saves` omits shows up
    as a difference from the run that kept every value."""
    kept = _first_and_second(src, point, wrt, lambda p: range(len(p.nodes)))
    lean = _first_and_second(src, point, wrt, lambda p: (p.output,))
    for a, b in zip(kept, lean):
        np.testing.assert_array_equal(a, b, err_msg=f"{src} wrt {wrt}")


def every_node_gradient(src, point, create_graph):
    """{(node index, label): gradient} for every node of one backward pass that keeps them all."""
    prog = program.compile_source(src)
    leaves = {k: Tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in point.items()}
    vals = program.evaluate(prog, leaves, np.float64)
    grads = autodiff.run_backward([vals[prog.output]], [None], retain_graph=True, create_graph=create_graph)
    return {(i, prog.label(i)): grads[t].value for i, t in enumerate(vals) if t in grads}
