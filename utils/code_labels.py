"""Concept labels for every held-out token, exactly as Python's own `tokenize` reads the source, and the
logistic regression that section 5's sparse probes fit.

    tokens, labels = load_labelled_tokens(32_768)      # the same rows as load_tokens(32_768)
    labels["string"]                                    # [batch seq] bool: the token lies in a string literal
    weight, bias = fit_logistic_regression(X, y)        # L2-penalised, LBFGS, float64, deterministic
    probe_accuracy(X_test, y_test, weight, bias)

The corpus is code, so a concept like "inside a string" or "inside brackets" has a ground truth that no
human labeller has to supply: the tokenizer of the language itself. Each held-out file's text is
recovered from the bundled model's byte-level BPE tokens (each token is a run of bytes; concatenated they
are the file's UTF-8 text), `tokenize.generate_tokens` reads it, and every *character* gets labels from the
tokenize tokens that cover it. A model token then takes the labels of one character (see `token_labels`).

The labels (CONCEPTS, each a bool; `bracket_depth` an int):
- string: inside a STRING token, prefix and quotes included (f-strings included: on Python 3.11 an f-string
  is one STRING token; on 3.12+ everything from FSTRING_START to its FSTRING_END, replacement fields too).
- docstring: inside a string literal that is the whole first statement of a module, class or def body, the
  strings Python stores as `__doc__` (implicit concatenation "a" "b" included; bytes and f-strings, which are
  not docstrings, excluded; a docstring in parentheses is not recognised; none occurs in the held-out files).
- comment: inside a COMMENT token (from `#` to the end of the line, the newline excluded).
- in_brackets / bracket_depth: how many ( [ { OP tokens enclose the character, a bracket's own characters
  counting as inside it: in `f(x)` both `(` and `)` have depth 1. Brackets within strings and comments are
  not OP tokens, so they do not count.
- def_signature: from a `def` keyword to the colon that ends its header (the first `:` at bracket depth 0),
  both included, over as many lines as the header takes.
- import_statement: an `import ...` or `from ... import ...` statement, from its first token to the end of
  its last, over every line it takes (a trailing comment is not part of it; a `;` ends it).
- decorator: a decorator line, from its `@` to the end of its last token (trailing comment excluded).
import_statement, decorator and docstring agree character for character with the spans of `ast`'s nodes
on every held-out file (tested).
Not concepts: `valid` (the token belongs to a file that tokenize accepted; False at BOS and end-of-text
tokens) and `file` (the file's index in the held-out stream, -1 where there is none).

A file is rejected (its tokens get valid=False) when tokenize raises (tokenize.TokenError, SyntaxError),
emits an ERRORTOKEN (Python 3.11's tokenize marks an unterminated string that way instead of raising, and
its labels would be wrong from there on), or closes a bracket it never opened. Of the 98 held-out files on
Python 3.11, none is rejected; `labelling_report()` says how many on the running Python.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
import tokenize
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from utils.corpus import END_OF_TEXT, stream_to_rows
from utils.loading import BUNDLED_DIR, HELD_OUT_FILE, MODEL_FILES, load_tokens, verify_checksums

CONCEPTS = ("string", "docstring", "comment", "in_brackets", "def_signature", "import_statement", "decorator")
#: Bump when a label's definition changes: it is part of the cache's file name.
LABELS_VERSION = 1
CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "code_labels"

# f-strings are tokenized piecewise from Python 3.12 (t-strings from 3.14); older Pythons lack these names.
_STRING_STARTS = {getattr(tokenize, n) for n in ("FSTRING_START", "TSTRING_START") if hasattr(tokenize, n)}
_STRING_ENDS = {getattr(tokenize, n) for n in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, n)}
_CLOSES = {")": "(", "]": "[", "}": "{"}
# Tokens that neither start nor end a statement: a docstring may follow them, a statement's start skips them.
_LAYOUT = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE}


class RejectedSource(ValueError):
    """tokenize cannot read this text, so its labels would be wrong."""


# ---------------------------------------------------------------------------------------------
# Characters: what tokenize says about each character of a source text
# ---------------------------------------------------------------------------------------------


@dataclass
class _Spans:
    """Half-open character ranges [start, end) per label, turned into per-character arrays at the end."""

    n_chars: int
    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: {c: [] for c in CONCEPTS})
    depth_changes: list[tuple[int, int]] = field(default_factory=list)  # (position, +1 or -1)

    def add(self, label: str, start: int, end: int) -> None:
        self.ranges[label].append((start, end))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {c: _cover(self.n_chars, spans) > 0 for c, spans in self.ranges.items()}
        out["bracket_depth"] = _cover(self.n_chars, [], self.depth_changes).astype(np.int16)
        out["in_brackets"] = out["bracket_depth"] > 0
        return out


def _cover(n: int, spans: list[tuple[int, int]], changes: list[tuple[int, int]] = ()) -> np.ndarray:
    """How many spans cover each of n positions (a difference array, so each span costs O(1))."""
    diff = np.zeros(n + 1, dtype=np.int32)
    for start, end in spans:
        diff[start] += 1
        diff[end] -= 1
    for position, change in changes:
        diff[position] += change
    return np.cumsum(diff[:n])


def char_labels(text: str) -> dict[str, np.ndarray]:
    """Every label of every character of `text` (arrays of len(text)); RejectedSource if tokenize cannot read it.

    One pass over tokenize's tokens with a little state: the open brackets, whether a statement is starting,
    a def/class header waiting for its colon, and whether a docstring may come next."""
    line_starts = np.concatenate([[0], np.flatnonzero(np.frombuffer(text.encode("utf-32-le"), np.uint32) == 10) + 1,
                                  [len(text)]])

    line_starts = line_starts.tolist()

    def offset(row_col: tuple[int, int]) -> int:  # tokenize counts rows from 1 and columns in characters
        row, col = row_col
        return min(line_starts[min(row - 1, len(line_starts) - 1)] + col, len(text))

    spans = _Spans(len(text))
    opened: list[tuple[str, int]] = []  # open brackets: (character, offset)
    fstring_starts: list[int] = []  # Python 3.12+: nested f-strings being read
    statement_start = True  # the next significant token starts a statement
    statement: tuple[str, int] | None = None  # ("import" or "decorator", its start) while one is being read
    last_end = 0  # end of the last significant token of the statement
    header: tuple[str, int] | None = None  # ("def" or "class", offset of the keyword) until its colon
    docstring_may_follow = True  # a module's first statement may be its docstring
    candidate: list[tuple[int, int]] | None = None  # the string literals of a possible docstring

    for tok in _tokens(text):
        start, end = offset(tok.start), offset(tok.end)
        if fstring_starts or tok.type in _STRING_STARTS:  # inside a 3.12+ f-string everything is string
            if tok.type in _STRING_STARTS:
                fstring_starts.append(start)
            elif tok.type in _STRING_ENDS:
                begin = fstring_starts.pop()
                if not fstring_starts:
                    spans.add("string", begin, end)
                    candidate = None  # an f-string is never a docstring
                    docstring_may_follow = False
                    statement_start, last_end = False, end
            continue
        if tok.type == tokenize.STRING:
            spans.add("string", start, end)
        elif tok.type == tokenize.COMMENT:
            spans.add("comment", start, end)

        # A docstring: the string literals, and nothing else, of a body's first statement.
        if candidate is not None:
            if tok.type == tokenize.STRING and _is_text_literal(tok.string):
                candidate.append((start, end))
            elif tok.type == tokenize.NEWLINE or (tok.type == tokenize.OP and tok.string == ";"):
                spans.add("docstring", candidate[0][0], candidate[-1][1])  # "a" "b": one literal, as in ast
                candidate = None
            elif tok.type not in (tokenize.NL, tokenize.COMMENT):
                candidate = None
        elif docstring_may_follow and tok.type not in _LAYOUT:
            candidate = [(start, end)] if tok.type == tokenize.STRING and _is_text_literal(tok.string) else None
            docstring_may_follow = False

        # Statements: imports and decorators run from their first token to their NEWLINE (or `;`).
        if tok.type == tokenize.NEWLINE or (tok.type == tokenize.OP and tok.string == ";" and not opened):
            if statement is not None:
                spans.add(statement[0], statement[1], last_end)
            statement, statement_start = None, True
            continue
        if tok.type in _LAYOUT or tok.type == tokenize.ENDMARKER:
            continue
        if statement_start:
            if tok.type == tokenize.NAME and tok.string in ("import", "from"):
                statement = ("import_statement", start)
            elif tok.type == tokenize.OP and tok.string == "@":
                statement = ("decorator", start)
            statement_start = False
        last_end = end

        # Brackets, and the colon that ends a def or class header.
        if tok.type == tokenize.OP and tok.string in "([{":
            opened.append((tok.string, start))
        elif tok.type == tokenize.OP and tok.string in _CLOSES:
            if not opened or opened[-1][0] != _CLOSES[tok.string]:
                raise RejectedSource(f"unmatched {tok.string!r} at line {tok.start[0]}")
            spans.depth_changes += [(opened.pop()[1], 1), (end, -1)]
        elif tok.type == tokenize.NAME and tok.string in ("def", "class") and header is None:
            header = (tok.string, start)
        elif tok.type == tokenize.OP and tok.string == ":" and header is not None and not opened:
            if header[0] == "def":
                spans.add("def_signature", header[1], end)
            header, docstring_may_follow = None, True
    return spans.arrays()


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    """tokenize's tokens of `text`, or RejectedSource. A list, so that an error part-way rejects the whole file."""
    try:
        with warnings.catch_warnings():  # e.g. 3.12's SyntaxWarning for "\d": the tokens are still right
            warnings.simplefilter("ignore")
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError) as error:
        raise RejectedSource(f"tokenize: {error}") from error
    bad = next((t for t in tokens if t.type == tokenize.ERRORTOKEN), None)
    if bad is not None:
        raise RejectedSource(f"tokenize: ERRORTOKEN {bad.string!r} at line {bad.start[0]}")
    return tokens


def _is_text_literal(literal: str) -> bool:
    """A str literal (not bytes, not an f-string): only those can be docstrings."""
    prefix = literal[: min(i for i in (literal.find("'"), literal.find('"')) if i >= 0)].lower()
    return "b" not in prefix and "f" not in prefix and "t" not in prefix


# ---------------------------------------------------------------------------------------------
# Tokens: from the model's byte-level BPE ids back to text, and each token's labels
# ---------------------------------------------------------------------------------------------


def _gpt2_byte_alphabet() -> dict[str, int]:
    """GPT-2's byte-level BPE writes each byte as one printable character; this maps those back to bytes.
    Printable bytes stand for themselves, the other 68 are shifted to code points 256 and up."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {chr(b): b for b in printable} | {chr(256 + i): b for i, b in enumerate(others)}


@lru_cache(maxsize=4)
def _token_bytes(tokenizer_json: Path = BUNDLED_DIR / "tokenizer" / "tokenizer.json") -> tuple[tuple[bytes, ...], int]:
    """Each token id's bytes (b"" for special tokens), and the end-of-text id."""
    spec = json.loads(tokenizer_json.read_text())
    vocab, special = spec["model"]["vocab"], {t["content"]: t["id"] for t in spec["added_tokens"]}
    alphabet = _gpt2_byte_alphabet()
    table = [b""] * (max([*vocab.values(), *special.values()]) + 1)
    for piece, i in vocab.items():
        if piece not in special:
            table[i] = bytes(alphabet[c] for c in piece)
    return tuple(table), special[END_OF_TEXT]


@lru_cache(maxsize=1)
def _whitespace_code_points() -> np.ndarray:
    return np.array([c for c in range(sys.maxunicode + 1) if chr(c).isspace()], dtype=np.uint32)


def token_labels(ids: Int[np.ndarray, " n"] | list[int]) -> dict[str, np.ndarray]:
    """The labels of each token of one file's ids (no end-of-text among them); RejectedSource if tokenize
    rejects the text.

    A token takes the labels of its first non-whitespace character: ` "hello` is a string, ` # note` a
    comment, `("` is not in a string (its `(` is not) and `):` sits at the depth of its `)`. A token that is
    all whitespace (a newline, an indent) takes the labels of its last character: the one just read when the
    model is at that token. Its labels are well defined (a newline within a docstring is in the docstring, an
    indent within brackets is in brackets) and these tokens are a large share of code, so they are labelled
    rather than excluded. A token whose first byte is in the middle of a character (BPE may split a UTF-8
    character) is placed at that character."""
    table, _ = _token_bytes()
    pieces = [table[i] for i in (ids.tolist() if isinstance(ids, np.ndarray) else list(ids))]
    if not all(pieces):
        raise ValueError("special tokens (end-of-text) have no text: label each file's tokens separately")
    data = b"".join(pieces)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RejectedSource(f"not UTF-8: {error}") from error
    if not pieces:
        return {name: array[:0] for name, array in char_labels("").items()}
    lengths = np.array([len(p) for p in pieces])
    is_char_start = (np.frombuffer(data, np.uint8) & 0xC0) != 0x80  # UTF-8 continuation bytes are 10xxxxxx
    char_of_byte = np.cumsum(is_char_start) - 1
    byte_starts = np.cumsum(lengths) - lengths
    first, last = char_of_byte[byte_starts], char_of_byte[byte_starts + lengths - 1]
    code_points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    n = len(text)
    # next_non_space[i]: the first non-whitespace character at or after i (n if none)
    positions = np.where(np.isin(code_points, _whitespace_code_points()), n, np.arange(n))
    next_non_space = np.minimum.accumulate(positions[::-1])[::-1]
    at = np.minimum(next_non_space[first], last)
    return {name: array[at] for name, array in char_labels(text).items()}


@lru_cache(maxsize=1)
def _bundled_tokenizer():
    from utils.loading import load_tokenizer

    return load_tokenizer()


def label_source(text: str) -> tuple[Int[Tensor, " n"], dict[str, Tensor]]:
    """Tokenize `text` with the bundled tokenizer and label its tokens as the held-out stream's are: for
    trying a snippet, e.g. `label_source('x = "(" # )')`. Returns (ids [n], labels, each [n])."""
    ids = _bundled_tokenizer()(text, add_special_tokens=False)["input_ids"]
    return torch.tensor(ids), {k: torch.from_numpy(v) for k, v in token_labels(ids).items()}


# ---------------------------------------------------------------------------------------------
# The held-out stream, labelled once and cached
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabellingReport:
    n_files: int
    n_tokens: int
    rejected: tuple[tuple[int, int, str], ...]  # (file index, its tokens, why)
    seconds: float  # that labelling the stream took (when it was labelled, if read from the cache)
    cached: bool  # read from the cache

    def __str__(self) -> str:
        lost = sum(n for _, n, _ in self.rejected)
        return (f"{self.n_files} held-out files, {self.n_tokens:,} tokens; tokenize rejected {len(self.rejected)}"
                f" files ({lost:,} tokens), marked valid=False")


def _bundled_stream() -> np.ndarray:
    verify_checksums(BUNDLED_DIR, (*MODEL_FILES[:2], HELD_OUT_FILE))
    return np.load(BUNDLED_DIR / HELD_OUT_FILE)


def label_stream(stream: Int[np.ndarray, " n"]) -> tuple[dict[str, np.ndarray], LabellingReport]:
    """Labels for every token of a stream of files separated by end-of-text: the concepts, bracket_depth,
    valid and file (end-of-text tokens: False, 0, False, -1)."""
    started = time.perf_counter()
    _, eot = _token_bytes()
    n = len(stream)
    out = {c: np.zeros(n, dtype=bool) for c in (*CONCEPTS, "valid")}
    out["bracket_depth"], out["file"] = np.zeros(n, dtype=np.int16), np.full(n, -1, dtype=np.int32)
    bounds = np.flatnonzero(stream == eot)
    starts, ends = np.concatenate([[0], bounds + 1]), np.concatenate([bounds, [n]])
    rejected = []
    files = list(zip(starts.tolist(), ends.tolist(), strict=True))
    if files[-1][0] == n:  # the stream ends with end-of-text: no file after it
        files.pop()
    for index, (start, end) in enumerate(files):  # an empty file (an empty __init__.py) keeps its index
        out["file"][start:end] = index
        try:
            labels = token_labels(stream[start:end])
        except RejectedSource as error:
            rejected.append((index, end - start, str(error)))
            continue
        for name, values in labels.items():
            out[name][start:end] = values
        out["valid"][start:end] = True
    report = LabellingReport(len(files), n, tuple(rejected), round(time.perf_counter() - started, 2), cached=False)
    return out, report


@lru_cache(maxsize=1)
def held_out_labels() -> tuple[dict[str, np.ndarray], LabellingReport]:
    """The bundled held-out stream's labels, computed once per Python version (tokenize's rules are the
    running Python's) and cached under `.cache/code_labels`: labelling takes ~1.5 s, reading ~10 ms."""
    stream = _bundled_stream()
    key = hashlib.sha256(stream.tobytes() + (BUNDLED_DIR / MODEL_FILES[0]).read_bytes()).hexdigest()[:12]
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    path = CACHE_DIR / f"held_out-{version}-{key}-v{LABELS_VERSION}.npz"
    if path.exists():
        with np.load(path) as cached:
            labels = {k.removeprefix("label_"): cached[k] for k in cached.files if k != "report"}
            record = json.loads(str(cached["report"]))
        rejected = tuple(tuple(r) for r in record.pop("rejected"))
        return labels, LabellingReport(**record, rejected=rejected, cached=True)
    labels, report = label_stream(stream)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in report.__dict__.items() if k != "cached"}
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, report=np.array(json.dumps(record)), **{f"label_{k}": v for k, v in labels.items()})
    tmp.replace(path)  # atomic: an interrupted run never leaves a truncated cache behind
    return labels, report


def labelling_report() -> LabellingReport:
    """How many held-out files and tokens tokenize rejected on this Python (they are valid=False)."""
    return held_out_labels()[1]


def load_labelled_tokens(
    n_tokens: int, seq_len: int = 128, seed: int = 0
) -> tuple[Int[Tensor, "batch seq"], dict[str, Tensor]]:
    """`load_tokens(n_tokens, seq_len, seed=seed)`'s rows of held-out tokens, and each token's labels cut
    and shuffled the same way: a dict of [batch seq] tensors, the CONCEPTS (bool), bracket_depth (int16),
    valid (bool) and file (int32). Position 0 (BOS) is False, depth 0, valid False, file -1.

    Use only positions where labels["valid"] holds: BOS and end-of-text tokens are not code."""
    tokens = load_tokens(n_tokens, seq_len, seed=seed)  # validates the arguments
    labels, _ = held_out_labels()
    n_rows = tokens.shape[0]
    # stream_to_rows fills position 0 with `bos`, here the "no label" value, and shuffles with the same seed.
    rows = {name: stream_to_rows(values, seq_len, bos=-1 if name == "file" else 0, seed=seed)[:n_rows]
            for name, values in labels.items()}
    if not np.array_equal(stream_to_rows(_bundled_stream(), seq_len, bos=0, seed=seed)[:n_rows, 1:],
                          tokens[:, 1:].numpy()):
        raise RuntimeError("load_tokens no longer cuts the bundled held-out stream as stream_to_rows does")
    dtypes = {"bracket_depth": torch.int16, "file": torch.int32}
    return tokens, {name: torch.from_numpy(r).to(dtypes.get(name, torch.bool)) for name, r in rows.items()}


# ---------------------------------------------------------------------------------------------
# Logistic regression probes
# ---------------------------------------------------------------------------------------------


def _check_probe_data(X: Tensor, y: Tensor) -> None:
    if not isinstance(X, Tensor) or X.ndim != 2:
        raise ValueError(f"X must be a 2-D tensor [n, d] (one row per token), not {getattr(X, 'shape', type(X))}")
    if not isinstance(y, Tensor) or y.shape != (X.shape[0],):
        raise ValueError(f"y must be a 1-D tensor of one label per row of X, [{X.shape[0]}], not"
                         f" {getattr(y, 'shape', type(y))}")
    if y.dtype != torch.bool:
        raise ValueError(f"y must be a bool tensor (the concept holds or not), not {y.dtype}: e.g. y == 1")
    if not bool(torch.isfinite(X).all()):
        raise ValueError("X holds NaN or infinite values")


def fit_logistic_regression(
    X: Float[Tensor, "n d"], y: Bool[Tensor, " n"], l2: float = 1e-3, max_iter: int = 500
) -> tuple[Float[Tensor, " d"], float]:
    """Fit an L2-penalised logistic regression P(y) = sigmoid(X @ weight + bias); returns (weight [d] float64,
    bias), in the units of X, so `X @ weight + bias` are the logits.

    Minimised, on standardised features Z = (X - mean) / std (constant features left at 0):
        mean over rows of log(1 + exp(-(2y - 1) * (Z @ w + b)))  +  l2 / 2 * |w|^2     (b not penalised)
    then mapped back: weight = w / std, bias = b - mean @ weight. Penalising standardised weights makes the
    penalty the same for every feature whatever its scale (an SAE latent's scale is arbitrary), and
    standardising also makes LBFGS converge in few steps. With the mean loss, l2 = 1 / (C * n) for
    scikit-learn's C. In float64 with LBFGS's strong-Wolfe line search and a zero start: the same inputs give
    the same weights, bit for bit, on one machine. Warns if the gradient is not ~0 after max_iter steps.
    """
    _check_probe_data(X, y)
    if not (isinstance(l2, (int, float)) and l2 >= 0):
        raise ValueError(f"l2 must be a number >= 0, not {l2!r}")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ValueError(f"max_iter must be a positive int, not {max_iter!r}")
    if bool(y.all()) or not bool(y.any()):
        raise ValueError("y has only one class: a probe needs tokens where the concept holds and where it does not")
    X64 = X.detach().to("cpu", torch.float64)
    mean, std = X64.mean(0), X64.std(0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    Z, target = (X64 - mean) / std, y.to("cpu", torch.float64)
    params = torch.zeros(X.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], lr=1, max_iter=max_iter, history_size=20, tolerance_grad=1e-10,
                                  tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = _penalised_loss(Z, target, params[:-1], params[-1], l2)
        loss.backward()
        return loss

    with torch.enable_grad():  # a caller's torch.no_grad() must not stop the fit
        optimizer.step(closure)
        closure()
    if float(params.grad.abs().max()) > 1e-6:
        warnings.warn(f"fit_logistic_regression: the gradient is still {float(params.grad.abs().max()):.1e} after"
                      f" {max_iter} iterations (separable data with a tiny l2?); raise l2 or max_iter", stacklevel=2)
    w, b = params.detach()[:-1], params.detach()[-1]
    weight = w / std
    return weight, float(b - mean @ weight)


def _penalised_loss(Z: Tensor, target: Tensor, w: Tensor, b: Tensor, l2: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(Z @ w + b, target) + l2 / 2 * (w @ w)


def predict_logits(X: Float[Tensor, "n d"], weight: Float[Tensor, " d"], bias: float) -> Float[Tensor, " n"]:
    """The probe's logit for each row of X (positive: it says the concept holds)."""
    if X.ndim != 2 or X.shape[1] != weight.shape[0]:
        raise ValueError(f"X must be [n, {weight.shape[0]}] to match the weight, not {tuple(X.shape)}")
    return X.detach().to("cpu", torch.float64) @ weight + bias


def probe_accuracy(X: Float[Tensor, "n d"], y: Bool[Tensor, " n"], weight: Float[Tensor, " d"], bias: float) -> float:
    """The share of rows whose predicted class (logit > 0) is their label."""
    _check_probe_data(X, y)
    return float(((predict_logits(X, weight, bias) > 0) == y.cpu()).double().mean())
