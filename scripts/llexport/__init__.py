"""Exporter of lingualinked model packages (see docs/model-package.md)."""
