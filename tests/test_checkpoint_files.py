"""Checkpoint files: weights with units, library versions, weights alone for inference."""

import re
import warnings

import brainstate
import braintools
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import braintask
from braintask._checkpoint import format as _checkpoint
from braintask._checkpoint.format import (library_versions, named_params, read_checkpoint, restorer,
                                   snapshot, write_checkpoint)
from braintask._distributed import to_host
from helpers import make_horn, trainer_for, weights


class Synapses(brainstate.nn.Module):
    """Weights with units (as brainmass models hold them) beside plain ones."""

    def __init__(self, n=4, unit=u.nA, scale=1.0):
        super().__init__()
        self.J = brainstate.ParamState(scale * jnp.arange(1.0, n + 1) * 0.26 * unit)
        self.w = brainstate.ParamState({"weight": scale * jnp.ones((2, 3)),
                                        "tau": scale * jnp.full(2, 10.0) * u.ms})


def values(model):
    """Each weight as (mantissa array, unit string) pairs, by name."""
    def one(x):
        return (np.asarray(x.mantissa), str(x.unit)) if isinstance(x, u.Quantity) \
            else (np.asarray(x), "")
    return {k: {n: one(v) for n, v in (s.value.items() if isinstance(s.value, dict)
                                         else [("", s.value)])}
            for k, s in named_params(model).items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].keys() == b[k].keys()
        for n in a[k]:
            np.testing.assert_array_equal(a[k][n][0], b[k][n][0])
            assert a[k][n][1] == b[k][n][1]


def arrays(net):
    """Every weight array of a model, in order."""
    return jax.tree.leaves(weights(net))


def same_weights(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(b)))


def write(path, model, **kw):
    snap = snapshot(params={k: s.value for k, s in named_params(model).items()},
                    opt_values=[], epoch=3, seed=0, history=braintask.History())
    snap.update(kw)
    return write_checkpoint(path, [snap])


def restore(path, model):
    saved = read_checkpoint(path)["copies"][0]
    restorer(path, saved, params=named_params(model), opt_states=[], seed=0)()


def test_weights_with_units_round_trip_through_a_checkpoint(tmp_path):
    path = tmp_path / "units.msgpack"
    source, target = Synapses(), Synapses(scale=0.0)
    write(path, source)
    restore(path, target)
    assert_same(values(target), values(source))
    assert values(target)["J"][""][1] == "nA" and values(target)["w"]["tau"][1] == "ms"
    np.testing.assert_allclose(values(target)["J"][""][0], [0.26, 0.52, 0.78, 1.04], rtol=1e-6)


def test_files_that_stored_a_quantity_the_braintools_way_still_load(tmp_path):
    """Before, a Quantity reached msgpack as it is and braintools wrote its
    mantissa, scale, base, dimension exponents and factor (no unit name)."""
    path = tmp_path / "old.msgpack"
    source, target = Synapses(), Synapses(scale=0.0)
    write(path, source, params={k: to_host(s.value) for k, s in named_params(source).items()})
    assert "unit" not in braintools.file.msgpack_load(str(path))["copies"]["0000"]["params"]["J"]
    restore(path, target)
    assert_same(values(target), values(source))


@pytest.mark.parametrize("other, words", [
    (lambda: Synapses(unit=u.pA), "weight 'J' has shapes (4,) nA, the model's are (4,) pA"),
    (lambda: Synapses(n=5), "weight 'J' has shapes (4,) nA, the model's are (5,) nA"),
])
def test_another_unit_or_shape_is_refused_and_changes_nothing(tmp_path, other, words):
    path = tmp_path / "units.msgpack"
    write(path, Synapses())
    target = other()
    before = values(target)
    with pytest.raises(braintask.CheckpointError, match=re.escape(words)):
        restore(path, target)
    with pytest.raises(braintask.CheckpointError, match="weight 'J' has shapes"):
        braintask.load_weights(target, braintask.save_weights(Synapses(), tmp_path / "w.msgpack"))
    assert_same(values(target), before)


def test_checkpoints_record_library_versions_and_warn_when_they_differ(tmp_path, monkeypatch):
    path = tmp_path / "v.msgpack"
    write(path, Synapses())
    stored = braintools.file.msgpack_load(str(path))["versions"]
    assert stored == library_versions()
    assert set(stored) == {"braintask", "brainstate", "braintools", "jax", "python"}
    assert stored["braintask"] == braintask.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_checkpoint(path)  # same versions: silent
    older = {**library_versions(), "jax": "0.0.1", "brainstate": "0.0.2"}
    monkeypatch.setattr(_checkpoint, "library_versions", lambda: older)
    write(path, Synapses())
    monkeypatch.undo()
    with pytest.warns(UserWarning, match=r"other library versions: brainstate 0.0.2 \(installed: "
                                         rf"{library_versions()['brainstate']}\), jax 0.0.1 "
                                         rf"\(installed: {library_versions()['jax']}\)"):
        copy = read_checkpoint(path)["copies"][0]
    assert copy["epoch"] == 3


def test_files_without_versions_load_silently(tmp_path):
    path = tmp_path / "old.msgpack"
    write(path, Synapses())
    raw = braintools.file.msgpack_load(str(path))
    del raw["versions"]
    braintools.file.msgpack_save(str(path), raw)
    target = Synapses(scale=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restore(path, target)
    assert_same(values(target), values(Synapses()))


def test_save_and_load_weights_for_inference(small_task, tmp_path):
    train, test = small_task
    trainer = trainer_for(make_horn(), lr=3e-2)
    trainer.fit(train, test, epochs=1)
    path = braintask.save_weights(trainer.model, tmp_path / "net.msgpack")
    raw = braintools.file.msgpack_load(path)
    assert raw["format"] == "braintask.weights" and raw["versions"] == library_versions()
    assert set(raw) == {"format", "version", "versions", "params"}  # no optimizer, seed, RNG
    net = make_horn(seed=5)
    assert not same_weights(net, trainer.model)
    assert braintask.load_weights(net, path) is net
    assert same_weights(net, trainer.model) and len(arrays(net)) == len(arrays(trainer.model))
    inference = trainer_for(net, seed=7)  # another seed and optimizer: no matter
    np.testing.assert_array_equal(inference.predict(test.inputs), trainer.predict(test.inputs))
    with pytest.raises(braintask.CheckpointError, match="not a braintask checkpoint .*"
                                                        "'braintask.weights'"):
        trainer_for(make_horn()).load(path)


def test_load_weights_reads_a_trainers_checkpoint_and_refuses_other_models(small_task, tmp_path):
    train, test = small_task
    trainer = trainer_for(make_horn(), seed=3)
    trainer.fit(train, test, epochs=1)
    trainer.save(tmp_path / "ckpt.msgpack")
    net = braintask.load_weights(make_horn(seed=5), tmp_path / "ckpt.msgpack")
    assert same_weights(net, trainer.model)
    with pytest.raises(ValueError, match="copy= chooses among the copies of a checkpoint"):
        braintask.load_weights(net, braintask.save_weights(net, tmp_path / "w.msgpack"), copy=0)
    with pytest.raises(ValueError, match=r"copy must be an index 0..0 .* got 2"):
        braintask.load_weights(net, tmp_path / "ckpt.msgpack", copy=2)
    small = make_horn(n_hidden=8, seed=5)
    before = arrays(small)
    with pytest.raises(braintask.CheckpointError, match="has shapes"):
        braintask.load_weights(small, tmp_path / "ckpt.msgpack")
    linear = brainstate.nn.Linear(2, 2)
    with pytest.raises(braintask.CheckpointError, match="holds weights .* but the model has"):
        braintask.load_weights(linear, tmp_path / "w.msgpack")
    assert all(np.array_equal(a, b) for a, b in zip(arrays(small), before))
    with pytest.raises(braintask.CheckpointError, match="does not exist"):
        braintask.load_weights(net, tmp_path / "missing.msgpack")
    with pytest.raises(TypeError, match="model must be a brainstate.nn.Module, got dict"):
        braintask.save_weights({}, tmp_path / "x.msgpack")
    with pytest.raises(TypeError, match="path must be a str or path, got int"):
        braintask.save_weights(net, 3)


def test_load_weights_picks_one_copy_of_a_multi_seed_checkpoint(small_task, tmp_path):
    grid = braintask.MultiSeedTrainer(lambda: make_horn(seed=None),
                                      lambda: braintools.optim.Adam(lr=1e-2), seeds=[0, 1],
                                      batch_size=16, progress=False)
    train, test = small_task
    grid.fit(train, test, epochs=1)
    grid.save(tmp_path / "grid.msgpack")
    assert [c["seed"] for c in grid.copies] == [0, 1]
    with pytest.raises(braintask.CheckpointError,
                       match="holds 2 copies; choose one with copy=0..1"):
        braintask.load_weights(make_horn(seed=5), tmp_path / "grid.msgpack")
    for k, trained in enumerate(grid.trainers):
        net = braintask.load_weights(make_horn(seed=5), tmp_path / "grid.msgpack", copy=k)
        assert same_weights(net, trained.model)
    assert not same_weights(grid.trainers[0].model, grid.trainers[1].model)


def test_brainmass_parameters_with_units_round_trip(tmp_path):
    """A brainmass model trained with unit-carrying brainstate.nn.Param weights."""
    import brainmass

    brainstate.environ.set(dt=0.1 * u.ms)

    def model(value):
        return brainmass.WongWangStep(4, J_N11=brainstate.nn.Param(value * u.nA),
                                      J_N22=brainstate.nn.Param(np.full(4, value) * u.nA))

    source = model(0.2609)
    assert set(named_params(source)) == {"J_N11/val", "J_N22/val"}
    target = model(0.1)
    kinds = lambda m: {k: (type(s.value.mantissa), s.value.mantissa.dtype)
                       for k, s in named_params(m).items()}
    before = kinds(target)
    braintask.load_weights(target, braintask.save_weights(source, tmp_path / "ww.msgpack"))
    assert_same(values(target), values(source))
    assert kinds(target) == before  # the model's array kinds and dtypes are kept
    again = model(0.3)
    write(tmp_path / "ww_ckpt.msgpack", source)
    restore(tmp_path / "ww_ckpt.msgpack", again)
    assert_same(values(again), values(source))
    assert values(again)["J_N22/val"][""][1] == "nA"
    np.testing.assert_array_equal(values(again)["J_N22/val"][""][0],
                                  np.full(4, 0.2609, dtype=np.float32))
