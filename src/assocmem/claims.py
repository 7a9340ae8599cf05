"""A paper's checkable claims and the verdict they add up to.

The verdict is ``reproduced`` when every claim holds, ``not reproduced`` when none does, and ``partly`` otherwise;
``not run`` when no claim was tested (every ``passed`` is ``None``: e.g. data the user must supply were not given). A
claim not run among claims that were counts as not holding.
"""

from __future__ import annotations

from dataclasses import dataclass

VERDICTS = ("reproduced", "partly", "not reproduced", "not run")


@dataclass
class Claim:
    """One checkable statement of a paper.

    ``tolerance`` states the threshold that decides ``passed`` (a project tolerance unless the paper
    gives one); ``paper_value`` is the paper's number where it gives one.
    """

    id: str
    statement: str
    our_value: str
    tolerance: str
    passed: bool | None  # None: not tested (not run)
    paper_value: str | None = None

    def __post_init__(self):
        # numpy and torch booleans become Python ones, so that the JSON holds true/false, not a string
        if self.passed is not None:
            self.passed = bool(self.passed)


def verdict(claims: list[Claim]) -> str:
    """Combine claims into ``reproduced``, ``partly``, ``not reproduced`` or ``not run`` (module docstring)."""
    if not claims:
        raise ValueError("a result target must test at least one claim")
    if all(c.passed is None for c in claims):
        return VERDICTS[3]
    n = sum(bool(c.passed) for c in claims)
    return VERDICTS[0] if n == len(claims) else VERDICTS[2] if n == 0 else VERDICTS[1]
