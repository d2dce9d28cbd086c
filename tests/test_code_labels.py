"""Section 5's labels and probes: every concept label is what Python's tokenize (and, for statements, ast)
says of hand-written snippets and of the held-out files; the labelled rows are load_tokens' rows; the
logistic regression reaches statsmodels' optimum, with and without a penalty; bad inputs say what is wrong."""

import ast

import numpy as np
import pytest
import torch

from utils.code_labels import (
    CONCEPTS,
    RejectedSource,
    char_labels,
    fit_logistic_regression,
    held_out_labels,
    label_source,
    label_stream,
    load_labelled_tokens,
    predict_logits,
    probe_accuracy,
)
from utils.loading import load_tokens


def at(source: str, fragment: str, occurrence: int = 0) -> dict[str, int]:
    """The labels of the first character of the `occurrence`-th `fragment` in `source`, as ints."""
    position = -1
    for _ in range(occurrence + 1):
        position = source.index(fragment, position + 1)
    return {name: int(values[position]) for name, values in char_labels(source).items()}


def spans_of(source: str, label: str) -> list[str]:
    """The runs of characters that have `label`, as text."""
    values = char_labels(source)[label].astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], values, [0]])))
    return [source[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True)]


# ---------------------------------------------------------------------------------------------
# Labels on snippets
# ---------------------------------------------------------------------------------------------


def test_brackets_in_a_string_are_not_in_brackets_and_quotes_in_a_comment_are_a_comment():
    source = 'x = "(a[1]"  # it\'s "quoted" (\ny = 1\n'
    assert at(source, "(a") == dict(at(source, "x"), string=1)  # only `string` differs from plain code
    assert at(source, "[1")["in_brackets"] == 0 and at(source, "[1")["bracket_depth"] == 0
    assert spans_of(source, "string") == ['"(a[1]"']
    assert spans_of(source, "comment") == ["# it's \"quoted\" ("]  # no string inside, newline excluded
    assert at(source, "y")["in_brackets"] == 0, "the comment's ( opened nothing"


def test_nested_brackets_count_their_depth_and_a_bracket_is_inside_itself():
    source = "y = f(a[{1: (2)}], b)\n"
    depths = "".join(str(d) for d in char_labels(source)["bracket_depth"])
    assert depths == "0000011233334443211110"  # one digit under each character of the source
    assert at(source, "f")["in_brackets"] == 0 and at(source, ", b")["in_brackets"] == 1
    assert at(source, "\n")["bracket_depth"] == 0


def test_a_multi_line_def_signature_runs_from_def_to_the_colon_that_ends_its_header():
    source = (
        "@cache\n"
        "async def f(\n    a: int,\n    b: dict[str, int] = {1: 2},\n) -> Callable[[int], str]:\n"
        "    x = {1: 2}\n"
        "    def g(): return 1\n"
        "lam = lambda x: x\n"
    )
    assert spans_of(source, "def_signature") == [
        "def f(\n    a: int,\n    b: dict[str, int] = {1: 2},\n) -> Callable[[int], str]:",  # not the colons inside
        "def g():",
    ]
    assert at(source, "async")["def_signature"] == 0, "from the def keyword"
    assert at(source, "lambda x:")["def_signature"] == 0


def test_a_docstring_is_the_whole_first_statement_of_a_module_class_or_def_body():
    source = (
        "# a comment first\n"
        "'''Module doc.'''\n"
        "import os\n"
        "class A(B):\n"
        "    # comments may come before it\n"
        '    "Class doc " "continued."\n'
        "    x = 'not a doc'\n"
        "    def f(self):\n"
        "        'Method doc.'; return 1\n"
        "    def g(self):\n"
        "        ', '.join(x)\n"
        "    def h(self):\n"
        "        b'bytes are not docs'\n"
        "    def i(self): 'one-line doc'\n"
        "    def j(self):\n"
        "        f'f-strings are not docs'\n"
        "if True:\n"
        "    'an if body has no doc'\n"
        "def k(a=(lambda: 'no')):\n"
        "    return 1\n"
        "    'a later statement'\n"
    )
    assert spans_of(source, "docstring") == [  # "a" "b" is one literal: the space between is in it too
        "'''Module doc.'''", '"Class doc " "continued."', "'Method doc.'", "'one-line doc'"]
    assert at(source, "'not a doc'")["string"] == 1 and at(source, "'not a doc'")["docstring"] == 0
    assert np.array_equal(char_labels(source)["docstring"], ast_labels(source)["docstring"]), "ast agrees"


def test_f_strings_are_strings_and_their_brackets_do_not_count():
    source = 'x = f"{a!r:>{w}} {d[\'k\']}" + rb"(raw"\nprint(f"{x}")\n'
    assert spans_of(source, "string") == ['f"{a!r:>{w}} {d[\'k\']}"', 'rb"(raw"', 'f"{x}"']
    assert at(source, "d[")["bracket_depth"] == 0 and at(source, "x}")["bracket_depth"] == 1  # in print's (
    assert at(source, "\n")["in_brackets"] == 0


def test_imports_and_decorators_are_statements_not_words():
    source = (
        "import os.path as p  # trailing\n"
        "from . import (a,\n    b)\n"
        "x = 1; import sys\n"
        "@register(1)\n"
        "@ property\n"
        "def f(): raise ValueError from None\n"
        "m = a @ b\n"
    )
    assert spans_of(source, "import_statement") == ["import os.path as p", "from . import (a,\n    b)",
                                                    "import sys"]
    assert spans_of(source, "decorator") == ["@register(1)", "@ property"]
    assert at(source, "from None")["import_statement"] == 0 and at(source, "@ b")["decorator"] == 0
    for name, want in ast_labels(source).items():
        assert np.array_equal(char_labels(source)[name], want), f"ast agrees on {name}"


def test_a_token_takes_the_labels_of_its_first_non_whitespace_character_or_a_whitespace_tokens_last():
    source = 'def f(x):\n    """Doc\n    more."""\n    return g(x,\n             "a")  # done\n'
    ids, labels = label_source(source)
    from utils.loading import load_tokenizer

    pieces = [load_tokenizer().decode([i]) for i in ids.tolist()]
    assert "".join(pieces) == source, "the tokens' bytes give back the text"
    by_piece = {}
    for i, piece in enumerate(pieces):
        by_piece.setdefault(piece, {name: int(v[i]) for name, v in labels.items()})
    assert by_piece[" #"]["comment"] == 1, "' #' starts with a space, then the comment"
    assert by_piece["):"]["def_signature"] == 1 and by_piece["):"]["bracket_depth"] == 1
    newline_in_doc = next(i for i, p in enumerate(pieces) if p.isspace() and "\n" in p and labels["string"][i])
    assert labels["docstring"][newline_in_doc], "a newline token inside the docstring is in it"
    indent_in_call = [i for i, p in enumerate(pieces) if p.isspace() and labels["bracket_depth"][i] == 1]
    assert indent_in_call, "the continuation line's indent is inside g's brackets"
    assert labels["bracket_depth"][-1] == 0 and not labels["in_brackets"][-1]


def test_non_ascii_text_keeps_its_offsets():
    source = 'π = "ünïcödé ("  # ñ (\nx = (1)\n'
    ids, labels = label_source(source)
    assert labels["string"].sum() > 0 and int(labels["bracket_depth"].max()) == 1
    from utils.code_labels import _bundled_tokenizer

    last_paren = max(i for i, t in enumerate(ids.tolist()) if t == _bundled_tokenizer().convert_tokens_to_ids(")"))
    assert labels["bracket_depth"][last_paren] == 1 and not labels["string"][last_paren]


@pytest.mark.parametrize("source, words", [
    ('s = """never closed\n', "tokenize"),
    ("x = (1,\n", "tokenize"),
    ("x = 1)\ny = (2\n", "unmatched"),  # tokenize itself does not mind
    ("x = (1]\n", "unmatched"),
    ("if x:\n        a\n    b\n", "tokenize"),  # an unindent that matches no outer level
    ("s = 'unterminated\nx = 1\n", "tokenize"),  # 3.11 yields an ERRORTOKEN, 3.12 raises
])
def test_text_tokenize_rejects_is_refused(source, words):
    with pytest.raises(RejectedSource, match=words):
        char_labels(source)


def test_a_rejected_file_is_marked_invalid_and_counted():
    from utils.code_labels import _bundled_tokenizer

    good, bad = (torch.tensor(_bundled_tokenizer()(text)["input_ids"]) for text in ("x = (1)\n", "x = (1\n"))
    stream = torch.cat([good, torch.tensor([0]), bad, torch.tensor([0]), good, torch.tensor([0])]).numpy()
    labels, report = label_stream(stream)
    n = len(good)
    assert labels["valid"].tolist() == [True] * n + [False] * (len(bad) + 2) + [True] * n + [False]
    assert labels["file"].tolist() == [0] * n + [-1] + [1] * len(bad) + [-1] + [2] * n + [-1]
    assert not labels["in_brackets"][n : n + len(bad) + 2].any(), "a rejected file's labels stay False"
    assert report.n_files == 3 and [r[:2] for r in report.rejected] == [(1, len(bad))]
    assert "rejected 1 files" in str(report)


# ---------------------------------------------------------------------------------------------
# The held-out stream
# ---------------------------------------------------------------------------------------------


def held_out_texts() -> list[str]:
    from utils.code_labels import _bundled_stream, _token_bytes

    table, eot = _token_bytes()
    stream = _bundled_stream()
    bounds = np.flatnonzero(stream == eot)
    return [b"".join(table[i] for i in stream[a + 1 : b].tolist()).decode()
            for a, b in zip(np.concatenate([[-1], bounds[:-1]]), bounds, strict=True)]


def ast_labels(text: str) -> dict[str, np.ndarray]:
    """docstring, import_statement and decorator for each character, from the spans of `ast`'s nodes."""
    lines = text.split("\n")
    starts = np.cumsum([0] + [len(line) + 1 for line in lines])

    def offset(row, col):  # ast's columns count UTF-8 bytes
        return int(starts[row - 1]) + len(lines[row - 1].encode()[:col].decode())

    def mark(name, node, start=None):
        out[name][offset(node.lineno, node.col_offset) if start is None else start:
                  offset(node.end_lineno, node.end_col_offset)] = True

    out = {name: np.zeros(len(text), dtype=bool) for name in ("docstring", "import_statement", "decorator")}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                mark("docstring", first)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mark("import_statement", node)
        for decorator in getattr(node, "decorator_list", []):  # ast's span starts after the `@`
            mark("decorator", decorator, start=text.rindex("@", 0, offset(decorator.lineno, decorator.col_offset)))
    return out


def test_held_out_docstrings_imports_and_decorators_agree_with_ast():
    for text in held_out_texts():
        got = char_labels(text)
        for name, want in ast_labels(text).items():
            assert np.array_equal(got[name], want), f"{name} differs from ast in a held-out file"


def test_labelled_rows_are_load_tokens_rows_with_their_labels_cut_alike():
    from utils.code_labels import _token_bytes

    table, _ = _token_bytes()
    comment_like = torch.tensor([piece.lstrip().startswith(b"#") for piece in table])
    for seq_len, seed in ((128, 0), (64, 3)):
        tokens, labels = load_labelled_tokens(8192, seq_len=seq_len, seed=seed)
        assert torch.equal(tokens, load_tokens(8192, seq_len, seed=seed))
        assert set(labels) == {*CONCEPTS, "bracket_depth", "valid", "file"}
        assert all(v.shape == tokens.shape for v in labels.values())
        assert not any(labels[c][:, 0].any() for c in CONCEPTS) and not labels["valid"][:, 0].any()
        assert (labels["bracket_depth"][:, 0] == 0).all() and (labels["file"][:, 0] == -1).all()
        # Alignment: a valid token that starts with `#` is a comment, or lies in a string.
        hashes = comment_like[tokens] & labels["valid"]
        assert hashes.sum() > 50 and (labels["comment"] | labels["string"])[hashes].all()
        assert (labels["in_brackets"] == (labels["bracket_depth"] > 0)).all()
    labels, report = held_out_labels()
    assert report.n_files == 98 and report.n_tokens == len(labels["valid"]) and not report.rejected
    assert abs(labels["string"][labels["valid"]].mean() - 0.195) < 0.01  # a sanity bound, not a record


def test_load_labelled_tokens_refuses_what_load_tokens_refuses():
    with pytest.raises(ValueError, match="asked for"):
        load_labelled_tokens(10**9)
    with pytest.raises(ValueError, match="at least 2"):
        load_labelled_tokens(4096, seq_len=1)


# ---------------------------------------------------------------------------------------------
# Logistic regression
# ---------------------------------------------------------------------------------------------


def logistic_data(n=2000, seed=0):
    """Non-separable data with features on very different scales and offsets."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([1.0, 10.0, 0.1, 3.0], dtype=torch.float64)
    X = torch.randn(n, 4, generator=g, dtype=torch.float64) * scale + torch.tensor([0.0, 5.0, -1.0, 2.0])
    logits = X @ torch.tensor([1.0, -0.1, 5.0, 0.3], dtype=torch.float64) - 0.5
    return X, torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(logits)


def test_unpenalised_fit_matches_statsmodels_logit():
    from statsmodels.discrete.discrete_model import Logit

    X, y = logistic_data()
    weight, bias = fit_logistic_regression(X.float(), y, l2=1e-10)  # float32 in, float64 inside
    with_constant = np.c_[np.ones(len(X)), X.float().double().numpy()]  # statsmodels' intercept is a column
    result = Logit(y.double().numpy(), with_constant).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose(weight.numpy(), result.params[1:], rtol=1e-4, atol=1e-4)
    assert abs(bias - result.params[0]) < 1e-4
    predicted = result.predict(with_constant) > 0.5
    assert probe_accuracy(X, y, weight, bias) == pytest.approx(float((predicted == y.numpy()).mean()), abs=1e-3)


def test_penalised_fit_is_at_the_optimum_and_matches_statsmodels_glm():
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_linear_model import GLM

    from utils.code_labels import _penalised_loss

    X, y = logistic_data(seed=1)
    l2 = 0.05
    weight, bias = fit_logistic_regression(X, y, l2=l2)
    mean, std = X.mean(0), X.std(0, correction=0)
    Z = (X - mean) / std
    # Back on the standardised scale, where the penalty is defined: the gradient of the objective vanishes.
    params = torch.cat([weight * std, torch.tensor([bias + float(mean @ weight)])]).requires_grad_()
    _penalised_loss(Z, y.double(), params[:-1], params[-1], l2).backward()
    assert params.grad.abs().max() < 1e-6
    # statsmodels minimises -loglike / n + alpha * |params|^2 / 2 with L1_wt=0: the same objective, with alpha=0
    # for the intercept column.
    glm = GLM(y.double().numpy(), np.c_[np.ones(len(Z)), Z.numpy()], family=Binomial())
    result = glm.fit_regularized(alpha=np.r_[0.0, [l2] * 4], L1_wt=0.0, cnvrg_tol=1e-12, maxiter=1000)
    np.testing.assert_allclose(params.detach().numpy(), np.r_[result.params[1:], result.params[0]], atol=1e-3)
    assert (weight * std).abs().max() < 0.5, "the penalty shrank the weights"


def test_fit_is_deterministic_works_under_no_grad_and_ignores_constant_features():
    X, y = logistic_data()
    X = torch.cat([X, torch.full((len(X), 1), 7.0, dtype=torch.float64)], dim=1)
    first = fit_logistic_regression(X, y)
    with torch.no_grad():
        second = fit_logistic_regression(X, y)
    assert torch.equal(first[0], second[0]) and first[1] == second[1]
    assert first[0][-1] == 0 and torch.isfinite(first[0]).all()
    assert predict_logits(X, *first).shape == (len(X),)


@pytest.mark.parametrize("X, y, kwargs, words", [
    (torch.randn(10), torch.ones(10, dtype=torch.bool), {}, "2-D"),
    (torch.randn(10, 3), torch.ones(9, dtype=torch.bool), {}, "one label per row"),
    (torch.randn(10, 3), torch.arange(10) % 2, {}, "bool"),
    (torch.randn(10, 3), torch.ones(10, dtype=torch.bool), {}, "only one class"),
    (torch.full((10, 3), float("nan")), torch.arange(10) % 2 == 0, {}, "NaN"),
    (torch.randn(10, 3), torch.arange(10) % 2 == 0, dict(l2=-1.0), "l2 must be"),
    (torch.randn(10, 3), torch.arange(10) % 2 == 0, dict(max_iter=0), "max_iter"),
])
def test_bad_probe_inputs_say_what_was_expected(X, y, kwargs, words):
    with pytest.raises(ValueError, match=words):
        fit_logistic_regression(X, y, **kwargs)


def test_predicting_with_the_wrong_width_says_so():
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        predict_logits(torch.randn(5, 4), torch.zeros(3, dtype=torch.float64), 0.0)
