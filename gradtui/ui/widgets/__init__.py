"""One widget per panel of the debugger; each is built from a ``View`` and nothing else."""
