"""Readable Chinese text for a policy answer (the CLI without ``--json``, the counter).

The command line also shows codes a script can act on (the confidence code, source ids, the
option to supply); ``technical=False`` leaves them out for the screens staff read to people.
"""

from __future__ import annotations

from typing import Any

from yibao.domain.money import Money
from yibao.policy.inputs import FIELD_LABELS, cli_flag


def _money(fen: int | None) -> str:
    return Money(fen).format() if fen is not None else "未知"


def _yes_no(value: bool | None, yes: str, no: str, unknown: str) -> str:
    return unknown if value is None else (yes if value else no)


def render(answer: dict[str, Any], *, technical: bool = True) -> list[str]:
    region = answer["region"]
    lines = [f"地区：{region['name']}（{region['code']}）"]
    if answer.get("inheritance"):
        lines.append(answer["inheritance"])
    lines += _RENDERERS[answer["question"]](answer)
    if technical and answer.get("missing_field"):  # screens have a form field for it instead
        field = answer["missing_field"]
        lines.append(f"可用 {cli_flag(field)} 提供{FIELD_LABELS[field]}")
    lines.append(f"依据：{answer['rule']}")
    lines.append(f"可信度：{answer['confidence_label']}" + (f"（{answer['confidence']}）" if technical else ""))
    for source in answer["sources"]:
        ids = f"，{source['id']}" if technical else ""
        lines.append(f"来源：{source['title']}（{source['publisher']}，{source['date']}{ids}）")
    lines.append(answer["disclaimer"])
    return lines


def _credit(a: dict[str, Any]) -> list[str]:
    period = "每年" if a["period"] == "year" else "每月"
    if a["amount_fen"] is not None:
        line = f"划入金额：{period}{_money(a['amount_fen'])}"
        if a["period"] == "year":
            line += f"（月均{_money(a['monthly_equivalent_fen'])}）"
        lines = [line]
    elif a["amount_min_fen"] is not None:
        lines = [f"划入金额：约{_money(a['amount_min_fen'])}至{_money(a['amount_max_fen'])}（{period}，只有比例范围）"]
    else:
        lines = [f"划入金额：未知——{a['reason_text']}"]
    if a.get("approximate_fen") is not None:
        lines.append(f"参考：资料称约{_money(a['approximate_fen'])}/月（近似值，不作为答案）")
    if a.get("fallback"):
        lines.append(a["fallback"])
    lines.append(f"年龄：{a['age']}周岁")
    return lines


def _lifetime(a: dict[str, Any]) -> list[str]:
    lines = [f"结论：{a['summary']}"]
    if a.get("reason") and a["reason"] not in a["summary"]:
        lines.append(f"说明：{a['reason']}")
    if a.get("earliest_rule"):
        lines.append(f"已知最早的规定：{a['earliest_rule']['text']}")
    for claim in a.get("claims", []):
        verdict = _yes_no(claim["eligible"], "满足", "不满足", "未知")
        lines.append(f"  · {claim['note']} → {verdict}")
    for option in a.get("options", []):
        lines.append(f"  可选：{option['text']}")
    return lines


def _withdraw(a: dict[str, Any]) -> list[str]:
    lines = [f"{a['reason_label']}：{_yes_no(a['allowed'], '可以申请提取', '不能提取', '无法确定（资料说法矛盾或未说明）')}"]
    if a["documents"]:
        label = "所需材料" if a["allowed"] else "如可提取，所需材料"
        lines.append(f"{label}：{'、'.join(a['documents'])}")
    for claim in a.get("claims", []):
        lines.append(f"  · {claim['note']}")
    if a.get("account_after"):
        lines.append(f"提取后：{a['account_after']}")
    if a["allowed"] is None and not a.get("claims"):
        lines.append(f"说明：{a['note']}")
    return lines


_STATES = {
    "covered": "正常享受待遇",
    "arrears": "仍可报销，但有欠缴",
    "suspended": "暂停：不能正常报销",
    "waiting": "无法确定（可能处于等待期）",
    "not_applicable": "不适用",
    "unknown": "无法确定",
}


def _continuity(a: dict[str, Any]) -> list[str]:
    lines = [f"状态：{_STATES[a['state']]}" + (f"，自{a['since']}起" if a["since"] else "")]
    if a["missing_months"]:
        lines.append(f"未缴月份：{'、'.join(a['missing_months'])}")
    for step in a["restore"]:
        lines.append(f"  恢复办法：{step['text']}")
    return lines


def _channels(a: dict[str, Any]) -> list[str]:
    lines = []
    for channel in a["channels"]:
        lines.append(f"{channel['rank']}. {channel['name']}：" + "；".join(channel["steps"]))
        if channel.get("note"):
            lines.append(f"   提示：{channel['note']}")
    lines += [f"注意：{warning}" for warning in a["warnings"]]
    return lines


def _family(a: dict[str, Any]) -> list[str]:
    lines = [f"可以共济的亲属：{'、'.join(each['label'] for each in a['relations']) or '暂无资料'}", a["how"]]
    lines.append(f"每年可支付限额：{a['yearly_limit']}")
    lines.append(f"{a['resident_premium_year']}年度城乡居民医保个人缴费标准（可代缴）：{a['resident_premium']}")
    return lines


def _transfer(a: dict[str, Any]) -> list[str]:
    if a["total_working_days"] is None:
        return []
    lines = [f"转出 {a['out_working_days']} 个工作日 + 转入 {a['in_working_days']} 个工作日，共约 {a['total_working_days']} 个工作日"]
    if a["out_by"]:
        lines.append(f"{a['applied_on']} 受理：最迟 {a['out_by']} 转出，{a['in_by']} 转入")
    return lines


_RENDERERS = {"credit": _credit, "lifetime": _lifetime, "withdraw": _withdraw, "continuity": _continuity, "channels": _channels,
              "family": _family, "transfer": _transfer}
