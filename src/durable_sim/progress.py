"""Progress of a loop over runs: nothing, a `tqdm.auto` bar, or a caller's callback.

`tqdm.auto` draws a widget in JupyterLab (with ``ipywidgets``, in the ``lab`` dependency group)
and a text bar on stderr in a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: What `progress=` accepts: off (None or False), a bar (True), or a callback given the number
#: of runs just finished.
Progress = bool | Callable[[int], None] | None


@contextmanager
def progress_reporter(
    progress: Progress, *, total: int, description: str
) -> Iterator[Callable[[int], None] | None]:
    """Yield the callback a loop calls with each count of finished runs (None when off).

    With ``progress=True`` a bar of `total` runs labelled `description` is shown while the
    block runs and closed after it; a callable is yielded unchanged. Raises `TypeError` for
    any other value.
    """
    if progress is None or progress is False:
        yield None
    elif progress is True:
        # imported here: in a kernel, tqdm.auto loads ipywidgets, which runs need not pay for
        from tqdm.auto import tqdm

        with tqdm(total=total, unit="run", desc=description, leave=True) as bar:
            yield bar.update
    elif callable(progress):
        yield progress
    else:
        raise TypeError(
            f"bad progress={progress!r} (accepted: None, False, True, or a callable taking an int)"
        )
