"""genotool: one command-line toolkit for deep-learning models in genomics.

Importing this package must stay cheap: no torch or jax at module level anywhere under
``genotool`` except inside ``genotool.engine`` and ``genotool.jaxrt``, which are only imported
from command bodies.
"""

__version__ = "0.1.0"
