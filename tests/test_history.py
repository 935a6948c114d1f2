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


def test_criterion_persists_and_updates_is_a_column_not_a_curve():
    import matplotlib

    matplotlib.use("Agg")
    records = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5 + 0.1 * e, "val_loss": 1 / e,
                "val_acc": 0.4 + 0.1 * e, "updates": 4 * e, "lr": 0.01, "time": 0.1}
               for e in (1, 2, 3)]
    met = {"monitor": "val_acc", "bound": 0.6, "mode": "max", "for_epochs": 1,
           "epoch": 2, "updates": 8}
    history = braintask.History(records=records, criterion=met, chance=0.5)
    again = braintask.History.from_state(json.loads(json.dumps(history.to_state())))
    assert again.criterion == met and again.criterion is not met
    assert braintask.History.from_state({"records": records}).criterion is None  # older files
    assert history.updates == [4, 8, 12]
    fig = history.plot()
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 3]  # train, val (+ chance)


def test_to_pandas_has_one_row_per_epoch():
    records = [{"epoch": 1, "train_loss": 0.7, "test_acc": 0.5, "updates": 4},
               {"epoch": 2, "train_loss": 0.4, "test_acc": 0.75, "updates": 8}]
    table = braintask.History(records=records).to_pandas()
    assert table.index.name == "epoch" and table.index.tolist() == [1, 2]
    assert list(table.columns) == ["train_loss", "test_acc", "updates"]
    assert table.loc[2, "test_acc"] == 0.75 and table["updates"].dtype.kind == "i"
    empty = braintask.History().to_pandas()
    assert len(empty) == 0 and empty.index.name == "epoch"


def test_summary_table_has_one_row_per_copy():
    import pandas as pd

    from braintask._history import summary_table

    def run(accs, criterion=None, stop=""):
        return braintask.History(records=[
            {"epoch": e, "train_loss": 1.0 - a, "val_acc": a, "test_acc": a - 0.1,
             "updates": 3 * e, "lr": 0.01, "time": 0.2} for e, a in enumerate(accs, 1)],
            criterion=criterion, stop_reason=stop)

    crit = {"monitor": "val_acc", "bound": 0.8, "mode": "max", "for_epochs": 1}
    histories = [run([0.6, 0.9], {**crit, "epoch": 2, "updates": 6}, "criterion met"),
                 run([0.5, 0.6, 0.7], {**crit, "epoch": None, "updates": None})]
    copies = [{"seed": 0, "lr": 0.01}, {"seed": 1, "lr": 0.01}]
    table = summary_table(copies, histories)
    assert list(table.columns) == ["seed", "lr", "epochs", "updates", "train_loss", "val_acc",
                                   "test_acc", "criterion_epoch", "criterion_updates",
                                   "stop_reason"]
    assert table["seed"].tolist() == [0, 1] and table["epochs"].tolist() == [2, 3]
    assert table["updates"].tolist() == [6, 9]
    assert table["val_acc"].tolist() == [0.9, 0.7]
    assert table["test_acc"].tolist() == pytest.approx([0.8, 0.6])
    assert table.loc[0, "criterion_epoch"] == 2 and pd.isna(table.loc[1, "criterion_epoch"])
    assert table.loc[0, "criterion_updates"] == 6 and pd.isna(table.loc[1, "criterion_updates"])
    assert table["stop_reason"].tolist() == ["criterion met", ""]
    # the median over copies that met it, as a tutorial computes it
    assert table["criterion_updates"].median() == 6
    picked = summary_table(copies, [run([0.6]), braintask.History()], metrics=["val_acc"])
    assert list(picked.columns) == ["seed", "lr", "epochs", "updates", "val_acc", "stop_reason"]
    assert picked["epochs"].tolist() == [1, 0] and np.isnan(picked.loc[1, "val_acc"])
    with pytest.raises(ValueError, match=r"metrics \['val_loss'\] are not recorded"):
        summary_table(copies, histories, metrics=["val_loss"])
    with pytest.raises(ValueError, match="same length, got 1 copies and 2 histories"):
        summary_table(copies[:1], histories)
    with pytest.raises(TypeError, match="histories must be a list of History"):
        summary_table(copies, [{}, {}])
