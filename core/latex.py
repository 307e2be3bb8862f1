"""The derivatives as LaTeX, for a worksheet: SymPy's latex() of each symbolic derivative beside
its value, and with an explanation the chain rule as an `aligned` block (one line per edge's
local derivative, one per variable's sum over paths). SymPy is imported only here."""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import symbolic as S
from .explain import local_formula
from .program import evaluate
from .tensor import grad_mode


def number(v) -> str:
    """A value as LaTeX: whole numbers without a decimal point, 10 significant digits, and
    1.5 \\times 10^{-7} instead of 1.5e-07."""
    a = np.asarray(v, dtype=np.float64)
    if a.ndim:
        rows = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(1, -1)
        body = r" \\ ".join(" & ".join(number(x) for x in row) for row in rows)
        return r"\begin{pmatrix} " + body + r" \end{pmatrix}"
    x = float(a)
    if not np.isfinite(x):
        return r"\text{NaN}" if np.isnan(x) else (r"\infty" if x > 0 else r"-\infty")
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    text = f"{x:.10g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    return text


def name(n: str) -> str:
    return sp.latex(sp.Symbol(n))


def partial(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {name(top)}}}{{\partial {name(bottom)}}}"


def _latex(expr) -> str:
    a = np.asarray(expr, dtype=object)
    if a.ndim == 0:
        return sp.latex(a[()])
    if a.ndim <= 2:
        return sp.latex(sp.Matrix(a.reshape(a.shape[0], -1) if a.ndim == 2 else a.reshape(-1, 1)))
    return sp.latex(sp.Array(a.tolist()))


def latex_text(problem, ders: dict, explanation=None) -> str:
    """The derivatives block, then (with an explanation) the chain-rule block."""
    program = problem.program
    with grad_mode(False):
        values = evaluate(program, problem.leaves(), problem.dtype)
    syms = S.symbols_of(problem.shapes())
    built = S.build(program, syms, values)
    y = built[program.output]
    out_name = "y" if explanation is None else explanation.names[program.output]
    lines = [rf"{name(out_name)} &= {_latex(y)} = {number(values[program.output].value)}"]
    for v in problem.wrt:
        if y.shape == ():
            lines.append(rf"{partial(out_name, v)} &= {_latex(S.derivative(y, syms[v]))} = {number(ders[(v,)])}")
        else:  # a vector-Jacobian product: the value only
            lines.append(rf"{partial(out_name, v)} &= {number(ders[(v,)])}")
    blocks = [_aligned(lines)]
    if explanation is not None:
        blocks.append(_aligned(chain_lines(program, explanation)))
    return "\n\n".join(blocks) + "\n"


def _aligned(lines) -> str:
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def chain_lines(program, e) -> list:
    """One line per edge (its local formula and value), then each variable's paths summed."""
    lines = []
    for edge in e.edges:
        if not edge.scalar:  # a tensor edge carries a vector-Jacobian product, not a partial derivative
            lines.append(rf"\mathrm{{vjp}}({name(edge.target_name)} \to {name(edge.source_name)}) &= "
                         rf"{number(edge.value)}")
            continue
        d = local_formula(program, e.names, edge.target, edge.arg)
        rhs = f"{sp.latex(d)} = {number(edge.value)}" if d is not None and not d.is_number else number(edge.value)
        lines.append(rf"{partial(edge.target_name, edge.source_name)} &= {rhs}")
    for vp in e.variables:
        if not e.scalar:  # the gradient is the sum of the products arriving at the variable
            arriving = [rf"\mathrm{{vjp}}({name(ed.target_name)} \to {name(ed.source_name)})"
                        for ed in e.edges if ed.source_name == vp.variable]
            lines.append(rf"{partial(e.names[e.output], vp.variable)} &= {' + '.join(arriving) or '0'} = "
                         rf"{number(vp.total)}")
            continue
        symbolic = [r" \cdot ".join(partial(e.edges[k].target_name, e.edges[k].source_name) for k in p.edges)
                    for p in vp.paths]
        numeric = [r" \cdot ".join(number(f) for f in p.factors) for p in vp.paths]
        more = r" + \dots" if vp.count > vp.listed else ""
        lhs = partial(e.names[e.output], vp.variable)
        if vp.count == 0:
            lines.append(rf"{lhs} &= 0")
            continue
        lines.append(rf"{lhs} &= {' + '.join(symbolic)}{more} = {' + '.join(numeric)}{more} = {number(vp.total)}")
    return lines
