"""Scraping /metrics the way Prometheus does, and reading values back from the text."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


class Scrape:
    def __init__(self, samples: dict):
        self.samples = samples

    def value(self, name: str, **labels) -> float:
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def delta(self, before: Scrape, name: str, **labels) -> float:
        return self.value(name, **labels) - before.value(name, **labels)


@pytest.fixture
def scrape():
    def _scrape(client: APIClient | None = None, **headers) -> Scrape:
        response = (client or APIClient()).get("/metrics", **headers)
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=")
        return Scrape(parse(response.content.decode()))

    return _scrape
