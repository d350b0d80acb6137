"""MLflow: :class:`MLflowLogger` logs metrics and parameters to an MLflow run."""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from ember.handlers.loggers.base import BaseLogger, writable_folder

__all__ = ["MLflowLogger"]

#: MLflow's error code for a value it refuses (a metric name with characters it does not allow, ...).
_INVALID_VALUE = "INVALID_PARAMETER_VALUE"


def _check_reachable(tracking_uri: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds if an http(s) tracking server cannot be connected to.

    MLflow's client retries a refused connection with backoff for minutes before it gives up.
    """
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as error:
        raise ConnectionError(
            f"MLflowLogger cannot reach the tracking server {tracking_uri!r} ({error.strerror or error}; waited at "
            f"most connect_timeout={timeout} s). Start the server, fix tracking_uri, or pass a local store such as "
            "tracking_uri='file:./mlruns'."
        ) from error


class MLflowLogger(BaseLogger):
    """Log metrics to an MLflow run (a new one in ``experiment_name``, or ``run_id`` if given).

    Args:
        tracking_uri: where MLflow stores runs (a server, or a local ``file:`` store); by default
            MLflow's own setting. A local store that cannot be written fails here, and so does a
            server that cannot be connected to within ``connect_timeout`` seconds.
        experiment_name: the experiment to create the run in (created if missing).
        run_id: log into this existing run instead of creating one; a run the store does not
            have fails here.
        params: logged once as run parameters (hyper-parameters); see also :meth:`log_params`.
        connect_timeout: seconds to wait for an http(s) tracking server to accept a connection.

    Names are logged as the handlers make them (``train/loss``); a name MLflow refuses (such as
    ``acc@1``) is skipped with one warning naming it, as ignite skips invalid names, and the other
    values are logged. ``client`` and ``run_id`` expose the MLflow client and run for anything
    else; :meth:`close` marks the run finished. Needs mlflow: ``pip install 'ember[mlflow]'``.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str = "ember",
        run_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        try:
            import mlflow
        except ImportError as error:
            raise ImportError(
                "MLflowLogger needs mlflow, which is not installed. Install it with: pip install 'ember[mlflow]'."
            ) from error
        if isinstance(connect_timeout, bool) or not isinstance(connect_timeout, (int, float)) or connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be a positive number of seconds, got {connect_timeout!r}.")
        self._metric = mlflow.entities.Metric
        self._refused: set[str] = set()
        self.client: Any = None
        self.run_id = run_id
        if not self.writes:
            return
        if tracking_uri is not None:
            parsed = urlparse(tracking_uri)
            if parsed.scheme == "file":
                writable_folder(url2pathname(parsed.path), type(self).__name__)
            elif parsed.scheme == "" and "://" not in tracking_uri:
                writable_folder(tracking_uri, type(self).__name__)
            _check_reachable(tracking_uri, float(connect_timeout))
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        if self.run_id is None:
            experiment = self.client.get_experiment_by_name(experiment_name)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(experiment_name)
            self.run_id = self.client.create_run(experiment_id).info.run_id
        else:
            self._check_run(self.run_id, mlflow.exceptions.MlflowException)
        if params:
            self.log_params(params)

    def _check_run(self, run_id: str, error_type: type[Exception]) -> None:
        try:
            self.client.get_run(run_id)
        except error_type as error:
            raise ValueError(
                f"MLflowLogger run_id={run_id!r} is not a run of the tracking store {self.client.tracking_uri!r} "
                f"({error}). Pass the id of an existing run, or leave run_id=None to create a new run."
            ) from None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log hyper-parameters of the run (as pytorch-ignite's ``MLflowLogger.log_params``)."""
        if self.client is not None:
            for key, value in params.items():
                self.client.log_param(self.run_id, key, value)

    def _write(self, values: Mapping[str, float], step: int, event: str) -> None:
        now = int(time.time() * 1000)
        metrics = [self._metric(name, value, now, step) for name, value in values.items() if name not in self._refused]
        if not metrics:
            return
        try:
            self.client.log_batch(self.run_id, metrics=metrics)
        except Exception as error:
            if getattr(error, "error_code", None) != _INVALID_VALUE:
                raise
            self._write_one_by_one(metrics)

    def _write_one_by_one(self, metrics: list[Any]) -> None:
        """Log each metric alone, skipping (and remembering) the names MLflow refuses."""
        for metric in metrics:
            try:
                self.client.log_batch(self.run_id, metrics=[metric])
            except Exception as error:
                if getattr(error, "error_code", None) != _INVALID_VALUE:
                    raise
                self._refused.add(metric.key)
                warnings.warn(
                    f"MLflowLogger skips the metric {metric.key!r}: MLflow refuses its name ({error}). It is left "
                    "out from now on; name it with letters, digits, '_', '-', '.', ' ' and '/' to log it.",
                    UserWarning,
                    stacklevel=2,
                )

    def _close(self) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id)
