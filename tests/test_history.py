"""History: records as plain floats, columns, plot, direction of "better", serialisation."""

import json

import numpy as np
import pytest

import braintask
from helpers import make_horn, trainer_for


def test_history_api_and_plot(small_task):
    import matplotlib

    matplotlib.use("Agg")
    train, test = small_task
    history = trainer_for(make_horn()).fit(train, test, epochs=3)
    assert history[-1] is history.records[-1]
    assert all(type(v) in (int, float) for r in history for v in r.values())
    as_dict = history.to_dict()
    assert as_dict["test_acc"] == history.test_acc == history["test_acc"]
    assert len(history.to_records()) == 3 and history.to_records()[0]["epoch"] == 1
    assert history.lr == [0.01, 0.01, 0.01]  # the rate of each epoch, as the user wrote it
    with pytest.raises(AttributeError, match="val_acc"):
        history.val_acc
    fig = history.plot()
    acc_axis = fig.axes[1]
    assert any(np.allclose(line.get_ydata(), 0.5) for line in acc_axis.get_lines())
    assert len(fig.axes[0].get_lines()) == 2  # train and held-out loss


def test_to_state_and_back_is_the_same_history(small_task):
    train, test = small_task
    history = trainer_for(make_horn()).fit(train, test, epochs=2, patience=5)
    state = json.loads(json.dumps(history.to_state()))  # JSON-compatible
    again = braintask.History.from_state(state)
    assert again == history
    assert (again.chance, again.best_epoch, again.stop_reason, again.initial) == \
        (history.chance, history.best_epoch, history.stop_reason, history.initial)
    assert [r["time"] for r in again] == [r["time"] for r in history]


def test_direction_is_explicit_and_the_name_guess_lives_in_one_function():
    assert braintask.default_mode("test_loss") == "min"
    assert braintask.default_mode("val_angle_error") == "min"
    assert braintask.default_mode("test_acc") == "max"
    records = [{"epoch": e, "test_score": s} for e, s in [(1, 0.3), (2, 0.9), (3, 0.1)]]
    history = braintask.History(records=records)
    assert history.best("test_score")["epoch"] == 2  # guessed: higher is better
    assert history.best("test_score", mode="min")["epoch"] == 3
    with pytest.raises(ValueError, match="mode must be one of"):
        history.best("test_score", mode="lower")
    with pytest.raises(KeyError, match="test_acc"):
        history.best("test_acc")
