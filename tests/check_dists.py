"""What the built distributions ship (run by `nox -s package` on the sdist and wheel).

    python tests/check_dists.py dist/braintask-*.tar.gz dist/braintask-*.whl

Fails (exit status 1) if the license, the type marker or the package is missing, if
CI files or build outputs are shipped, or if the version differs from `__version__`.
"""

import re
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
VERSION = re.search(r'^__version__ = "([^"]+)"', (ROOT / "src/braintask/__init__.py")
                    .read_text(encoding="utf8"), re.M).group(1)


def names(dist: Path) -> list[str]:
    if dist.name.endswith(".tar.gz"):
        with tarfile.open(dist) as tar:
            return [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    with zipfile.ZipFile(dist) as whl:
        return whl.namelist()


def problems(dist: Path) -> list[str]:
    found = names(dist)
    out = []
    if f"-{VERSION}" not in dist.name:
        out.append(f"file name does not carry version {VERSION}")
    wanted = ["braintask/__init__.py", "braintask/py.typed"]
    if dist.name.endswith(".tar.gz"):
        wanted = [f"src/{w}" for w in wanted] + ["LICENSE", "README.md", "pyproject.toml"]
    else:
        wanted.append(f"braintask-{VERSION}.dist-info/licenses/LICENSE")
    out += [f"missing {w}" for w in wanted if w not in found]
    banned = (".ci/", "docs/_build/", ".nox/", "benchmarks/results/", ".jax_cache/")
    out += [f"ships {n}" for n in found if n.startswith(banned)]
    return out


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    failed = False
    for path in map(Path, paths):
        bad = problems(path)
        failed |= bool(bad)
        print(f"{'FAIL' if bad else 'ok  '} {path.name}: {len(names(path))} files"
              + "".join(f"\n  - {b}" for b in bad))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
