"""papermill support for the crimpl kernel (Rust + `%crimpl` magics).

papermill finds a parameter translator by kernel name, then by language,
in a registry it fills at import and offers no plugin group for. It does
load every ``papermill.engine`` plugin as it starts, so this package is
registered as one (``crimpl``, which is papermill's own nbclient engine
under another name). Importing it registers :class:`CrimplTranslator`
(Rust bindings and ``%crimpl env`` lines) for the kernel ``crimpl`` and
:class:`RustTranslator` (Rust bindings only) for the language ``rust``
(other Rust kernels), so ``papermill notebook.ipynb out.ipynb -p n 5``
works as it does for Python notebooks.
"""
from papermill.engines import NBClientEngine
from papermill.translators import papermill_translators

from .translator import KERNEL_NAME, CrimplTranslator, ParameterError, RustTranslator

__all__ = ["CrimplEngine", "CrimplTranslator", "ParameterError", "RustTranslator"]


class CrimplEngine(NBClientEngine):
    """papermill's nbclient engine: the entry point that gets this package loaded."""


papermill_translators.register(KERNEL_NAME, CrimplTranslator)
papermill_translators.register("rust", RustTranslator)
