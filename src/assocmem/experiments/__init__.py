"""The experiments, one folder per paper (``cdam/``, ``khm/``, ...; the folder is the paper's key in
:data:`assocmem.registry.PAPERS`). In a folder, one module per experiment (its model run and target declarations)
and, beside it, ``<name>_figure.py`` (its figure stage). Run any target with ``python -m assocmem run <target>``
(``python -m assocmem list`` lists them)."""
