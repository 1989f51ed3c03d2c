"""Reading the values of a message: text, codes, amounts and dates, each refusal naming its field.

Bodies are parsed with ``parse_float=Decimal``: an amount arrives as a JSON number (or, from
some clients, a string) and becomes integer fen without passing through float.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from yibao.domain.money import MAX_FEN
from yibao.errors import InvalidInput

DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S")


def _name(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# The interface's names in Chinese, so that a refusal reads as words first and the field after.
LABELS = {
    "body": "报文", "infno": "交易编号", "msgid": "报文ID", "mdtrtarea_admvs": "就医地医保区划",
    "recer_sys_code": "接收方系统代码", "infver": "接口版本号", "inf_time": "交易时间", "fixmedins_code": "定点医药机构编号",
    "fixmedins_name": "定点医药机构名称", "opter_type": "经办人类别", "opter": "经办人", "opter_name": "经办人姓名",
    "sign_no": "签到编号", "input": "交易输入", "enc_type": "加密方式", "signIn": "签到信息", "signOut": "签退信息",
    "opter_no": "操作员编号", "mac": "MAC地址", "ip": "IP地址", "data": "交易数据", "mdtrt_cert_type": "就诊凭证类型",
    "mdtrt_cert_no": "就诊凭证编号", "psn_name": "人员姓名", "expContent": "扩展内容", "card_pin": "服务密码",
    "druginfo": "购药信息", "drugdetail": "药品明细", "psn_no": "人员编号", "med_type": "医疗类别", "insutype": "险种类型",
    "medfee_sumamt": "医疗费总额", "acct_used_flag": "个人账户使用标志", "invono": "发票号", "mdtrt_id": "就诊ID",
    "chrg_bchno": "收费批次号", "psn_setlway": "个人结算方式", "feedetl_sn": "费用明细流水号",
    "det_item_fee_sumamt": "明细项目费用总额", "cnt": "数量", "pric": "单价", "setl_id": "结算ID", "omsgid": "原报文ID",
    "oinfno": "原交易编号", "clr_type": "清算类别", "setl_optins": "结算经办机构", "stmt_begndate": "对账开始日期",
    "stmt_enddate": "对账结束日期", "fund_pay_sumamt": "基金支付总额", "acct_pay": "个人账户支付金额",
    "fixmedins_setl_cnt": "结算笔数", "cum_ym": "累计年月", "mdtrtinfo": "就诊信息", "feedetail": "费用明细",
    "diseinfo": "诊断信息", "ipt_otp_no": "门诊号", "begntime": "开始时间", "rxno": "处方号", "fee_ocur_time": "费用发生时间",
    "x-tif-nonce": "请求随机数",
}


def label(name: str) -> str:
    """``input.drugdetail[1].cnt`` → 数量（input.drugdetail[1].cnt）."""
    leaf = name.rsplit(".", 1)[-1].split("[", 1)[0]
    return f"{LABELS[leaf]}（{name}）" if leaf in LABELS else f"字段 {name}"


def missing(name: str) -> InvalidInput:
    return InvalidInput(f"缺少{label(name)}", field=name, code="national_field_missing")


def bad(name: str, what: str) -> InvalidInput:
    return InvalidInput(f"{label(name)}有误：{what}", field=name, code="national_field_invalid")


def node(container: dict, key: str, path: str = "") -> dict:
    """A JSON object inside ``container`` (e.g. ``input.data``)."""
    name = _name(path, key)
    value = container.get(key)
    if value is None:
        raise missing(name)
    if not isinstance(value, dict):
        raise bad(name, "应为 JSON 对象")
    return value


def rows(container: dict, key: str, path: str, *, limit: int = 1000, required: bool = False) -> list[dict]:
    name = _name(path, key)
    value = container.get(key)
    if value in (None, ""):
        if required:
            raise missing(name)
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise bad(name, "应为 JSON 对象的数组")
    if len(value) > limit:
        raise bad(name, f"最多{limit}条")
    return value


def text(container: dict, key: str, path: str = "", *, required: bool = True, limit: int = 50) -> str:
    """A short text value; numbers are taken as their digits (clients send codes either way)."""
    name = _name(path, key)
    value = container.get(key)
    if isinstance(value, bool):
        raise bad(name, "应为文字")
    if isinstance(value, (int, Decimal)):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise missing(name)
        return ""
    if not isinstance(value, str):
        raise bad(name, "应为文字")
    value = value.strip()
    if len(value) > limit or not value.isprintable():
        raise bad(name, f"应为不超过{limit}个可打印字符")
    return value


def code(container: dict, key: str, path: str, allowed: dict | set | tuple, *, required: bool = True) -> str:
    value = text(container, key, path, required=required, limit=10)
    if value and value not in allowed:
        choices = "、".join(sorted(allowed))
        raise bad(_name(path, key), f"取值应为 {choices}")
    return value


def flag(container: dict, key: str, path: str) -> bool:
    """A 0/1 flag; "00"/"01" (seen from one client) are read as 0/1."""
    value = text(container, key, path, limit=2)
    if value not in ("0", "1", "00", "01"):
        raise bad(_name(path, key), "取值应为 0 或 1")
    return value.endswith("1")


def amount_fen(
    container: dict, key: str, path: str, *, required: bool = True, positive: bool = False, signed: bool = False
) -> int:
    """Yuan with at most two decimals → fen (``signed``: a net total, which may be negative)."""
    name = _name(path, key)
    value = container.get(key)
    if value in (None, ""):
        if required:
            raise missing(name)
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise bad(name, "应为金额（元，最多两位小数）")
    try:
        yuan = Decimal(str(value).strip())
    except InvalidOperation:
        raise bad(name, "应为金额（元，最多两位小数）") from None
    if not yuan.is_finite() or abs(yuan) * 100 > MAX_FEN:
        raise bad(name, "金额超出范围")
    if yuan != yuan.quantize(Decimal("0.01")):
        raise bad(name, "金额最多两位小数")
    fen = int(yuan * 100)
    if (fen < 0 and not signed) or (positive and fen == 0):
        raise bad(name, "金额应大于零" if positive else "金额不能为负数")
    return fen


def day(container: dict, key: str, path: str, *, required: bool = True) -> date | None:
    value = text(container, key, path, required=required, limit=19)
    if not value:
        return None
    for fmt in DATE_FORMATS + DATETIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise bad(_name(path, key), "日期格式应为 yyyy-MM-dd")


def yuan(fen: int) -> Decimal:
    """Fen → yuan with two decimals, for the answer."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def whole(container: dict, key: str, path: str) -> int:
    """A whole number (a count), possibly negative."""
    value = text(container, key, path, limit=12)
    if not value.lstrip("-").isdigit() or not value.isascii():
        raise bad(_name(path, key), "应为整数")
    return int(value)


def quantity(row: dict, key: str, path: str) -> str:
    """A non-negative count or unit price (up to six decimals in the sheet), kept as its digits."""
    value = row.get(key)
    if value in (None, ""):
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if isinstance(value, bool) or not number.is_finite() or number < 0 or number > Decimal(10) ** 12:
        raise bad(_name(path, key), "应为非负数")
    return str(number)


def decimal_or_zero(digits: str) -> Decimal:
    return Decimal(digits) if digits else yuan(0)


def fee_line(row: dict, path: str, texts: tuple[tuple[str, int], ...], required: tuple[str, ...] = ()) -> dict:
    """A drug (2101/2102) or fee (2204) line as kept: serial, amount in fen, count and price as digits,
    and the ``texts`` named (``required`` among them must be there)."""
    return {
        "feedetl_sn": text(row, "feedetl_sn", path, limit=30),
        "det_item_fee_fen": amount_fen(row, "det_item_fee_sumamt", path),
        "cnt": quantity(row, "cnt", path), "pric": quantity(row, "pric", path),
        **{name: text(row, name, path, required=name in required, limit=limit) for name, limit in texts},
    }


def line_split(line: dict) -> dict:
    """A kept line as the split answers say it (2102 detlcutinfo, 2204 result): as sent, nothing
    split off by list rules, which are not yibao's."""
    zero = yuan(0)
    return {
        "feedetl_sn": line["feedetl_sn"], "det_item_fee_sumamt": yuan(line["det_item_fee_fen"]),
        "cnt": decimal_or_zero(line["cnt"]), "pric": decimal_or_zero(line["pric"]),
        "pric_uplmt_amt": zero, "selfpay_prop": zero, "fulamt_ownpay_amt": zero, "overlmt_amt": zero,
        "preselfpay_amt": zero, "inscp_scp_amt": zero, "chrgitm_lv": "", "med_chrgitm_type": "", "bas_medn_flag": "",
        "hi_nego_drug_flag": "", "chld_medc_flag": "", "list_sp_item_flag": "", "drt_reim_flag": "", "memo": "",
    }
