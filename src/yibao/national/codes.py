"""The interface's code tables, as far as yibao's records say them (see the national interface in the README).

Values follow the national code tables; where yibao records less than a table distinguishes
(students, officials), the nearest general code is used.
"""

from __future__ import annotations

from datetime import date

INSUTYPE_EMPLOYEE = "310"  # 职工基本医疗保险
INSUTYPE_RESIDENT = "390"  # 城乡居民基本医疗保险
INSUTYPE_BY_INSURANCE = {"employee": INSUTYPE_EMPLOYEE, "resident": INSUTYPE_RESIDENT}

# 人员类别 psn_type by (insurance, employment); residents split by age below.
PSN_TYPE = {
    ("employee", "in_service"): "1101",  # 职工在职
    ("employee", "flexible"): "1103",  # 灵活就业在职
    ("employee", "retired"): "1201",  # 职工退休
    ("employee", "none"): "1101",
}
PSN_TYPE_RESIDENT_ADULT = "1501"  # 普通居民（成年）
PSN_TYPE_RESIDENT_MINOR = "1405"  # 未成年（未入学）
ADULT_AGE = 18

GEND = {"M": "1", "F": "2"}  # GB/T 2261.1

# 人员参保状态 psn_insu_stas: 1 正常参保, 2 暂停参保, 4 终止参保.
INSU_STAS_NORMAL, INSU_STAS_PAUSED, INSU_STAS_ENDED = "1", "2", "4"

# 就诊凭证类型 mdtrt_cert_type.
CERT_EVOUCHER, CERT_ID_NUMBER, CERT_CARD = "01", "02", "03"
CERT_TYPES = {CERT_EVOUCHER: "医保电子凭证", CERT_ID_NUMBER: "居民身份证", CERT_CARD: "社会保障卡"}
PSN_CERT_TYPE_ID_CARD = "01"

# 清算类别 clr_type of each settlement message; 清算方式 clr_way 01 按项目.
CLR_TYPE_PHARMACY, CLR_TYPE_OUTPATIENT = "41", "11"
CLR_WAY_BY_ITEM = "01"

# 基金支付类型 of the personal account in setldetail.
FUND_PAY_TYPE_ACCOUNT = ("310200", "职工基本医疗保险个人账户基金")

# 对账结果 stmt_rslt.
STMT_BALANCED, STMT_UNBALANCED = "0", "1"


def psn_type(insurance_type: str, employment: str, birth_date: date, today: date) -> str:
    if insurance_type == "resident":
        return PSN_TYPE_RESIDENT_ADULT if age_in_years(birth_date, today) >= ADULT_AGE else PSN_TYPE_RESIDENT_MINOR
    return PSN_TYPE[(insurance_type, employment)]


def age_in_years(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
