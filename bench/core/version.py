"""The package's version, at the bottom of the layers so that any module may read it (the
package ``bench`` itself re-exports the Python API, which sits at the top)."""

__version__ = "0.1.0"
