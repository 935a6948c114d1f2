"""Training to a criterion: when it stops, what the History records, resuming."""

import json

import numpy as np
import pytest

import braintask
from fake_trainer import FakeTrainer
from helpers import make_horn, trainer_for

NAMES = ["train_loss", "train_acc", "val_loss", "val_acc", "val_decision_acc", "test_acc"]
ACCS = [0.5, 0.92, 0.85, 0.91, 0.95, 0.99, 0.2]


def rows(values, key="val_decision_acc", per_epoch=4, start=0):
    """Records with ``key`` taking ``values``, and 4 updates per epoch."""
    return [{key: v, "updates": per_epoch * (start + i + 1)} for i, v in enumerate(values)]


def test_stops_after_for_epochs_consecutive_epochs_and_records_when():
    trainer = FakeTrainer(NAMES)
    history = trainer.fit([braintask.Criterion(at_least=0.9, for_epochs=2)], rows(ACCS))
    # 0.92 at epoch 2 is broken by 0.85; 0.91 then 0.95 make two in a row at epoch 5
    assert len(history) == 5 and trainer.stop_training
    assert history.criterion == {"monitor": "val_decision_acc", "bound": 0.9, "mode": "max",
                                 "for_epochs": 2, "epoch": 5, "updates": 20}
    assert history.stop_reason == ("criterion met: val_decision_acc >= 0.9 in 2 consecutive "
                                   "epochs at epoch 5 (20 updates)")


def test_at_most_bounds_a_loss_and_a_bound_equal_to_the_value_meets_it():
    trainer = FakeTrainer(NAMES)
    losses = [0.9, 0.5, 0.3, 0.1]
    history = trainer.fit([braintask.Criterion("val_loss", at_most=0.3)], rows(losses, "val_loss"))
    assert history.criterion["epoch"] == 3 and history.criterion["mode"] == "min"
    assert len(history) == 3


def test_never_met_leaves_epoch_none_and_says_so():
    trainer = FakeTrainer(NAMES)
    history = trainer.fit([braintask.Criterion(at_least=0.96, for_epochs=2)], rows(ACCS))
    assert len(history) == 7 and not trainer.stop_training
    assert history.criterion["epoch"] is None and history.criterion["updates"] is None
    assert history.stop_reason == ("criterion never met: val_decision_acc >= 0.96 in 2 "
                                   "consecutive epochs did not happen in 7 epochs")


def test_records_without_updates_give_updates_none():
    trainer = FakeTrainer(NAMES)
    history = trainer.fit([braintask.Criterion(at_least=0.9)], [{"val_decision_acc": 0.95}])
    assert history.criterion["epoch"] == 1 and history.criterion["updates"] is None
    assert history.stop_reason.endswith("at epoch 1")


@pytest.mark.parametrize("split", range(1, 5))
def test_a_resumed_fit_counts_on_from_the_history(split):
    """Stopping after ``split`` epochs and going on (with the History rebuilt from
    its saved state and a new Criterion) stops where one straight fit stops."""
    first = FakeTrainer(NAMES)
    first.fit([braintask.Criterion(at_least=0.9, for_epochs=2)], rows(ACCS[:split]))
    saved = json.loads(json.dumps(first.history.to_state()))
    resumed = FakeTrainer(NAMES, braintask.History.from_state(saved))
    history = resumed.fit([braintask.Criterion(at_least=0.9, for_epochs=2)],
                          rows(ACCS[split:], start=split))
    assert len(history) == 5 and history.criterion["epoch"] == 5
    assert history.criterion["updates"] == 20


def test_once_met_the_epoch_is_kept_and_a_later_fit_stops_on_the_next_epoch_that_meets():
    trainer = FakeTrainer(NAMES)
    trainer.fit([braintask.Criterion(at_least=0.9)], rows([0.5, 0.95]))
    history = trainer.fit([braintask.Criterion(at_least=0.9)], rows([0.4, 0.97, 0.99], start=2))
    assert history.criterion["epoch"] == 2 and len(history) == 4
    assert history.stop_reason.endswith("at epoch 4 (16 updates)")


@pytest.mark.parametrize("names, kwargs, chosen", [
    (NAMES, {"at_least": 0.9}, "val_decision_acc"),
    (["train_acc", "val_acc", "test_decision_acc"], {"at_least": 0.9}, "val_acc"),
    (["train_acc", "test_acc", "test_decision_acc"], {"at_least": 0.9}, "test_decision_acc"),
    (["train_loss", "train_acc"], {"at_least": 0.9}, "train_acc"),
    (NAMES, {"at_most": 0.1}, "val_loss"),
    (["val_loss", "val_decision_angular_error"], {"at_most": 10.0}, "val_decision_angular_error"),
])
def test_default_monitor_prefers_validation(names, kwargs, chosen):
    trainer = FakeTrainer(names)
    trainer.fit([braintask.Criterion(**kwargs)], [])
    assert trainer.history.criterion["monitor"] == chosen


def test_bad_arguments_and_unknown_metrics_are_named():
    with pytest.raises(ValueError, match="exactly one of at_least .* and at_most"):
        braintask.Criterion("val_acc")
    with pytest.raises(ValueError, match="exactly one of"):
        braintask.Criterion("val_acc", at_least=0.9, at_most=0.95)
    with pytest.raises(TypeError, match="at_most must be a number, got '0.1'"):
        braintask.Criterion("val_loss", at_most="0.1")
    with pytest.raises(ValueError, match="at_least must be a number, not NaN"):
        braintask.Criterion("val_acc", float("nan"))
    with pytest.raises(ValueError, match="for_epochs must be an integer >= 1, got 0"):
        braintask.Criterion("val_acc", at_least=0.9, for_epochs=0)
    with pytest.raises(ValueError, match=r"monitor='val_acc' is not a recorded metric; "
                                         r"choose from \['train_loss', 'test_acc'\]"):
        FakeTrainer(["train_loss", "test_acc"]).fit([braintask.Criterion("val_acc", 0.9)], [])
    with pytest.raises(ValueError, match=r"found none of .*'train_acc'\) among the recorded "
                                         r"metrics \['train_loss'\]; pass monitor="):
        FakeTrainer(["train_loss"]).fit([braintask.Criterion(at_least=0.9)], [])


def test_a_real_fit_stops_at_the_first_epoch_that_meets_the_bound(small_task):
    train, test = small_task
    fit_set, val = train.split(48)
    free = trainer_for(make_horn(), lr=3e-2).fit(fit_set, test, val=val, epochs=6)
    bound = sorted(free.val_acc)[-2]  # met, but not only at the last epoch
    first = next(r["epoch"] for r in free if r["val_acc"] >= bound)
    history = trainer_for(make_horn(), lr=3e-2).fit(
        fit_set, test, val=val, epochs=6, criterion=braintask.Criterion("val_acc", bound))
    assert len(history) == first
    assert history.val_acc == pytest.approx(free.val_acc[:first], rel=1e-6)
    assert history.criterion["epoch"] == first
    assert history.criterion["updates"] == first * (48 // 16)
    assert history.stop_reason.startswith("criterion met: val_acc >= ")


@pytest.mark.slow
def test_each_copy_of_a_multi_seed_fit_meets_its_own_criterion(small_task):
    import braintools

    train, test = small_task
    fit_set, val = train.split(48)
    grid = braintask.MultiSeedTrainer(lambda: make_horn(seed=None),
                                      lambda: braintools.optim.Adam(lr=3e-2), seeds=[0, 1, 2],
                                      batch_size=16, progress=False)
    free = grid.fit(fit_set, test, val=val, epochs=5)
    bound = float(np.median([max(h.val_acc) for h in free]))
    firsts = [next((r["epoch"] for r in h if r["val_acc"] >= bound), None) for h in free]
    grid = braintask.MultiSeedTrainer(lambda: make_horn(seed=None),
                                      lambda: braintools.optim.Adam(lr=3e-2), seeds=[0, 1, 2],
                                      batch_size=16, progress=False)
    histories = grid.fit(fit_set, test, val=val, epochs=5,
                         criterion=braintask.Criterion("val_acc", bound))
    assert any(f is not None and f < 5 for f in firsts), firsts
    assert [h.criterion["epoch"] for h in histories] == firsts
    assert [len(h) for h in histories] == [f or 5 for f in firsts]
    table = grid.summary()
    assert table["seed"].tolist() == [0, 1, 2]
    assert [None if np.isnan(e) else e for e in table["criterion_epoch"].astype(float)] == firsts
    assert table["criterion_updates"].astype(float).tolist() == pytest.approx(
        [np.nan if f is None else 3.0 * f for f in firsts], nan_ok=True)
