"""Who may reach whom under a set of Kubernetes NetworkPolicies, evaluated as the API defines it.

A connection from a source to a target port is allowed when the source's egress allows it and the
target's ingress allows it. A pod selected by no policy of a direction is open in that direction;
once selected, only what some selecting policy lists is allowed (policies add up). Peers outside
the cluster are IP addresses (``ipBlock``); they have no policies of their own. Named ports are not
supported here (the manifests use numbers, and a test says so).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Peer:
    """A pod (namespace and labels) or, when ``ip`` is set, an address outside the cluster."""

    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None

    @property
    def namespace_labels(self) -> dict[str, str]:
        # The label every namespace carries since Kubernetes 1.22.
        return {"kubernetes.io/metadata.name": self.namespace}


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (``matchLabels`` and ``matchExpressions``); ``{}`` selects everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(rule_peer: Mapping[str, Any], peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False
        address = ipaddress.ip_address(peer.ip)
        block = rule_peer["ipBlock"]
        excluded = any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excluded
    if peer.ip is not None:
        return False
    namespace_selector = rule_peer.get("namespaceSelector")
    if namespace_selector is None:
        in_namespace = peer.namespace == policy_namespace
    else:
        in_namespace = selector_matches(namespace_selector, peer.namespace_labels)
    return in_namespace and selector_matches(rule_peer.get("podSelector"), peer.labels)


def _port_matches(ports: list[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(
        entry.get("protocol", "TCP") == protocol and entry.get("port") in (None, port)
        for entry in ports
    )


def _direction_allows(
    policies: Iterable[Mapping[str, Any]],
    subject: Peer,
    other: Peer,
    port: int,
    protocol: str,
    direction: str,
) -> bool:
    """Whether ``subject``'s policies of one direction (Ingress/Egress) admit ``other``."""
    if subject.ip is not None:
        return True
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolated = False
    for policy in policies:
        spec = policy["spec"]
        if policy["metadata"].get("namespace", "") != subject.namespace:
            continue
        if direction not in spec.get("policyTypes", ["Ingress"]):
            continue
        if not selector_matches(spec["podSelector"], subject.labels):
            continue
        isolated = True
        for rule in spec.get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(
                _peer_matches(entry, other, subject.namespace) for entry in peers
            )
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return not isolated


def allowed(
    policies: list[Mapping[str, Any]], source: Peer, target: Peer, port: int, protocol: str = "TCP"
) -> bool:
    """Whether ``source`` may open a connection to ``target`` on ``port``."""
    return _direction_allows(
        policies, source, target, port, protocol, "Egress"
    ) and _direction_allows(policies, target, source, port, protocol, "Ingress")
