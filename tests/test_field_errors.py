"""Errors that once misled: each now names its cause."""

import brainstate
import braintools
import brainunit as u
import jax
import jax.numpy as jnp
import pytest

import braintask
from helpers import make_horn


def trainer(**kw):
    return braintask.Trainer(make_horn(seed=0), braintools.optim.Adam(lr=1e-2), batch_size=16,
                             progress=False, **kw)


def test_a_loss_that_returns_one_value_per_trial(small_task):
    train, test = small_task

    def per_trial(logits, labels):
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1)[:, 0]

    with pytest.raises(ValueError, match=r"loss per_trial returned an array of shape \(16,\)"):
        trainer(loss=per_trial).fit(train, test, epochs=1)


def test_a_list_where_one_set_is_expected(small_task):
    train, test = small_task
    with pytest.raises(TypeError, match="val must be one set of trials.*list of 2 datasets"):
        trainer().fit(train, test, val=[test, test], epochs=1)


class AddsGap(braintask.Callback):
    adds = ("val_gap",)

    def on_epoch_end(self, trainer, record):
        record["val_gap"] = record["train_acc"] - record["val_acc"]


def test_a_criterion_may_watch_a_metric_a_callback_declares(small_task):
    train, test = small_task
    fit_set, val = train.split(48)
    t = trainer()
    history = t.fit(fit_set, test, val=val, epochs=3, callbacks=[AddsGap()],
                    criterion=braintask.Criterion("val_gap", at_most=10.0))
    assert history.criterion["epoch"] == 1  # met at once: the gap is always below 10
    assert history[0]["val_gap"] == pytest.approx(history[0]["train_acc"] - history[0]["val_acc"])
    with pytest.raises(ValueError, match="not a recorded metric"):
        trainer().fit(fit_set, test, val=val, epochs=1,
                      criterion=braintask.Criterion("val_gap", at_most=10.0))

    class Forgets(braintask.Callback):
        adds = ("val_other",)

    with pytest.raises(ValueError, match=r"declares it adds \['val_other'\]"):
        trainer().fit(fit_set, test, val=val, epochs=1, callbacks=[Forgets()])


def test_the_copy_warning_gives_advice_for_cogtask_trials(dt_one_ms):
    from braintools import cogtask

    task = cogtask.PerceptualDecisionMaking(seed=0)
    data = braintask.from_cogtask(task, 32, dt=20 * u.ms)
    brainstate.random.seed(0)
    net = braintask.RecurrentClassifier(brainstate.nn.GRUCell(data.n_features, 8),
                                        n_output=3, per_step=True)
    t = braintask.Trainer(net, braintools.optim.Adam(lr=1e-2), batch_size=16, progress=False)
    with pytest.warns(UserWarning, match="start_index") as caught:
        t.fit(data, data, epochs=1)
    assert "delayed_match_task" not in str(caught[0].message)
