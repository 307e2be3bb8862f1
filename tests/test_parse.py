"""The parser: precedence, spans for carets, statements, bounds, and refusals."""
import pytest

from agrad import parser as P
from agrad.errors import AgradError
from agrad.program import compile_source


def shape_of(node):
    """A compact, fully parenthesized rendering of a syntax tree."""
    if isinstance(node, P.Num):
        return node.text
    if isinstance(node, P.Name):
        return node.id
    if isinstance(node, P.Unary):
        return f"({node.op}{shape_of(node.operand)})"
    if isinstance(node, P.Bin):
        return f"({shape_of(node.left)} {node.op} {shape_of(node.right)})"
    if isinstance(node, P.Call):
        return f"{node.func}({', '.join(shape_of(a) for a in node.args)})"
    if isinstance(node, P.Index):
        return f"{shape_of(node.value)}[{node.key}]"
    if isinstance(node, P.ListLit):
        return "[" + ", ".join(shape_of(a) for a in node.items) + "]"
    raise AssertionError(node)


def one(src):
    parsed = P.parse(src)
    assert len(parsed.statements) == 1
    return shape_of(parsed.statements[0].expr)


@pytest.mark.parametrize("src, tree", [
    ("x^2 + 1", "((x ** 2) + 1)"),  # ^ is power and binds tighter than + (unlike Python's xor)
    ("-x**2", "(-(x ** 2))"),
    ("-2**2", "(-(2 ** 2))"),
    ("(-2)**2", "(-2 ** 2)"),
    ("2**-1", "(2 ** -1)"),
    ("a**b**c", "(a ** (b ** c))"),
    ("a - b - c", "((a - b) - c)"),
    ("a / b * c", "((a / b) * c)"),
    ("A @ x + b", "((A @ x) + b)"),
    ("1e-3 * x", "(1e-3 * x)"),
    ("sum(A, 0)", "sum(A, 0)"),
    ("w[1:]", "w[(slice(1, None, None),)]"),
    ("w[:-1]", "w[(slice(None, -1, None),)]"),
    ("A[0, -1]", "A[(0, -1)]"),
    ("w[::2]", "w[(slice(None, None, 2),)]"),
    ("+x", "(+x)"),
    ("[1, [2, 3]]", "[1, [2, 3]]"),
])
def test_precedence_and_forms(src, tree):
    assert one(src) == tree


def test_statements_split_on_semicolons_and_newlines():
    parsed = P.parse("z1 = x1**2; z2 = z1 + 2*x2\ny = z2**2")
    assert [s.target for s in parsed.statements] == ["z1", "z2", "y"]


def test_newlines_inside_brackets_continue_the_statement():
    parsed = P.parse("y = (x +\n 1)\n")
    assert len(parsed.statements) == 1


def test_spans_point_at_the_source_text():
    expr = P.parse("sin(x) + (a*b)").statements[0].expr
    assert (expr.left.span, expr.right.span) == ((0, 6), (9, 14))


@pytest.mark.parametrize("src, message, column", [
    ("x +* 2", "unexpected '*'", 3),
    ("sin(x", "expected ')' to close the call to sin", 5),
    ("x $ 2", "unexpected character '$'", 2),
    ("'a'", "strings are not part of the language", 0),
    ("", "the expression is empty", 0),
    ("x = ", "the expression ends too early", 4),
    ("f(x) = 1", "unexpected '='", 5),
    ("w[x]", "indices and slice bounds must be whole numbers", 2),
    ("w[1.5]", "indices and slice bounds must be whole numbers", 2),
    ("x y", "multiplication needs '*' between 'x' and 'y' (write x*y)", 2),
    ("2x + 1", "multiplication needs '*' between '2' and 'x' (write 2*x)", 1),
    ("(a+b)(a-b)", "multiplication needs '*' between ')' and '('", 5),
    ("x = 1 = 2", "unexpected '=' after a complete expression", 6),
    ("a < b", "unexpected character '<'", 2),
    ("__import__('os')", "strings are not part of the language", 11),
])
def test_errors_name_what_and_where(src, message, column):
    with pytest.raises(AgradError) as info:
        P.parse(src)
    assert message in info.value.message
    assert info.value.where()[1] == column


def test_nesting_beyond_the_bound_is_a_clear_error():
    P.parse("(" * P.MAX_DEPTH + "x" + ")" * P.MAX_DEPTH)
    with pytest.raises(AgradError, match="nested deeper than 200 levels"):
        P.parse("(" * (P.MAX_DEPTH + 1) + "x" + ")" * (P.MAX_DEPTH + 1))
    with pytest.raises(AgradError, match="nested deeper"):
        P.parse("-" * 1000 + "x")


def test_flat_chains_are_not_nesting():
    # 100,000 terms: CPython's own ast.parse raises RecursionError on this
    src = "+".join(f"x{i % 3}" for i in range(100_000))
    prog = compile_source(src)
    assert len(prog.nodes) == 3 + 99_999


def test_source_length_is_bounded():
    with pytest.raises(AgradError, match="characters long"):
        P.parse("x+" * (P.MAX_SOURCE // 2) + "x")


@pytest.mark.parametrize("src, message", [
    ("sine(x)", "unknown function 'sine'; did you mean 'sin'?"),
    ("sum(x, y)", "the axis of sum() must be a whole number"),
    ("sin(x, y)", "sin() takes 1 argument, got 2"),
    ("pow(x)", "pow() takes 2 arguments, got 1"),
    ("sin + 1", "'sin' is a function: call it"),
    ("pi = 3; pi", "'pi' is the constant"),
    ("ones(x)", "this must be a constant, but it uses the variable 'x'"),
    ("[1, [2, 3]]", "the rows of this list have different lengths"),
    ("x ** 5000", "the exponent 5000 is over the limit of 1000"),
    ("pow(x, -5000)", "the exponent 5000 is over the limit of 1000"),
    ("ones(100000, 100000)", "over the limit"),
])
def test_compile_errors(src, message):
    with pytest.raises(AgradError) as info:
        compile_source(src)
    assert message in info.value.message


def test_reassignment_reads_the_previous_value():
    prog = compile_source("t = sin(t)*y + t*0.5\nt = sin(t)*y + t*0.5")
    assert list(prog.variables) == ["t", "y"]
    # the second statement reads the first statement's result, not the variable t
    second_sin = [i for i, n in enumerate(prog.nodes) if n.kind == "op" and n.op.name == "sin"][1]
    assert prog.nodes[prog.nodes[second_sin].args[0]].name == "t"
    assert prog.nodes[prog.nodes[second_sin].args[0]].kind == "op"
