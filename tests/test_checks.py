"""Every exercise check is shown to pass on the reference, to fail on the untouched stub with
"not implemented yet", and to fail on each realistic mistake with a hint that names it."""

import pytest

from tests.checks.core import CheckFailed
from tests.sections import ROOT, SECTIONS, notebook_namespace

EXERCISES = [(s, name) for s in SECTIONS for name in s.checks]
MUTANTS = [m for s in SECTIONS for m in s.mutants()]
ALTERNATIVES = [m for s in SECTIONS for m in s.alternatives()]


@pytest.mark.parametrize("section,exercise", EXERCISES, ids=[e for _, e in EXERCISES])
def test_reference_passes(section, exercise, capsys):
    check, obj_name = section.checks[exercise]
    check(getattr(section.reference, obj_name))
    assert f"✓ {exercise}" in capsys.readouterr().out


@pytest.fixture(scope="module")
def stub_namespaces():
    return {s.notebook: notebook_namespace(ROOT / "notebooks" / f"{s.notebook}.py") for s in SECTIONS}


@pytest.mark.parametrize("section,exercise", EXERCISES, ids=[e for _, e in EXERCISES])
def test_stub_fails_as_not_implemented(section, exercise, stub_namespaces):
    check, obj_name = section.checks[exercise]
    with pytest.raises(CheckFailed) as failure:
        check(stub_namespaces[section.notebook][obj_name])
    assert failure.value.not_implemented
    assert "not implemented yet" in str(failure.value)


@pytest.mark.parametrize("m", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_caught_with_named_hint(m):
    check, _ = next(s.checks[m.exercise] for s in SECTIONS if m.exercise in s.checks)
    with pytest.raises(CheckFailed) as failure:
        check(m.impl)
    assert m.hint in str(failure.value), f"caught, but the message does not say {m.hint!r}: {failure.value}"
    assert "\n" not in failure.value.message, "a check's message is one line"


def test_every_exercise_has_at_least_five_mutants():
    for section in SECTIONS:
        for exercise in section.checks:
            n = sum(m.exercise == exercise for m in MUTANTS)
            assert n >= 5, f"{exercise} has only {n} mutants"


def test_failed_check_renders_as_one_short_message_in_ipython():
    failure = CheckFailed("X.forward", "is wrong.", "do better.")
    lines = failure._render_traceback_()
    assert len(lines) == 2 and "X.forward" in lines[0] and "Hint: do better." in lines[1]


@pytest.mark.parametrize("m", ALTERNATIVES, ids=[m.name for m in ALTERNATIVES])
def test_right_answer_written_differently_passes(m, capsys):
    check, _ = next(s.checks[m.exercise] for s in SECTIONS if m.exercise in s.checks)
    check(m.impl)
    assert f"✓ {m.exercise}" in capsys.readouterr().out


def test_a_time_out_names_what_made_the_call_slow(monkeypatch):
    """train_sae without `steps` passed on runs optimize's 10,000 default steps: when that runs past the time
    limit, the hint says so (seen from inside optimize), not "look for an infinite loop"."""
    from tests.checks import core

    monkeypatch.setattr(core, "CALL_TIME_LIMIT", 2)
    m = next(m for m in MUTANTS if m.name == "train_sae:steps_not_passed")
    check, _ = next(s.checks[m.exercise] for s in SECTIONS if m.exercise in s.checks)
    with pytest.raises(CheckFailed) as failure:
        check(m.impl)
    assert "took longer than 2s" in str(failure.value)
    assert "optimize was asked for 10000 steps, not the 200" in str(failure.value)


def test_the_watch_puts_the_course_code_back():
    """The train_sae check patches ActivationBuffer and AutoEncoder methods while it watches; afterwards
    they are the originals again, whether the learner's code passed or failed."""
    from solutions.llm_sae import ActivationBuffer
    from solutions.sae import AutoEncoder
    from tests.checks.interpretation import check_train_sae

    names = [(ActivationBuffer, "__init__"), (ActivationBuffer, "__call__"), (AutoEncoder, "__init__"),
             (AutoEncoder, "optimize"), (AutoEncoder, "resample_neurons_simple"),
             (AutoEncoder, "resample_neurons_advanced")]
    before = [cls.__dict__[name] for cls, name in names]
    m = next(m for m in MUTANTS if m.name == "train_sae:simple_resampling")
    with pytest.raises(CheckFailed):
        check_train_sae(m.impl)
    assert [cls.__dict__[name] for cls, name in names] == before


def test_every_exercise_has_its_check_in_notebook_order():
    """A check missing from CHECKS would silently skip its mutants, alternatives and grading."""
    for section in SECTIONS:
        assert list(section.checks) == list(section.reference.EXERCISES), section.module
