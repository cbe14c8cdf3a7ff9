"""Exporter of lingualinked model packages (see docs/model-package.md)."""

# Declares torch.ops.lingualinked.attend (the engine implements it) so exported modules compile and load here.
from . import attention  # noqa: F401,E402
