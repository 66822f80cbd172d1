"""The service's metrics carry no exemplars unless OTEL_METRICS_EXEMPLAR_FILTER asks for them
(`api.ops.observability.service_meter_provider`): offering each measurement to a reservoir cost as much as the
measurement, and nothing reads them."""

from __future__ import annotations

import os

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from api.ops.observability import service_meter_provider


def exemplars_of_a_measurement_in_a_sampled_span() -> int:
    reader = InMemoryMetricReader()
    meters = service_meter_provider(Resource.create({}), [reader])
    histogram = meters.get_meter("check").create_histogram("check.duration")
    with TracerProvider().get_tracer("check").start_as_current_span("sampled"):
        histogram.record(0.5, {"route": "default"})
    data = reader.get_metrics_data()
    meters.shutdown()
    assert data is not None
    [point] = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    return len(point.exemplars)


@pytest.fixture(autouse=True)
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)


def test_no_exemplars_by_default() -> None:
    assert exemplars_of_a_measurement_in_a_sampled_span() == 0


def test_the_standard_variable_brings_them_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "trace_based")
    assert exemplars_of_a_measurement_in_a_sampled_span() == 1
