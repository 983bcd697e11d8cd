"""One way to start (or join) Ray for a run and stop it afterwards, shared by the transform and
embedding engines: a local instance sized to `workers`, or the cluster at `address`; Ray Data
keeps input order (outputs must not depend on scheduling) and shows no progress bars of its
own (the caller reports progress)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .core.errors import Error


def require_ray() -> Any:
    """The `ray` module with Ray Data, or one line saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise Error("--engine ray needs Ray Data: pip install 'visionflow[ray]'") from None
    return ray


@contextmanager
def ray_session(address: str | None, workers: int | None) -> Iterator[Any]:
    """The `ray` module, initialised; shut down on exit only if this call started it."""
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None and workers:
            kwargs["num_cpus"] = workers
        try:
            ray.init(address=address, **kwargs)
        except Exception as e:  # noqa: BLE001 - connection problems are the user's to fix
            raise Error(f"cannot start or reach Ray at {address or 'a local instance'}: "
                        f"{str(e).splitlines()[0] if str(e) else e.__class__.__name__}") from None
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        yield ray
    finally:
        if started:
            ray.shutdown()
