"""The parser and compiler at the scale of a long program (issue 12): the text is tokenized in
chunks and batches, so a statement deep in a long program must parse exactly as it does alone
(the same tree, the same spans shifted by its offset, the same errors at the same places), and
the compiler's walk must give the program's values and saved counts at any length."""
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agrad
from agrad import parser as P
from agrad.errors import AgradError
from agrad.program import compile_source
from agrad.report import saved


def tree(node, shift=0):
    """A syntax tree as plain data, every span moved back by `shift` characters."""
    if isinstance(node, (list, tuple)):
        return [tree(x, shift) for x in node]
    if isinstance(node, P._Syntax):
        out = [type(node).__name__]
        for name in type(node).__slots__:
            value = getattr(node, name)
            if name.endswith("span") and value is not None:
                value = (value[0] - shift, value[1] - shift)
            out.append((name, tree(value, shift)))
        return out
    if isinstance(node, float):
        return repr(node)
    return node


STATEMENTS = [
    "t = sin(t)*y + t*0.5", "z1 = x1**2 - 3*x2", "u = -x^-2 + +y", "w2 = w[1:] @ A[0, -1]", "s = sum(A, 0)",
    "q = (a + b)*(a - b)/2.5e-3", "v = [1, 2.5, .5]", "r = f(x, g(y), h())", "x", "y1 = exp(-(x*x))",
    "p = relu(\n  x + 1\n)", "m = max(x,\ty)", "k = x # a comment\n", "n = 1e3 + \\\n 2",
]


ALONE = {line: tree(P.parse(line).statements[0]) for line in STATEMENTS}


@settings(max_examples=8, deadline=None)
@given(st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=30), st.sampled_from(["\n", "\n\n  ", " \r\n"]))
def test_a_long_program_parses_as_its_statements_alone(picked, sep):
    """Thousands of statements (past two tokenizer chunks and many token batches) parse to the
    trees each statement gives alone, spans shifted by where it starts."""
    lines = []
    while sum(map(len, lines)) < 2 * P._CHUNK:
        lines += picked
    got = P.parse(sep.join(lines)).statements
    assert len(got) == len(lines)
    offset = 0
    for line, statement in zip(lines, got):
        assert tree(statement, offset) == ALONE[line]
        offset += len(line) + len(sep)


def test_tokens_cover_the_text_in_order():
    """Every token's text is the source at its span, and what lies between tokens is only
    whitespace, comments and line continuations."""
    src = "\n".join(STATEMENTS * 400) + "\n# the end"
    tokens = list(P.tokenize(src))
    assert tokens[-1] == ("end", "", len(src), len(src))
    gap = re.compile(r"(?:[ \t\r\f]|\\\n|#[^\n]*)*")
    pos = 0
    for kind, text, start, end in tokens[:-1]:
        assert src[start:end] == text and kind in ("num", "name", "op")
        assert gap.fullmatch(src, pos, start), (pos, start)
        pos = end
    assert gap.fullmatch(src, pos)


@pytest.mark.parametrize("bad, message", [
    ("x y", "multiplication needs '*' between 'x' and 'y' (write x*y)"),
    ("x = 1 = 2", "unexpected '=' after a complete expression"),
    ("z = $", "unexpected character '$'"),
    ("w[1.5]", "indices and slice bounds must be whole numbers"),
    ("q = (a + )", "unexpected ')'"),
    ("'a'", "(strings are not part of the language)"),
])
@pytest.mark.parametrize("where", [0, 7, 4_000])
def test_an_error_deep_in_a_long_program_is_reported_as_alone(bad, message, where):
    """The same message, its caret moved by the statement's offset, wherever it stands (an
    unclosed bracket is left out: the lines after it continue its statement)."""
    with pytest.raises(AgradError) as alone:
        P.parse(bad + "\n")
    lines = ["t = sin(t)*y + t*0.5"] * 5_000  # 100,000 characters: three tokenizer chunks
    lines.insert(where, bad)
    src = "\n".join(lines)
    offset = sum(len(line) + 1 for line in lines[:where])
    with pytest.raises(AgradError) as deep:
        P.parse(src)
    assert message in alone.value.message
    assert deep.value.message == alone.value.message
    assert deep.value.span == (alone.value.span[0] + offset, alone.value.span[1] + offset)


def test_the_first_error_wins_over_a_bad_character_far_behind_it():
    src = "x y\n" + "t = sin(t)*y + t*0.5\n" * 1000 + "$"
    with pytest.raises(AgradError, match="multiplication needs"):
        P.parse(src)
    with pytest.raises(AgradError, match=re.escape("unexpected character '$'")) as info:
        P.parse(src[4:])
    assert info.value.span == (len(src) - 5, len(src) - 4)


def test_a_long_program_computes_what_its_loop_does():
    n = 10_000
    prog = agrad.parse("\n".join(["t = sin(t)*y + t*0.5"] * n))
    t, y = 0.3, 0.7
    for _ in range(n):
        t = math.sin(t) * y + t * 0.5
    assert prog(t=0.3, y=0.7) == pytest.approx(t, rel=1e-12)
    assert len(prog.nodes) == 2 + 5 * n  # t, y; per statement sin, *, 0.5, *, +


@pytest.mark.parametrize("src", [
    "-" * P.MAX_DEPTH + "x", "sin(" * P.MAX_DEPTH + "x" + ")" * P.MAX_DEPTH, "x" + "**x" * P.MAX_DEPTH,
    "x-(" * (P.MAX_DEPTH - 1) + "x" + ")" * (P.MAX_DEPTH - 1), "x" + "[0]" * P.MAX_DEPTH,
    "no_grad(" * P.MAX_DEPTH + "x" + ")" * P.MAX_DEPTH, "sin(-(x + " * 66 + "x" + "))" * 66,
    "x*y + " * 150_000 + "x",
])
def test_the_deepest_programs_the_parser_allows_compile(src):
    """The compiler recurses only into nesting the parser bounds; chains are loops."""
    prog = compile_source(src)
    assert prog.output == len(prog.nodes) - 1


def _saved_by_definition(program, values):
    count, seen = 0, {}
    for node, t in zip(program.nodes, values):
        if node.kind == "op" and t.requires_grad:
            for k in t.op.saved(t.parents):
                src = t if k is None else t.parents[k]
                count += 1
                seen[id(src)] = np.asarray(src.value).nbytes
    return {"values": count, "bytes": int(sum(seen.values()))}


@pytest.mark.parametrize("expr, at", [
    ("\n".join(["t = sin(t)*y + t*0.5"] * 50), {"t": 0.3, "y": 0.7}),
    ("sum(x*2 + detach(x)*x + exp(x)/x)", {"x": np.arange(1, 5.0)}),
    ("sum((A @ x)**2) + max(x)*y", {"A": np.ones((3, 3)), "x": [1.0, 2.0, 3.0], "y": 2.0}),
    ("def f(a, b) = a*sin(b)\nf(x, y) + f(y, 2)", {"x": 1.0, "y": 2.0}),
])
def test_saved_counts_match_their_definition(expr, at):
    from agrad.differentiate import run_passes
    from agrad.problem import Options, make_problem

    problem = make_problem(expr, at, Options(check=False))
    run = run_passes(problem, intermediates=True)
    assert saved(problem.run_program, run.values) == _saved_by_definition(problem.run_program, run.values)


def test_the_scalar_chain_saves_four_values_a_statement():
    """sin keeps its input, sin(t)*y both factors, t*0.5 the constant, + nothing (PyTorch's rules)."""
    r = agrad.grad("\n".join(["t = sin(t)*y + t*0.5"] * 1000), t=0.3, y=0.7, check=False)
    assert r.saved["values"] == 4 * 1000


def test_no_collection_runs_inside_grad_without_a_check():
    """The cyclic collector stays paused from parsing to the result: resumed in between, the first
    allocation set off a walk over every object of the graph (0.08 s at 100,000 ops)."""
    import gc

    runs = []

    def note(phase, info):
        if phase == "start":
            runs.append(info["generation"])

    src = "\n".join(["t = sin(t)*y + t*0.5"] * 2000)
    gc.collect()
    gc.callbacks.append(note)
    try:
        agrad.grad(src, t=0.3, y=0.7, check=False, intermediates=False)
    finally:
        gc.callbacks.remove(note)
    assert runs == []


def test_a_list_deeper_than_numpy_allows_is_a_clear_error():
    from click.testing import CliRunner

    from agrad.cli.main import cli

    deepest = compile_source("[" * 64 + "1" + "]" * 64)
    assert np.ndim(deepest.nodes[deepest.output].value) == 64
    src = "[" * 66 + "1" + "]" * 66 + "*x"
    with pytest.raises(AgradError) as info:
        compile_source(src)
    assert info.value.message == ("this list nests more than 64 levels of brackets; an array has at most 64 "
                                  "dimensions")
    assert info.value.span == (1, 2 * 66 + 1 - 1)  # the list at the 65th level from the inside
    r = CliRunner().invoke(cli, ["grad", src, "--x", "1", "--no-check"])
    assert r.exit_code == 2
    assert r.output.startswith("error: this list nests more than 64 levels of brackets")
