"""Catalogues of realistic wrong implementations, one module per section.

`@mutant(exercise, hint)` registers a class (or function) as a wrong answer to `exercise` whose
check must fail with a message containing `hint`."""

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
