"""The repository's recorded studies, as one package: ``studies.memory``,
``studies.atlas`` and ``studies.gallery``, and the helpers they share (``_cli``,
``_rates``, ``_verdicts``, ``_observer``, ``_unit_record``).

Run a study from the repository's root with ``nox -s study -- NAME``, or
``python -m studies.NAME``. A page loads one, from anywhere inside a clone, with
``braintask.Study.recorded("NAME")``, which imports this package from its folder.
"""
