"""lightning_iter: a Lightning trainer whose depth is a layer plan.

Kept light on purpose: `import lightning_iter.kernels` must not import Lightning.
"""

__version__ = "0.1.0"
