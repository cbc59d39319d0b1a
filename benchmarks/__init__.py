"""ehrbench's benchmark scripts (``tox -e bench``).

A regular package, not a namespace one: opacus (DPGAN's dependency) installs a top-level package
also named ``benchmarks``, and a regular package anywhere on ``sys.path`` beats a namespace
portion, so without this file ``from benchmarks import efficiency`` found opacus' package.
"""
