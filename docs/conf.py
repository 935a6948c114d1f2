"""Sphinx configuration for the braintask site."""

import importlib.util
import os
import sys
from pathlib import Path

HERE = Path(__file__).parent


def _import_file(path: Path):
    """The module at ``path``, imported from its file under its stem's name and entered
    in sys.modules, so that Sphinx finds the extensions below by name (and so does
    claims_report's import of check_claims)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# The site's own code: the claims checker, then the extensions in docs/_ext that use it.
for _path in [HERE / "check_claims.py", HERE / "_ext" / "claims_report.py",
              HERE / "_ext" / "reader_copies.py"]:
    _import_file(_path)
del _path

project = "braintask"
author = "the braintask developers"
copyright = "2026, the braintask developers"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_copybutton",
    "claims_report",
    "reader_copies",
]

# Notebooks run on every build; a failing cell fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 600  # seconds per cell
nb_kernel_rgx_aliases = {".*": "python3"}
nb_merge_streams = True
# No TeX: the pages write their few symbols in Unicode, so they need no MathJax
# (no script from a CDN) and read the same offline.
myst_enable_extensions = ["colon_fence"]

html_theme = "furo"
html_title = "braintask"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_js_files = ["enlarge.js"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]

# Copy buttons on code only: input cells, code blocks and docstring examples carry a
# "highlight-<language>" class; cell outputs carry "output" too and get none. The
# selector goes into a single-quoted JavaScript string: use double quotes inside.
copybutton_selector = 'div[class*="highlight-"]:not(.output) > div.highlight pre'
# Prompts are stripped; in an example with prompts, output lines are left out.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True

autodoc_typehints = "none"
autodoc_member_order = "bysource"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

# No network at build time: intersphinx only when asked for.
if os.environ.get("BRAINTASK_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "jax": ("https://docs.jax.dev/en/latest", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

nitpicky = True
# Types from other projects cannot be linked without intersphinx.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|jax|jnp|brainstate|braintools|brainmass|brainunit|saiunit|matplotlib|pandas|scipy|pathlib|os)(\..*)?"),
    (r"py:.*", r"(optional|callable|sequence of callables|sequence|array-like|array|path|Path)"),
]
