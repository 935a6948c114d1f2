"""A TrainerLike written out by hand, to drive callbacks with chosen records."""

import braintask


class FakeTrainer:
    """Records fed by hand; ``save`` writes the epoch into the file, ``step_schedule``
    keeps the metrics it was given, weights are a list of numbers."""

    def __init__(self, metric_names, history=None):
        self.history = braintask.History() if history is None else history
        self.epoch = len(self.history)
        self.metric_names = list(metric_names)
        self.stop_training = False
        self.weights = [0.0]
        self.stepped = []
        self.saves = []

    def get_weights(self):
        return list(self.weights)

    def set_weights(self, weights):
        self.weights = list(weights)

    def step_schedule(self, metric=None):
        self.stepped.append(metric)

    def save(self, path):
        with open(path, "w") as f:
            f.write(f"epoch {self.epoch}")
        self.saves.append(self.epoch)
        return str(path)

    def fit(self, callbacks, rows):
        """What the fit loop does: each row (a dict of metrics) becomes the next
        epoch's record, until a callback sets ``stop_training``."""
        self.stop_training = False
        self.history.stop_reason = ""
        for cb in callbacks:
            cb.on_fit_start(self)
        for row in rows:
            record = {"epoch": self.epoch + 1, **row}
            self.epoch += 1
            self.history.records.append(record)
            for cb in callbacks:
                cb.on_epoch_end(self, record)
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_fit_end(self)
        return self.history
