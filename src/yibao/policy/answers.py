"""The part every policy answer shares: region, where the rule came from, confidence, sources."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from yibao.domain.regions import Region
from yibao.policy.parameters import NATIONAL, Confidence, PolicyBook, Resolution

DISCLAIMER = "本数据仅供参考，具体以当地有关法规为准"


def region_dict(region: Region) -> dict[str, str]:
    return {"code": region.code, "name": region.name}


def envelope(
    book: PolicyBook,
    question: str,
    region: Region,
    main: Resolution,
    used: Iterable[Resolution],
    confidence: Confidence,
    rule: str,
    extra_sources: Iterable[str] = (),
) -> dict[str, Any]:
    """Common fields; ``main`` decides ``rule_region``, ``used`` lists every value consulted."""
    used = [resolution for resolution in used if resolution is not None]
    return {
        "question": question,
        "region": region_dict(region),
        "rule_region": {"code": None if main.rule_code == NATIONAL else main.rule_code, "name": main.rule_name},
        "inherited": main.inherited,
        "inheritance": main.inheritance_text(),
        "confidence": confidence.value,
        "confidence_label": confidence.label,
        "rule": rule,
        "rule_ids": [resolution.value.id for resolution in used if resolution.value is not None],
        "sources": sources_of(book, used, extra_sources),
        "disclaimer": DISCLAIMER,
    }


def sources_of(book: PolicyBook, used: Iterable[Resolution], extra: Iterable[str] = ()) -> list[dict[str, str]]:
    ids: list[str] = []
    for resolution in used:
        value = resolution.value
        if value is None:
            continue
        for source in [*value.sources, *(s for claim in value.claims for s in claim.sources)]:
            if source not in ids:
                ids.append(source)
    for source in extra:
        if source not in ids:
            ids.append(source)
    return [book.sources[source].as_dict() for source in ids]
