"""The package version and the generated-module contract version (no imports)."""

__version__ = "0.1.0"

# The interface between a generated module and the runtime that imports it (its SPEC keys,
# GEOMETRY fields, the names it takes from ``cygen.runtime``).  Raise it whenever a generated
# module of the previous version would be read wrongly; loaders refuse any other version
# (:func:`cygen.compiler.loader.check_contract`).
CONTRACT_VERSION = 1

__all__ = ["CONTRACT_VERSION", "__version__"]
