"""What every study script shares: its Study, and its command line (run the study,
resume it, or a quick check)."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(make_study, record: Path, doc: str, argv=None):
    """Parse ``argv`` and run ``make_study(record)``, or with ``--quick`` its small version
    into ``--record`` (never into the study's own record)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one small unit, recorded in --record (not the study's record)")
    parser.add_argument("--record", type=Path, help="where to write (default: the study's)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    if args.quick and args.record is None:
        parser.error("--quick needs --record: the quick run must not touch the study's record")
    make_study(args.record or record, quick=args.quick).run(jobs=args.jobs)


def make_study(run_unit, units, record: Path, quick: bool, regenerate: str):
    """The study of ``run_unit`` over ``units(results, quick)``, recorded in ``record``."""
    import braintask

    return braintask.Study(run_unit, lambda results: units(results, quick), record,
                           regenerate=regenerate)
