"""The machinery every exercise check shares.

A check builds the learner's object and the reference from the same small, non-default config,
copies the reference's parameters into the learner's (so random init does not matter), feeds both
the same input and compares. When the results differ it compares the learner's result with a list
of *known mistakes* computed from the reference (e.g. "forward without the bias") and, if one
matches, names it in the hint.

A failed check raises CheckFailed. In a notebook it renders as one short message instead of a
traceback (IPython calls `_render_traceback_`), and "Run all" stops there, as it should.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import signal
import threading
import traceback
from collections.abc import Callable

import torch
from torch import Tensor

#: Seconds a single call into a learner's code may take before the check gives up.
CALL_TIME_LIMIT = float(os.environ.get("WORKBOOK_CHECK_TIME_LIMIT", 60))
#: Characters of a learner's printed output that are kept (the rest is dropped, not shown).
MAX_PRINTED = 2000


class CheckFailed(AssertionError):
    """An exercise check failed. `message` says what is wrong, `hint` how to fix it."""

    def __init__(self, exercise: str, message: str, hint: str | None = None, not_implemented: bool = False):
        self.exercise, self.message, self.hint, self.not_implemented = exercise, message, hint, not_implemented
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.exercise}: {self.message}" + (f" Hint: {self.hint}" if self.hint else "")

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        lines = [f"\x1b[31m✗ {self.exercise}: {self.message}\x1b[0m"]
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return lines


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Interrupt the block after `seconds` (Unix main thread only; elsewhere no limit applies)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or seconds <= 0:
        yield
        return

    def on_alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _CappedWriter(io.TextIOBase):
    """Swallows a learner's prints, keeping only the first MAX_PRINTED characters."""

    def __init__(self):
        self.kept = []
        self.size = 0

    def write(self, s: str) -> int:
        if self.size < MAX_PRINTED:
            self.kept.append(s[: MAX_PRINTED - self.size])
        self.size += len(s)
        return len(s)


def _where(exc: BaseException) -> str:
    """'line 12 of forward' for the innermost frame of the learner's code (not torch's)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in f.filename
              and "/tests/checks/" not in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f" (in {f.name}, line {f.lineno}: `{(f.line or '').strip()}`)"


#: Errors whose cause is the same whatever the exercise: words in torch's message -> what the learner did.
#: (An exercise's own crash_hint names edge cases; this names the operation autograd refused.)
KNOWN_ERRORS = {
    "leaf Variable that requires grad is being used in an in-place operation":
        "an in-place operation (/=, *=, +=, .abs_(), [...] = ...) on a parameter: autograd forbids it. Assign to"
        " the parameter's .data (self.W_dec.data = ...), or compute a new tensor instead.",
    "save_for_backward can only save variables":
        "Step.apply and JumpReLU.apply take the threshold as a tensor: pass self.threshold (each latent's learned"
        " threshold, a parameter [inst, d_hidden]), not a number such as the initial threshold.",
}


def call_learner(exercise: str, fn: Callable, *args, crash_hint: str | None = None,
                 timeout_hint: Callable[[], str | None] | None = None, **kwargs):
    """Call the learner's code; turn every way it can go wrong into a one-line CheckFailed.
    `crash_hint` replaces the generic hint when the code raises (name the likely edge case);
    `timeout_hint()`, asked after a time-out, may name what made it slow (None: the generic hint)."""
    try:
        with _time_limit(CALL_TIME_LIMIT), contextlib.redirect_stdout(_CappedWriter()), \
                contextlib.redirect_stderr(_CappedWriter()):
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(
            exercise, "not implemented yet.",
            "fill in the body where it says `raise NotImplementedError`, run that cell, then run this check again.",
            not_implemented=True,
        ) from None
    except CheckFailed:
        raise
    except _Timeout:
        raise CheckFailed(exercise, f"took longer than {CALL_TIME_LIMIT:.0f}s and was stopped.",
                          (timeout_hint and timeout_hint()) or
                          "look for an infinite loop, or a Python loop that should be one tensor operation.") from None
    except SystemExit:
        raise CheckFailed(exercise, "called sys.exit() / exit().", "remove the exit call.") from None
    except Exception as e:  # the learner's bug, reported in one line
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        known = next((hint for words, hint in KNOWN_ERRORS.items() if words in str(e)), None)
        raise CheckFailed(exercise, f"raised {type(e).__name__}: {msg}{_where(e)}",
                          known or crash_hint or "run the cell above on a small input and look at each tensor's shape."
                          ) from None


def expect_tensor(exercise: str, value, name: str, shape: tuple[int, ...], dims: str,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """Check a learner's return value is a finite tensor of the right shape and dtype."""
    expected = f"a {dtype} tensor of shape [{dims}] = {list(shape)}"
    if value is None:
        raise CheckFailed(exercise, f"{name} is None; expected {expected}.", "did you forget `return`?")
    if isinstance(value, tuple) and len(value) == 1:
        raise CheckFailed(exercise, f"{name} is a 1-tuple; expected {expected}.",
                          "a trailing comma after the return value?")
    if not isinstance(value, Tensor):
        what = type(value).__name__
        hint = "return the tensor itself (not .item(), .tolist() or .numpy())." if isinstance(
            value, (float, int, list)) else None
        raise CheckFailed(exercise, f"{name} is a {what}; expected {expected}.", hint)
    if tuple(value.shape) != tuple(shape):
        raise CheckFailed(exercise, f"{name} has shape {list(value.shape)}; expected [{dims}] = {list(shape)}.",
                          "check which axes your einsum / reduction keeps.")
    if value.dtype != dtype:
        hint = ("return the boolean mask itself (e.g. x == 0), not a float or int copy." if dtype == torch.bool
                else "avoid torch.tensor(...)/float64 intermediates; keep the input's dtype.")
        raise CheckFailed(exercise, f"{name} has dtype {value.dtype}; expected {dtype}.", hint)
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise CheckFailed(exercise, f"{name} contains NaN or inf.", "look for a division by zero or a log of 0.")
    return value


def close(a: Tensor, b: Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    return a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol)


def _subject(name: str) -> str:
    """`name` with the right form of "do": "acts do", "the loss does" (a plural noun ends in s, loss does not)."""
    head = name.split(" (")[0].split()[-1] if name.split(" (")[0].split() else name
    plural = head.endswith("s") and not head.endswith(("ss", "_loss", "ous")) and head != "is"
    return f"{name} {'do' if plural else 'does'}"


def compare(exercise: str, got: Tensor, expected: Tensor, name: str, mistakes: dict[str, Tensor] | None = None,
            rtol: float = 1e-4, atol: float = 1e-5, generic_hint: str | None = None) -> None:
    """Fail unless got ≈ expected; if got matches a known mistake, name it."""
    if close(got, expected, rtol, atol):
        return
    for hint, wrong in (mistakes or {}).items():
        if close(got, wrong, rtol, atol):
            raise CheckFailed(exercise, f"{_subject(name)} not match the reference.", hint)
    got, expected = got.detach().float().cpu(), expected.detach().float().cpu()
    diff = (got - expected).abs()
    idx = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0]) if diff.ndim else ()
    where = f" at index {list(idx)}" if idx else ""
    raise CheckFailed(
        exercise,
        f"{_subject(name)} not match the reference: largest difference {diff.max().item():.3g}{where}"
        f" (yours {got[idx].item():.4g}, expected {expected[idx].item():.4g}).",
        generic_hint,
    )


DETACHED_HINT = ("part of the computation is cut off from autograd: look for .detach(), .data, .item(),"
                 " torch.tensor(...) or torch.no_grad() on the way from the parameters to the result.")


def compare_gradients(exercise: str, got: Tensor, expected: Tensor, name: str,
                      learner_params: dict[str, Tensor], reference_params: dict[str, Tensor],
                      hints: dict[str | None, str] | str | None = None) -> None:
    """Training follows the gradient, not the value: backpropagate `got` and `expected` with the same random
    weights, and fail unless every parameter's gradient matches. A stray .detach() leaves the value right
    and the gradient wrong (or missing), and the model then silently fails to learn. `hints` maps a
    parameter name to what its wrong gradient most likely means; the key None (or one string) covers the rest."""
    if isinstance(hints, str):
        hints = {None: hints}
    hints = hints or {}
    default = hints.get(None, DETACHED_HINT)  # the key None: the hint for any parameter not named
    if not got.requires_grad:
        raise CheckFailed(exercise, f"{name} has no gradient at all, so nothing would train.", default)
    weights = torch.randn(expected.shape, generator=torch.Generator().manual_seed(1))
    names = list(reference_params)
    got_grads = torch.autograd.grad((got * weights.to(got.device)).sum(), [learner_params[n] for n in names],
                                    allow_unused=True, retain_graph=True)
    expected_grads = torch.autograd.grad((expected * weights).sum(), [reference_params[n] for n in names],
                                         allow_unused=True, retain_graph=True)
    for param, mine, theirs in zip(names, got_grads, expected_grads, strict=True):
        theirs = torch.zeros_like(reference_params[param]) if theirs is None else theirs
        mine = torch.zeros_like(theirs) if mine is None else mine
        if not close(mine, theirs):
            what = "gets no gradient" if mine.abs().max() == 0 else "gets the wrong gradient"
            raise CheckFailed(exercise, f"the value of {name} is right, but {param} {what} from it.",
                              hints.get(param, default))


def exercise_check(exercise: str):
    """Decorate a check: run it with its own fixed seed (leaving the learner's RNG state alone) and
    print a tick when it passes."""

    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def run(*args, quiet: bool = False, **kwargs):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                check(*args, **kwargs)
            if not quiet:
                print(f"✓ {exercise}: all checks passed.")

        run.exercise = exercise
        return run

    return decorate
