"""Per-epoch training records."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._checks import resolve_mode

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

__all__ = ["History", "summary_table"]


@dataclass
class History:
    """What happened in each epoch of :meth:`braintask.Trainer.fit`.

    Every value is a plain Python ``float`` (or ``int`` for ``epoch``). Each
    record holds ``epoch`` (1 for the first training epoch), ``train_loss`` and
    ``train_acc`` (means over the epoch's minibatches, measured before each
    update, as a training loop sees them), ``val_*`` and ``test_*`` (the
    validation and held-out sets after the epoch, when given), ``lr`` (the
    learning rate used in the epoch) and ``time`` (wall seconds of the epoch,
    evaluation included), plus ``train_<m>``/``val_<m>``/``test_<m>`` for user
    metrics. ``updates`` (an ``int``) counts the optimizer updates made so far.

    ``initial`` holds the validation and held-out metrics of the untrained
    model (epoch 0). ``criterion`` is set by a ``braintask.Criterion``:
    the bound and the epoch (and updates) at which it was met, ``None`` if never.

    Examples
    --------
    >>> from braintask import History
    >>> h = History(records=[{"epoch": 1, "train_loss": 0.7, "train_acc": 0.5,
    ...                        "test_loss": 0.69, "test_acc": 0.55, "time": 0.1}])
    >>> h[-1]["test_acc"]
    0.55
    >>> h.test_acc
    [0.55]
    """

    records: list[dict] = field(default_factory=list)
    initial: dict = field(default_factory=dict)
    chance: float | None = None
    stop_reason: str = ""
    best_epoch: int | None = None
    criterion: dict | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int | slice | str) -> Any:
        if isinstance(index, str):
            return self.column(index)
        return self.records[index]

    def __iter__(self) -> Iterator[dict]:
        return iter(self.records)

    def __getattr__(self, name: str) -> list:
        # history.test_acc and friends: one list per metric.
        if name.startswith("_") or name in ("records", "initial"):
            raise AttributeError(name)
        if name in self.metrics:
            return self.column(name)
        raise AttributeError(
            f"History has no metric {name!r}; it records {self.metrics or '(nothing yet)'}."
        )

    @property
    def metrics(self) -> list[str]:
        """Names of the recorded columns, in the order they first appear."""
        return list(dict.fromkeys(k for r in self.__dict__.get("records", []) for k in r))

    def column(self, name: str) -> list:
        """All epochs' values of one metric, as a list; ``None`` for epochs that
        did not record it (e.g. ``updates`` in epochs read from an older file)."""
        if self.records and name not in self.metrics:
            raise KeyError(f"History has no metric {name!r}; it records {self.metrics}.")
        return [r.get(name) for r in self.records]

    def to_records(self) -> list[dict]:
        """One dict per epoch (a copy)."""
        return [dict(r) for r in self.records]

    def to_dict(self) -> dict[str, list]:
        """One list per metric, keyed by name (a copy)."""
        return {name: self.column(name) for name in self.metrics}

    def to_pandas(self) -> pandas.DataFrame:
        """One row per epoch, indexed by ``epoch``: a ``pandas.DataFrame``.

        Examples
        --------
        >>> from braintask import History
        >>> h = History(records=[{"epoch": 1, "train_loss": 0.7, "updates": 4},
        ...                      {"epoch": 2, "train_loss": 0.5, "updates": 8}])
        >>> table = h.to_pandas()
        >>> table.index.name, table["train_loss"].tolist(), table["updates"].tolist()
        ('epoch', [0.7, 0.5], [4, 8])
        """
        import pandas as pd

        if not self.records:
            return pd.DataFrame(index=pd.Index([], name="epoch", dtype=int))
        return pd.DataFrame(self.to_records()).set_index("epoch")

    def first_epoch(self, metric: str, at_least: float) -> int | None:
        """First epoch whose ``metric`` reached ``at_least``, or ``None`` if none did."""
        for r in self.records:
            if r.get(metric) is not None and r[metric] >= at_least:
                return r["epoch"]
        return None

    def best(self, metric: str = "test_loss", mode: str | None = None) -> dict:
        """The best record by ``metric``: lowest if ``mode="min"``, highest if ``"max"``.

        ``mode=None`` guesses from the name (:func:`braintask.default_mode`:
        losses and errors are minimised, other metrics maximised).
        """
        if not self.records:
            raise ValueError("History is empty: no epoch has been trained.")
        self.column(metric)  # a clear error for an unknown name
        pick = min if resolve_mode(metric, mode) == "min" else max
        return pick((r for r in self.records if r.get(metric) is not None),
                    key=lambda r: r[metric])

    def to_state(self) -> dict:
        """Everything needed to rebuild this History, as JSON-compatible plain values."""
        return {"records": self.to_records(), "initial": dict(self.initial),
                "chance": self.chance, "stop_reason": self.stop_reason,
                "best_epoch": self.best_epoch,
                "criterion": None if self.criterion is None else dict(self.criterion)}

    @classmethod
    def from_state(cls, state: dict) -> "History":
        """The History that :meth:`to_state` described."""
        return cls(records=[dict(r) for r in state.get("records", [])],
                   initial=dict(state.get("initial", {})), chance=state.get("chance"),
                   stop_reason=state.get("stop_reason", ""), best_epoch=state.get("best_epoch"),
                   criterion=None if state.get("criterion") is None else dict(state["criterion"]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        strip = lambda recs: [{k: v for k, v in r.items() if k != "time"} for r in recs]
        return strip(self.records) == strip(other.records) and self.initial == other.initial

    def allclose(self, other: "History", rtol: float = 1e-5, atol: float = 1e-6) -> bool:
        """Whether two Histories agree on every metric but ``time``, to tolerance."""
        if len(self) != len(other) or self.metrics != other.metrics:
            return False
        pairs = [(a, b) for ra, rb in zip(self.records, other.records)
                 for k in ra if k != "time" for a, b in [(ra[k], rb[k])]]
        pairs += [(self.initial[k], other.initial.get(k, math.nan)) for k in self.initial]
        return all(math.isclose(a, b, rel_tol=rtol, abs_tol=atol) for a, b in pairs)

    def plot(self, *, chance: float | None = None, chance_label: str = "chance",
             figsize: tuple[float, float] = (6.8, 3.2)) -> Figure:
        """Draw loss and accuracy per epoch, train, validation and held-out, with a
        baseline marked.

        Parameters
        ----------
        chance : float, optional
            The accuracy line to beat; defaults to ``1 / n_classes`` as the
            Trainer saw it. Pass a split's majority baseline
            (``test.majority_rate``) when the classes are not balanced.
        chance_label : str
            Its name in the legend.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        if not self.records:
            raise ValueError("History is empty: nothing to plot.")
        chance = self.chance if chance is None else chance
        epochs = [r["epoch"] for r in self.records]
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=figsize)
        score = "acc" if "train_acc" in self.records[0] else "decision_angular_error"
        names = {"acc": "accuracy", "decision_angular_error": "decision angular error (deg)"}
        loss_name = "cross-entropy loss" if score == "acc" else "loss"
        for ax, kind, label in ((ax_loss, "loss", loss_name), (ax_acc, score, names[score])):
            ax.plot(epochs, self.column(f"train_{kind}"), marker=".", label="train")
            for prefix, name in (("val", "validation"), ("test", "held-out")):
                if f"{prefix}_{kind}" not in self.records[0]:
                    continue
                x, y = epochs, self.column(f"{prefix}_{kind}")
                if f"{prefix}_{kind}" in self.initial:
                    x, y = [0] + x, [self.initial[f"{prefix}_{kind}"]] + y
                ax.plot(x, y, marker=".", label=name)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        if chance is not None and score == "acc":
            ax_acc.axhline(chance, color="grey", ls="--", lw=1,
                           label=f"{chance_label} ({chance:.2f})")
            ax_acc.set_ylim(min(chance, min(self.column("train_acc"))) - 0.05, 1.02)
        ax_loss.set_title("Loss")
        ax_acc.set_title(names[score].capitalize())
        ax_acc.legend(loc="lower right" if score == "acc" else "upper right")
        ax_loss.legend(loc="upper right")
        fig.tight_layout()
        return fig


_SETS = ("train_", "val_", "test_")


def summary_table(copies: list[dict], histories: list[History],
                  metrics: Sequence[str] | None = None) -> pandas.DataFrame:
    """One row per trained copy: its fields, epochs trained and last metrics.

    Parameters
    ----------
    copies : list of dict
        Each copy's fields, e.g. ``{"seed": 0, "lr": 0.01}``; they become the
        first columns.
    histories : list of History
        One per copy, in the same order.
    metrics : list of str, optional
        Columns of the last record to show; default every ``train_``, ``val_``
        and ``test_`` metric recorded. A copy that did not record one shows NaN.

    Returns
    -------
    pandas.DataFrame
        The copies' fields, ``epochs``, ``updates`` (when recorded), the
        metrics, ``criterion_epoch`` and ``criterion_updates`` (when a
        criterion was used; ``<NA>`` if never met) and ``stop_reason``.

    Examples
    --------
    >>> from braintask import History
    >>> from braintask._history import summary_table
    >>> runs = [History(records=[{"epoch": 1, "train_acc": 0.6, "val_acc": 0.5},
    ...                          {"epoch": 2, "train_acc": 0.9, "val_acc": 0.8}]),
    ...         History(records=[{"epoch": 1, "train_acc": 0.7, "val_acc": 0.7}],
    ...                 stop_reason="reached {'val_acc': 0.7} at epoch 1")]
    >>> table = summary_table([{"seed": 0}, {"seed": 1}], runs)
    >>> table[["seed", "epochs", "train_acc", "val_acc"]]
       seed  epochs  train_acc  val_acc
    0     0       2        0.9      0.8
    1     1       1        0.7      0.7
    >>> table["stop_reason"].tolist()
    ['', "reached {'val_acc': 0.7} at epoch 1"]
    """
    import pandas as pd

    copies, histories = _check_summary_args(copies, histories)
    last = [h.records[-1] if h.records else {} for h in histories]
    recorded = list(dict.fromkeys(k for r in last for k in r))
    if metrics is None:
        metrics = [k for k in recorded if k.startswith(_SETS)]
    elif isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics):
        raise TypeError(f"metrics must be a list of metric names, got {metrics!r}.")
    elif unknown := [m for m in metrics if m not in recorded]:
        raise ValueError(f"metrics {unknown} are not recorded; choose from {recorded}.")
    table = pd.DataFrame([dict(c) for c in copies], index=range(len(copies)))
    table["epochs"] = [r.get("epoch", 0) for r in last]
    if "updates" in recorded:
        table["updates"] = pd.array([r.get("updates") for r in last], dtype="Int64")
    for m in metrics:
        table[m] = [float(r.get(m, math.nan)) for r in last]
    if any(h.criterion is not None for h in histories):
        for key in ("epoch", "updates"):
            table[f"criterion_{key}"] = pd.array(
                [(h.criterion or {}).get(key) for h in histories], dtype="Int64")
    table["stop_reason"] = [h.stop_reason for h in histories]
    return table


def _check_summary_args(copies: Any, histories: Any) -> tuple[list[dict], list[History]]:
    if not isinstance(copies, (list, tuple)) or not all(isinstance(c, dict) for c in copies):
        raise TypeError(f"copies must be a list of dicts (each copy's fields), got {copies!r}.")
    if not isinstance(histories, (list, tuple)) or not all(
            isinstance(h, History) for h in histories):
        raise TypeError("histories must be a list of History objects.")
    if len(copies) != len(histories):
        raise ValueError(f"copies and histories must have the same length, got "
                         f"{len(copies)} copies and {len(histories)} histories.")
    return list(copies), list(histories)
