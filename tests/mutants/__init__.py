"""Catalogues of realistic wrong implementations, one module per section.

`@mutant(exercise, hint)` registers a class (or function) as a wrong answer to `exercise` whose
check must fail with a message containing `hint`. `@alternative(exercise)` registers a *right* answer
written differently from the reference (another op order, a helper called on the way), which its check
must accept: a check that rejects a right answer is as wrong as one that passes a wrong one."""

from dataclasses import dataclass

REGISTRY: list["Mutant"] = []


@dataclass(frozen=True)
class Mutant:
    exercise: str
    hint: str
    impl: object

    @property
    def name(self) -> str:
        return f"{self.exercise}:{self.impl.__name__}"


def mutant(exercise: str, hint: str):
    def register(impl):
        REGISTRY.append(Mutant(exercise, hint, impl))
        return impl

    return register


ALTERNATIVES: list["Mutant"] = []


def alternative(exercise: str):
    def register(impl):
        ALTERNATIVES.append(Mutant(exercise, "", impl))
        return impl

    return register
