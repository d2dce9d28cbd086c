"""Mutation score per section: how many realistic wrong implementations each check catches, and with
the hint that names the mistake.

    python -m tests.mutation_report
"""

from tests.checks.core import CheckFailed
from tests.sections import SECTIONS


def score(section) -> tuple[int, int, list[str]]:
    """(caught with the named hint, total, descriptions of the others)."""
    caught, survivors = 0, []
    mutants = section.mutants()
    for m in mutants:
        check, _ = section.checks[m.exercise]
        try:
            check(m.impl, quiet=True)
            survivors.append(f"{m.name}: passed the check")
        except CheckFailed as failure:
            if m.hint in str(failure):
                caught += 1
            else:
                survivors.append(f"{m.name}: caught, but the hint does not say {m.hint!r}")
    return caught, len(mutants), survivors


def main() -> None:
    print(f"{'section':<20} {'exercises':>9} {'mutants':>8} {'caught':>7}  score")
    for section in SECTIONS:
        caught, total, survivors = score(section)
        print(f"{section.notebook:<20} {len(section.checks):>9} {total:>8} {caught:>7}  {caught / total:.0%}")
        for s in survivors:
            print(f"    survivor: {s}")


if __name__ == "__main__":
    main()
