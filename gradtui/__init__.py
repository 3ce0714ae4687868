"""gradtui: a terminal step-through debugger for PyTorch autograd and optimizers.

The package is layered: ``model`` (plain data, no torch, no textual) <- ``engine``
(runs a script under torch, no textual) <- ``ui`` (the Textual app). ``cli`` picks a
driver. Importing this package imports none of the layers, so ``gradtui --help``
stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
