"""The house rules of the package: the public face is pinned, the private rooms are
grouped by concern, imports run one way (no cycles; trials, models and analysis never
reach into training), and both trainers run their callbacks in one order."""

import ast
import subprocess
import sys
from pathlib import Path

import braintools
import numpy as np
import pytest

import braintask
from helpers import make_horn

SRC = Path(braintask.__file__).parent
ROOT = SRC.parents[1]

PUBLIC = [
    "delayed_match_task", "from_cogtask", "TaskDataset", "as_dataset", "TrialSource",
    "delayed_match_source", "cogtask_source", "Trainer", "MultiSeedTrainer", "History",
    "Callback", "EarlyStopping", "StopAt", "Criterion", "Checkpoint", "LearningRateScheduler",
    "CSVLogger", "JSONLinesLogger", "BraintoolsLogger", "default_mode", "cross_entropy",
    "masked_cross_entropy", "accuracy", "masked_mean_squared_error", "angular_error", "trial_performance",
    "RatePenalty", "WeightPenalty", "Penalty", "PenaltyInputs",
    "RecurrentClassifier", "LeakyRNNCell", "NodeNetwork", "SpikingNetwork", "count_parameters", "check_model",
    "ModelCheck", "batch_hidden_states", "compilation_cache", "TrainingDiverged", "CheckpointError",
    "ZeroGradientWarning", "save_weights", "load_weights", "mean_interval", "interval_table",
    "trajectories", "Trajectories", "pca_projection", "PCAProjection", "decode_over_time",
    "Decoding", "cross_temporal_decoding", "find_fixed_points", "FixedPoints", "step_function",
    "OneStep", "psychometric", "Psychometric", "decision_times", "ablate_units", "Ablation",
    "Study", "provenance", "hardware", "same_hardware",
]


def test_the_public_api_is_pinned():
    assert len(PUBLIC) == 66
    assert braintask.__all__ == PUBLIC
    assert all(hasattr(braintask, name) for name in PUBLIC)


def test_few_modules_at_the_top_and_small_rooms():
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert len(top) <= 6, top
    rooms = sorted(p for p in SRC.iterdir() if p.is_dir() and p.name.startswith("_")
                   and p.name != "__pycache__")
    assert {r.name for r in rooms} >= {"_data", "_engine", "_training", "_callbacks",
                                       "_checkpoint", "_models", "_analysis", "_study",
                                       "_objective"}
    for room in rooms:
        modules = [p for p in room.glob("*.py") if p.name != "__init__.py"]
        assert 1 <= len(modules) <= 10, (room.name, len(modules))
        assert (room / "__init__.py").read_text().startswith('"""'), room  # says what it holds
        assert not [p for p in room.iterdir() if p.is_dir() and p.name != "__pycache__"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for
    the type checker only, which never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for other in node.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> set[str]:
    """The braintask modules ``path`` imports when it runs, at any depth of the file
    (lazy imports inside functions count: they are edges of the graph too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found |= {t for t in targets if t.startswith("braintask.")}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target in _imports(path):
            while target not in modules and "." in target:  # `from pkg import name`
                target = target.rsplit(".", 1)[0]
            if target != name and target in modules:
                edges.add(target)
        graph[name] = edges
    return graph


def test_the_import_graph_has_no_cycle():
    graph = {k: v for k, v in import_graph().items() if k != "braintask"}  # the face imports all
    assert len(graph) > 40
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for nxt in graph[node]:
            if nxt == "braintask":
                cycles.append(path + [nxt])  # a room importing the public face
            elif state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_trials_models_and_analysis_never_reach_into_training():
    graph = import_graph()
    low = ("braintask._data", "braintask._models", "braintask._analysis")
    high = ("braintask._engine", "braintask._training", "braintask._callbacks")
    wrong = sorted((a, b) for a, targets in graph.items() if a.startswith(low)
                   for b in targets if b.startswith(high))
    assert wrong == []


def test_a_cycle_would_be_found():
    """The graph reader sees relative, absolute and lazy imports (so the two tests
    above can fail)."""
    graph = import_graph()
    assert "braintask._data.dataset" in graph["braintask._data.convert"]
    assert "braintask._objective.losses" in graph["braintask._data.dataset"]
    assert "braintask._models.recurrent" in graph["braintask._analysis.onestep"]  # lazy


def test_importing_braintask_leaves_the_heavy_optional_libraries_unloaded():
    """pandas, scipy's stats and matplotlib cost seconds at import: the functions that
    make tables, intervals and figures import them when called."""
    code = ("import sys, brainstate, braintools; before = set(sys.modules); import braintask; "
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in "
            "{'pandas', 'matplotlib', 'sklearn'} or m.startswith('scipy.stats')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_no_import_path_edits():
    needle = "sys." + "path"
    places = [*ROOT.joinpath("src").rglob("*.py"), *ROOT.joinpath("studies").rglob("*.py"),
              ROOT / "docs" / "conf.py", *ROOT.joinpath("tests").rglob("*.py")]
    assert [str(p) for p in places if needle in p.read_text()] == []


# ---------------------------------------------------------------- one callback order
ORDER = ["schedule", "early stopping", "stop_at", "criterion", "save", "user"]


@pytest.fixture
def call_log(monkeypatch):
    """Every built-in callback's on_epoch_end and every save, logged by name."""
    log = []
    classes = {"schedule": braintask.LearningRateScheduler,
               "early stopping": braintask.EarlyStopping, "stop_at": braintask.StopAt,
               "criterion": braintask.Criterion}
    for name, cls in classes.items():
        def logged(self, trainer, record, _name=name, _real=cls.on_epoch_end):
            log.append(_name)
            return _real(self, trainer, record)
        monkeypatch.setattr(cls, "on_epoch_end", logged)
    for cls in (braintask.Trainer, braintask.MultiSeedTrainer):
        def save(self, path, _real=cls.save):
            log.append("save")
            return _real(self, path)
        monkeypatch.setattr(cls, "save", save)
    return log


def _fit_kwargs(tmp_path, log):
    return dict(epochs=1, patience=3, stop_at={"test_acc": 1.01},
                criterion=braintask.Criterion("test_acc", at_least=1.01),
                checkpoint=tmp_path / "run.msgpack",
                callbacks=[lambda trainer, record: log.append("user")])


def _optimizer(lr=1e-2):
    return braintools.optim.Adam(lr=braintools.optim.StepLR(base_lr=lr, step_size=1,
                                                              gamma=0.5))


def test_both_trainers_run_callbacks_in_one_order(small_task, tmp_path, call_log):
    train, test = small_task
    trainer = braintask.Trainer(make_horn(seed=0), _optimizer(), batch_size=16, progress=False)
    trainer.fit(train, test, **_fit_kwargs(tmp_path, call_log))
    assert call_log == ORDER
    call_log.clear()
    grid = braintask.MultiSeedTrainer(lambda: make_horn(seed=None), _optimizer,
                                      seeds=[0], batch_size=16, progress=False)
    grid.fit(train, test, **_fit_kwargs(tmp_path, call_log))
    assert call_log == ORDER


def test_a_user_callback_that_stops_a_copy_is_saved(small_task, tmp_path):
    """The checkpoint is written before the user's callbacks; when one of them stops
    a copy, it is written again, so a resumed run keeps that copy stopped."""
    train, test = small_task

    def stop_seed_1(trainer, record):
        trainer.stop_training = trainer.trainer.seed == 1

    path = tmp_path / "grid.msgpack"
    grid = braintask.MultiSeedTrainer(lambda: make_horn(seed=None),
                                      lambda: braintools.optim.Adam(lr=1e-2),
                                      seeds=[0, 1], batch_size=16, progress=False)
    grid.fit(train, test, epochs=1, checkpoint=path, callbacks=[stop_seed_1])
    again = braintask.MultiSeedTrainer(lambda: make_horn(seed=None),
                                       lambda: braintools.optim.Adam(lr=1e-2),
                                       seeds=[0, 1], batch_size=16, progress=False).load(path)
    assert again.stopped == [False, True]
    histories = again.fit(train, test, epochs=1)
    assert [len(h) for h in histories] == [2, 1]


def test_multiseed_callbacks_are_each_copys_own(small_task, tmp_path):
    train, test = small_task
    seen = []

    class Count(braintask.Callback):
        def __init__(self):
            self.n = 0

        def on_epoch_end(self, trainer, record):
            self.n += 1
            seen.append((id(self), self.n))

    grid = braintask.MultiSeedTrainer(lambda: make_horn(seed=None),
                                      lambda: braintools.optim.Adam(lr=1e-2),
                                      seeds=[0, 1], batch_size=16, progress=False)
    grid.fit(train, test, epochs=2, callbacks=[Count()])
    assert len({i for i, _ in seen}) == 2 and sorted(n for _, n in seen) == [1, 1, 2, 2]
    with pytest.raises(TypeError, match="function of the copy"):
        grid.fit(train, test, epochs=1, callbacks=[braintask.CSVLogger(tmp_path / "a.csv")])
    grid.fit(train, test, epochs=1,
             callbacks=lambda c: [braintask.CSVLogger(tmp_path / f"seed{c['seed']}.csv")])
    for seed in (0, 1):
        lines = (tmp_path / f"seed{seed}.csv").read_text().splitlines()
        assert len(lines) == 1 + 3  # the header and every epoch of the History
    logged = [float(line.split(",")[1]) for line in
              (tmp_path / "seed1.csv").read_text().splitlines()[1:]]
    np.testing.assert_allclose(logged, [r["train_loss"] for r in grid.histories[1].records])
