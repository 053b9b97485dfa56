"""Loader checks of 告知承诺: every commitment step should say what the applicant promises (a
``commitment`` block with its conditions and the consequence of a false promise); without one there
is no letter to sign, and the step is reviewed by an officer like a human step. A warning (through
the loader's ``warn(problem, loc, step)``), not a refusal: bundle files and snapshots written
before the block existed still load and run as they did.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.spec.models import BundleSpec, StepKind

Add = Callable[..., None]


def check_commitments(bundle: BundleSpec, *, add: Add, warn: Add) -> None:
    """A commitment step declares ``commitment: {conditions, consequence}`` (warned), and only a
    commitment step does (refused: a human step's letter would never be shown)."""
    for i, step in enumerate(bundle.steps):
        if step.commitment is not None and step.kind is not StepKind.COMMITMENT:
            add(f"only a commitment step has a commitment block (this one is {step.kind.value}) / "
                "只有告知承诺环节（kind: commitment）可以声明 commitment", ("steps", i, "commitment"), step.id)
        if step.kind is StepKind.COMMITMENT and step.commitment is None:
            warn("a commitment step without a commitment block has no letter to sign: an officer reviews it; give "
                 "the conditions the applicant promises and the consequence of a false promise / 告知承诺环节未声明"
                 "承诺事项（conditions）及虚假承诺的后果（consequence），无承诺书可签，将由工作人员审查",
                 ("steps", i, "kind"), step.id)
