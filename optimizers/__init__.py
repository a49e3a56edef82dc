"""The optimizer registry: `compile.py --optimizer NAME`.

Each entry is a `Recipe` (optimizers/base.py) wrapping a DSPy `Teleprompter`: DSPy's own here, the project's own
(OPRO, MASPO, ...) added the same way, one file each.
"""

from __future__ import annotations

from optimizers.base import CompileContext, Plan, Recipe
from optimizers.bootstrap import Bootstrap, BootstrapRandomSearch
from optimizers.budget import PRESETS, Budget, fit, get_budget
from optimizers.gepa import Gepa
from optimizers.maspo import Maspo
from optimizers.mipro import Mipro, MiproInstructions
from optimizers.opro import Opro, OproJoint
from optimizers.trajectories import Trajectories
from runtime import UserError

REGISTRY: dict[str, Recipe] = {r.name: r for r in (Bootstrap(), BootstrapRandomSearch(), Mipro(),
                                                   MiproInstructions(), Gepa(), Opro(), OproJoint(),
                                                   Maspo(), Trajectories())}
DEFAULT = "bootstrap"


def get(name: str) -> Recipe:
    if name not in REGISTRY:
        raise UserError(f"unknown optimizer {name!r}: choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


__all__ = ["REGISTRY", "DEFAULT", "PRESETS", "Budget", "CompileContext", "Plan", "Recipe", "fit", "get", "get_budget"]
