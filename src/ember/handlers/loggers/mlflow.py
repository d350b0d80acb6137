"""MLflow: :class:`MLflowLogger` logs metrics and parameters to an MLflow run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from ember.handlers.loggers.base import BaseLogger, writable_folder

__all__ = ["MLflowLogger"]


class MLflowLogger(BaseLogger):
    """Log metrics to an MLflow run (a new one in ``experiment_name``, or ``run_id`` if given).

    Args:
        tracking_uri: where MLflow stores runs (a server, or a local ``file:`` store); by default
            MLflow's own setting. A local store that cannot be written fails here.
        experiment_name: the experiment to create the run in (created if missing).
        run_id: log into this existing run instead of creating one.
        params: logged once as run parameters (hyper-parameters); see also :meth:`log_params`.

    Names are logged as the handlers make them (``train/loss``). ``client`` and ``run_id`` expose
    the MLflow client and run for anything else; :meth:`close` marks the run finished.
    Needs mlflow: ``pip install 'ember[mlflow]'``.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str = "ember",
        run_id: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        try:
            import mlflow
        except ImportError as error:
            raise ImportError(
                "MLflowLogger needs mlflow, which is not installed. Install it with: pip install 'ember[mlflow]'."
            ) from error
        self._metric = mlflow.entities.Metric
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
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        if self.run_id is None:
            experiment = self.client.get_experiment_by_name(experiment_name)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(experiment_name)
            self.run_id = self.client.create_run(experiment_id).info.run_id
        if params:
            self.log_params(params)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log hyper-parameters of the run (as pytorch-ignite's ``MLflowLogger.log_params``)."""
        if self.client is not None:
            for key, value in params.items():
                self.client.log_param(self.run_id, key, value)

    def _write(self, values: Mapping[str, float], step: int, event: str) -> None:
        now = int(time.time() * 1000)
        metrics = [self._metric(name, value, now, step) for name, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def _close(self) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id)
