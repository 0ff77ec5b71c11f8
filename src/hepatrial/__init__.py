"""hepatrial: runs a liver-failure clinical trial from screening to the final report."""

__version__ = "0.1.0"
