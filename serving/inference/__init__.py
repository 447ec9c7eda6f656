"""Serving adapters: a cache of base models wearing many adapters, merging and combining adapters.

Pure ML code (no Django). Importing this package imports nothing heavy: torch, transformers and
peft are imported inside the functions, so the web process can name these types without loading them.

- `cache.BaseModelCache`: each base model loaded once; adapters attached with `load_adapter`,
  switched with `set_adapter`, evicted least-recently-used with `delete_adapter`; `generate(...)`.
- `merge.merge_adapter`: fold an adapter into its full-precision base; a plain model folder results.
- `combine.combine_adapters`: a new adapter from a weighted combination (linear / cat / svd).
- `files`: checks on adapter folders (missing files, base-model mismatch) with clear errors.
"""

from .errors import (
    AdapterFilesError,
    BaseModelMismatchError,
    IncompatibleAdaptersError,
    InferenceError,
)

__all__ = ["AdapterFilesError", "BaseModelMismatchError", "IncompatibleAdaptersError", "InferenceError"]
