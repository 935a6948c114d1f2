"""braintask.check_model: a dry run of a model on a task before training."""

import warnings

import brainmass
import brainstate
import braintools
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import braintask

DATA = braintask.delayed_match_task(8, seq_len=4, n_symbols=2, seed=0)


def gru(n_input=2, n_output=2, **kw):
    brainstate.random.seed(0)
    return braintask.RecurrentClassifier(brainstate.nn.GRUCell(n_input, 4), n_output, **kw)


class Leaky(brainstate.nn.Module):
    """A small rate network; ``unit`` puts its logits in that unit, ``unused`` adds
    a weight the output never reads, ``spike`` thresholds the state before the readout."""

    def __init__(self, unit=None, unused=False, spike=False, nan=False):
        super().__init__()
        self.unit, self.spike, self.nan = unit, spike, nan
        self.w_in = brainstate.nn.Linear(2, 3)
        self.readout = brainstate.nn.Linear(3, 2)
        if unused:
            self.gain = brainstate.ParamState(jnp.ones(3))

    def init_state(self, batch_size=None, **kwargs):
        self.h = brainstate.HiddenState(jnp.zeros((3,) if batch_size is None else (batch_size, 3)))

    def step(self, x):
        self.h.value = 0.5 * self.h.value + jnp.tanh(self.w_in(x))
        return self.h.value

    def update(self, inputs):
        h = brainstate.transform.for_loop(self.step, inputs)[-1]
        if self.spike:  # a hard threshold the inputs never reach: no gradient through it
            h = (h > 100.0).astype(h.dtype)
        logits = self.readout(h)
        if self.nan:
            logits = logits * jnp.nan
        return logits if self.unit is None else logits * self.unit


def weights_of(model):
    return {k: np.asarray(v) for k, s in model.states(brainstate.ParamState).items()
            for v in [s.value["weight"] if isinstance(s.value, dict) else s.value]}


def test_a_gru_passes_with_every_weight_reached_and_the_right_shapes():
    net = gru()
    before = weights_of(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about
        check = braintask.check_model(net, DATA, batch_size=3)
    assert check.ok and check.unreached == []
    assert check.input_shape == (4, 3, 2) and check.output_shape == (3, 2)
    assert check.expected_output == "(B, C) = (3, 2)"
    assert check.hidden[["name", "shape", "batched"]].values.tolist() == [["cell/h", (4,), (3, 4)]]
    assert len(check.weights) == 6 and check.weights["reached"].all()
    assert (check.weights["grad_norm"] > 0).all() and np.isfinite(check.loss)
    assert set(check.weights["path"]) >= {"readout/weight/weight", "readout/weight/bias"}
    assert all(np.array_equal(before[k], v) for k, v in weights_of(net).items())
    assert "ok: a gradient reaches all 6 weights" in repr(check)
    assert "<table" in check._repr_html_() and "cell/h" in check._repr_html_()


def test_per_step_targets_need_time_major_outputs():
    steps = np.tile(DATA.targets[:, None], (1, DATA.seq_len))
    data = braintask.TaskDataset(DATA.inputs, steps, 2)
    check = braintask.check_model(gru(per_step=True), data, batch_size=2)
    assert check.output_shape == (4, 2, 2) and check.expected_output == "(T, B, C) = (4, 2, 2)"
    with pytest.raises(ValueError, match=r"\(T, B, C\) logits, one per step"):
        braintask.check_model(gru(), data)


def test_a_trial_source_is_sampled():
    source = braintask.delayed_match_source(16, seq_len=4, n_symbols=2, seed=0)
    assert braintask.check_model(gru(), source, batch_size=2).input_shape == (4, 2, 2)


def test_an_unused_weight_is_reported_and_named_in_a_warning():
    with pytest.warns(UserWarning, match=r"no gradient reaches 1 of 5 weights \(gain\)"):
        check = braintask.check_model(Leaky(unused=True), DATA)
    assert not check.ok and check.unreached == ["gain"]
    row = check.weights.set_index("path").loc["gain"]
    assert row["reached"] == False and row["grad_norm"] == 0  # noqa: E712
    assert "1 of 5 weights get no gradient: gain" in repr(check)


def test_a_threshold_never_crossed_leaves_the_weights_before_it_unreached():
    with pytest.warns(braintask.ZeroGradientWarning, match="w_in/weight/weight"):
        check = braintask.check_model(Leaky(spike=True), DATA)
    reached = dict(zip(check.weights["path"], check.weights["reached"]))
    assert reached == {"w_in/weight/weight": False, "w_in/weight/bias": False,
                       "readout/weight/weight": False, "readout/weight/bias": True}


def test_logits_with_units_are_refused_naming_the_unit():
    with pytest.raises(ValueError, match=r"logits with units \(Hz\).*must be unitless"):
        braintask.check_model(Leaky(unit=u.Hz), DATA)


@pytest.mark.parametrize("n_output", [1, 3])
def test_the_wrong_number_of_outputs_names_the_size_wanted(n_output):
    with pytest.raises(ValueError, match=rf"returns C={n_output} outputs.*n_classes=2.*"
                                         rf"exactly 2 outputs"):
        braintask.check_model(gru(n_output=n_output), DATA)


def test_a_model_that_raises_gets_the_input_shape_and_size_it_must_accept():
    with pytest.raises(ValueError, match=r"inputs of shape \(T, B, F\) = \(4, 2, 2\): 2 input "
                                         r"features.*input size is 2"):
        braintask.check_model(gru(n_input=3), DATA)


def test_nan_outputs_are_refused():
    with pytest.raises(ValueError, match="8 NaN or infinite values of 8"):
        braintask.check_model(Leaky(nan=True), DATA)


def test_a_model_without_weights_or_not_a_module_is_refused():
    class Still(brainstate.nn.Module):
        def update(self, x):
            return x[-1]

    with pytest.raises(ValueError, match="no brainstate.ParamState weights"):
        braintask.check_model(Still(), DATA)
    with pytest.raises(TypeError, match="model must be a brainstate.nn.Module"):
        braintask.check_model(lambda x: x[-1], DATA)


def test_horn_unbatched_states_are_shown_at_the_batch_shape():
    brainstate.random.seed(0)
    net = brainmass.HORNSeqNetwork(n_input=2, n_hidden=6, n_output=2, alpha=0.2)
    brainstate.nn.init_all_states(net, batch_size=5)
    assert net.layers[0].horn.x.value.shape == (6,)  # HORN ignores the batch size
    check = braintask.check_model(net, DATA, batch_size=5)
    assert check.ok and check.output_shape == (5, 2)
    assert set(check.hidden["shape"]) == {(6,)} and set(check.hidden["batched"]) == {(5, 6)}
    assert len(check.hidden) >= 2 and all(n.startswith("layers/0/") for n in check.hidden["name"])


def test_the_trainer_trains_a_model_with_a_weight_it_never_reads():
    data = braintask.delayed_match_task(32, seq_len=4, n_symbols=2, noise=0.1, seed=0)
    model = Leaky(unused=True)
    before = weights_of(model)
    trainer = braintask.Trainer(model, braintools.optim.Adam(lr=1e-2), batch_size=8,
                                progress=False)
    trainer.fit(data, epochs=1)
    after = weights_of(model)
    assert len(after) == 3  # w_in, readout and the unread gain
    changed = {str(k): not np.array_equal(after[k], before[k]) for k in before}
    assert changed == {k: "gain" not in k for k in changed}  # only the gain stays
