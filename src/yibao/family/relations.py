"""Close relatives (近亲属): names, the relation seen from the other side, and the set in force.

The vocabulary is kinship and does not change; which relations may be bound on a date is
policy data (``family.relations``), resolved for the holder's pooling region.
"""

from __future__ import annotations

from datetime import date

from yibao.errors import InvalidInput
from yibao.policy.parameters import PolicyBook

LABELS = {
    "spouse": "配偶",
    "parent": "父母",
    "child": "子女",
    "sibling": "兄弟姐妹",
    "grandparent": "祖父母、外祖父母",
    "grandchild": "孙子女、外孙子女",
}
# What the holder is to the member when the member is ``relation`` to the holder.
INVERSE = {
    "spouse": "spouse",
    "parent": "child",
    "child": "parent",
    "sibling": "sibling",
    "grandparent": "grandchild",
    "grandchild": "grandparent",
}
# Relations in which the holder can be a minor member's guardian (民法典第二十七条:
# parents, then grandparents and adult siblings), and so may consent for the minor.
GUARDIAN_OF_MINOR = frozenset({"child", "grandchild", "sibling"})
# Full civil capacity (民法典第十七条); below it a guardian consents. Civil law, not insurance policy.
ADULT_AGE = 18


def label(relation: str) -> str:
    return LABELS.get(relation, relation)


def allowed_relations(book: PolicyBook, region_code: str, day: date) -> tuple[str, ...]:
    """The relations that may be bound in the holder's region on ``day`` (empty when unknown)."""
    resolution = book.resolve("family.relations", book.regions.get(region_code), day)
    return resolution.value.rule.relations if resolution.value and resolution.value.rule else ()


def check_relation(book: PolicyBook, region_code: str, day: date, relation: str) -> None:
    allowed = allowed_relations(book, region_code, day)
    if relation in allowed:
        return
    if not allowed:
        raise InvalidInput("参保地暂无家庭共济亲属范围的规定，无法绑定", field="relation", code="relations_unknown")
    names = "、".join(label(item) for item in allowed)
    raise InvalidInput(
        f"按{day.isoformat()}有效的规定，可共济的亲属为{names}；{label(relation)}不在范围内", field="relation",
        code="relation_not_allowed",
    )
