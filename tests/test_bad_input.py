"""Whatever a learner's code does, a check answers with one line naming what was expected, within a
time limit, and without touching the learner's objects beyond the call.

Every exercise is put through the same misbehaviours: returning None, a Python list, a NaN tensor or
the wrong dtype, raising, hanging, printing megabytes, and calling sys.exit()."""

import math
import re
import sys
import time

import pytest
import torch

from tests.checks import core
from tests.checks.core import CheckFailed
from tests.sections import SECTIONS

# exercise -> (reference class, method name) for every exercise in every section
EXERCISES = [(s, name) for s in SECTIONS for name in s.checks]


def _hang(*args, **kwargs):
    while True:
        time.sleep(0.01)


def _shout(*args, **kwargs):
    print("x" * 5_000_000)
    sys.stderr.write("y" * 5_000_000)
    return None


def _exit(*args, **kwargs):
    sys.exit(3)


def _raise(*args, **kwargs):
    raise ValueError("something inside went wrong")


MISBEHAVIOURS = {
    "returns None": (lambda *a, **k: None, r"is None|returned NoneType"),
    "returns a list": (lambda *a, **k: [[0.0]], r"is a list|returned list"),
    "returns NaN": (lambda *a, **k: torch.full((1,), math.nan), None),
    "raises": (_raise, r"raised ValueError: something inside went wrong"),
    "hangs": (_hang, r"took longer than"),
    "prints megabytes": (_shout, None),
    "calls sys.exit": (_exit, r"called sys\.exit\(\)"),
}


def _broken(section, exercise, behaviour):
    """The reference class with one exercise method replaced by a misbehaving one (or, for an
    exercise that is a function, the misbehaving function itself)."""
    if "." not in exercise:
        return behaviour
    cls_name, method = exercise.split(".")
    reference = getattr(section.reference, cls_name)
    return type(f"Broken{cls_name}", (reference,), {method: behaviour})


@pytest.mark.parametrize("misbehaviour", MISBEHAVIOURS)
@pytest.mark.parametrize("section,exercise", EXERCISES, ids=[e for _, e in EXERCISES])
def test_misbehaving_code_gets_one_clear_line(section, exercise, misbehaviour, monkeypatch, capsys):
    monkeypatch.setattr(core, "CALL_TIME_LIMIT", 1.0)
    behaviour, words = MISBEHAVIOURS[misbehaviour]
    check, _ = section.checks[exercise]
    started = time.time()
    with pytest.raises(CheckFailed) as failure:
        check(_broken(section, exercise, behaviour))
    assert time.time() - started < 10
    message = str(failure.value)
    assert "\n" not in message and len(message) < 400, message
    assert failure.value.hint, "every failure comes with a hint"
    if words and not (exercise.endswith("__init__") and misbehaviour.startswith("returns")):
        assert re.search(words, message), message  # (a constructor "returning" something is an empty one)
    printed = capsys.readouterr()
    assert len(printed.out) + len(printed.err) < 10_000, "the learner's prints are swallowed, not shown"


def test_count_of_bad_input_cases():
    """Reported in the closing note: how many (exercise, misbehaviour) pairs the suite tries."""
    assert len(EXERCISES) * len(MISBEHAVIOURS) >= 50
