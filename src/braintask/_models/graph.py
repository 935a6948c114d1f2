"""Reading a brainstate module's states (the one typed door every room uses)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import brainstate

if TYPE_CHECKING:
    from brainstate.util import FlattedDict

__all__ = ["module_states"]


def module_states(model: brainstate.nn.Module, *filters: Any) -> FlattedDict:
    """``model.states(*filters)`` for no filter or one: one ``FlattedDict`` of path ->
    state (brainstate's annotation also allows the tuple that several filters give)."""
    return cast("FlattedDict", model.states(*filters))
