"""Where the installed stack is known to fail, braintask says so instead of hanging."""

import warnings

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from braintask._distributed import warn_known_hang


@pytest.mark.parametrize("version, warns", [("0.12.1", True), ("0.11.2", False)])
def test_training_across_processes_warns_where_it_is_known_to_hang(monkeypatch, version, warns):
    monkeypatch.setattr(jax, "__version__", version)
    mesh = Mesh(np.array(jax.devices("cpu")[:1]), ("batch",))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_known_hang(mesh)
    hang = [w for w in caught if "hangs with jax" in str(w.message)]
    assert len(hang) == int(warns)
    if warns:
        assert "jax < 0.12" in str(hang[0].message) and "0.12.1" in str(hang[0].message)
