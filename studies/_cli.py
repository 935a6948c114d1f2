"""What every study module shares: its Study, and its command line (run the study,
resume it, or a quick check).

A study module defines ``RECORD`` (its record), ``REGENERATE`` (the command that makes
it), ``run_unit(unit, recheck=False)`` and ``units(results, quick=False)``, and ends
with::

    study = _cli.make_study(__name__)

    if __name__ == "__main__":
        _cli.main(__name__)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def make_study(module, record=None, quick: bool = False):
    """The Study of a study ``module`` (the module, or its name as imported): its
    ``run_unit`` over ``units(results, quick)``, recorded in ``record`` (default: its
    ``RECORD``)."""
    import braintask

    module = sys.modules[module] if isinstance(module, str) else module
    return braintask.Study(module.run_unit, lambda results: module.units(results, quick),
                           record or module.RECORD, regenerate=module.REGENERATE)


def main(module, argv=None):
    """Parse ``argv`` and run the study of ``module`` (as :func:`make_study` takes it),
    or with ``--quick`` its small version into ``--record`` (never into the study's own
    record)."""
    module = sys.modules[module] if isinstance(module, str) else module
    spec = getattr(module, "__spec__", None)
    parser = argparse.ArgumentParser(prog=f"python -m {spec.name}" if spec else None,
                                     description=module.__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one small unit, recorded in --record (not the study's record)")
    parser.add_argument("--record", type=Path, help="where to write (default: the study's)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    if args.quick and args.record is None:
        parser.error("--quick needs --record: the quick run must not touch the study's record")
    make_study(module, args.record, quick=args.quick).run(jobs=args.jobs)
