"""The metric and label names a PromQL expression uses, and the metrics the API exports.

The exported names are read from ``mp_api.metrics`` itself (every metric object the module
defines, with the series names Prometheus' text format gives each type), so a renamed metric
breaks the dashboard's test instead of its panels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client.metrics import MetricWrapperBase

# Series names per metric type in the exposition format (prometheus_client's naming).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}
# Labels Prometheus adds to every series it scrapes (``instance`` per target, ``job``), the
# histogram bucket bound, and the namespace label the Kubernetes scrape configuration sets.
TARGET_LABELS = frozenset({"instance", "job", "le", "namespace"})

_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                       "and", "or", "unless", "offset"})  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


@dataclass(frozen=True)
class Exported:
    """One series name the API exposes and the labels its samples carry."""

    series: str
    labels: frozenset[str]


def exported_series(module: object) -> dict[str, Exported]:
    """Every series name the metric objects defined in ``module`` expose, with their labels."""
    found: dict[str, Exported] = {}
    for value in vars(module).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        # _labelnames: the label names given at construction (prometheus_client has no public
        # accessor for them).
        labels = frozenset(value._labelnames)
        for family in value.describe():
            for suffix in _SUFFIXES[family.type]:
                name = family.name + suffix
                found[name] = Exported(name, labels)
    return found


@dataclass(frozen=True)
class Query:
    """What one expression names: metric names, and label names per place they appear."""

    metrics: frozenset[str]
    matcher_labels: dict[str, frozenset[str]]
    grouping_labels: frozenset[str]


def parse_query(expression: str) -> Query:
    """Metric names, their label matchers and the grouping labels of a PromQL expression.

    Grafana's ``$__rate_interval``-style variables are removed first; string literals never
    count as names.
    """
    text = re.sub(r"\$\{?\w+\}?", "1m", expression)
    matcher_labels: dict[str, frozenset[str]] = {}
    for match in _MATCHERS.finditer(text):
        metric = _IDENTIFIER.findall(text[: match.start()])[-1]
        body = _STRING.sub('""', match.group(1))
        matcher_labels[metric] = frozenset(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", body))
    grouping = frozenset(
        name.strip()
        for group in _GROUPING.findall(text)
        for name in group.split(",")
        if name.strip()
    )
    rest = _GROUPING.sub(" ", _RANGE.sub(" ", _MATCHERS.sub(" ", _STRING.sub(" ", text))))
    metrics = {
        token.group(0)
        for token in _IDENTIFIER.finditer(rest)
        if token.group(0) not in _KEYWORDS and not rest[token.end() :].lstrip().startswith("(")
    }
    return Query(frozenset(metrics), matcher_labels, grouping)
