"""Noticing a model that cannot learn: every gradient exactly zero for a whole epoch.

Each training step records, per trainable weight, whether its gradient was zero
everywhere (one comparison and one reduction per weight, inside the compiled
step); after each epoch the fit loop reads these flags on the host and warns
once per fit when every weight had a zero gradient at every step.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ZeroGradientWarning

__all__ = ["ZERO_GRADIENTS", "zero_gradient_flags", "warn_if_silent"]

#: The key of the per-weight zero-gradient flags in a training step's statistics.
ZERO_GRADIENTS = "_zero_gradients"


def zero_gradient_flags(grads: dict) -> tuple[list[str], jax.Array]:
    """The weights' names and, per weight, whether its gradient is zero everywhere."""
    names = ["/".join(str(p) for p in key) if isinstance(key, tuple) else str(key)
             for key in grads]
    flags = [jnp.all(jnp.asarray([jnp.all(leaf == 0) for leaf in jax.tree.leaves(g)]))
             for g in grads.values()]
    return names, jnp.stack(flags)


def warn_if_silent(stats: dict, names: list[str], epoch: int, who: str = "",
                   warned: bool = False) -> bool:
    """Remove the flags from one epoch's ``stats``; warn when every weight had a
    zero gradient at every step of epoch ``epoch`` (unless ``warned`` already).
    Returns whether a warning was given, now or before."""
    flags = stats.pop(ZERO_GRADIENTS, None)
    if warned or flags is None or not names:
        return warned
    flags = np.asarray(flags).reshape(-1, len(names))
    if not flags.all():
        return False
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    warnings.warn(
        f"{who}every gradient was exactly zero at all {len(flags)} minibatches of epoch "
        f"{epoch}, for every trainable weight ({shown}): the loss cannot change and "
        f"training does nothing. The model's output does not depend on its weights. Check "
        f"that the inputs reach the network (input gain and units), that spiking neurons "
        f"reach their threshold, and that a spike nonlinearity has a surrogate gradient "
        f"(e.g. braintools.surrogate, or a jax.custom_jvp).",
        ZeroGradientWarning, stacklevel=5)  # the fit call
    return True
