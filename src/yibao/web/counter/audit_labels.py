"""The audit log in Chinese: what each action, actor kind, channel and detail means.

The action names are the ones the code writes (``security.audit.record`` calls in the API,
the workbench, the portal, the kiosk, the phone line and the payment service). A name that is
not in the table is shown as "其他操作（name）"; the audit page's tests list the names the
workbench's own flows write, so a new one without a label is noticed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from yibao.clock import CHINA
from yibao.collection.orders import PURPOSE_LABELS

ACTIONS = {
    # Signing in and credentials
    "auth.login.staff": "工作人员登录",
    "auth.login.password": "参保人密码登录",
    "auth.login.sms": "参保人短信验证码登录",
    "auth.login.kiosk_pin": "参保人自助终端刷卡登录",
    "auth.password_changed": "修改登录密码",
    "auth.password_reset": "重置登录密码",
    "auth.password_reset_code": "发送重置密码验证码",
    "auth.phone_pin_set": "设置服务密码",
    # People at the counter
    "staff.person.search": "查找参保人",
    "staff.person.masked": "查看参保人（脱敏）",
    "staff.person.profile": "查看参保人基本信息",
    "staff.person.accounts": "查看个人账户余额",
    "staff.person.details": "查看收支明细",
    "staff.person.contributions": "查看缴费记录",
    "staff.person.policy": "查看政策解答",
    "staff.person.statement": "打印对账单",
    "staff.person.maintenance": "查看账户维护",
    "staff.person.password_reset": "柜台重置登录密码",
    "staff.person.pin_reset": "柜台重置服务密码",
    "staff.person.phone_changed": "变更手机号码",
    "staff.account.frozen": "冻结个人账户",
    "staff.account.unfrozen": "解冻个人账户",
    "staff.guardianship.list": "查看监护关系",
    "staff.guardianship.confirmed": "确认监护关系",
    "staff.guardianship.ended": "解除监护关系",
    # Withdrawal and inheritance
    "staff.withdrawal.queue": "查看提取申请列表",
    "staff.withdrawal.view": "查看提取申请",
    "staff.withdrawal.masked": "查看提取申请（脱敏）",
    "staff.withdrawal.death.masked": "查看死亡登记（脱敏）",
    "staff.withdrawal.request_documents": "要求补充材料",
    "staff.withdrawal.upload": "上传提取申请材料",
    "staff.withdrawal.document": "查看提取申请材料",
    "staff.withdrawal.heirs": "登记继承人",
    "staff.withdrawal.submit": "提交提取申请",
    "staff.withdrawal.decision": "审批提取申请",
    "staff.withdrawal.death": "登记死亡信息",
    "staff.withdrawal.death.certificate": "查看死亡证明",
    "staff.withdrawal.death.confirm": "复核确认死亡信息",
    "staff.withdrawal.death.reject": "复核退回死亡信息",
    "staff.withdrawal.death.view": "查看死亡登记",
    "staff.withdrawal.deaths": "查看待复核死亡登记",
    "withdrawal.apply": "参保人申请提取",
    "withdrawal.document": "参保人上传提取材料",
    "withdrawal.submit": "参保人提交提取申请",
    "withdrawal.bank_account": "登记收款账户",
    # Transfers and refunds
    "staff.transfer.open_steps": "查看转移接续待办",
    "staff.transfer.review": "转出地审核",
    "staff.transfer.view": "查看转移申请",
    "staff.transfer.masked": "查看转移申请（脱敏）",
    "staff.transfer.out": "办理转出",
    "staff.transfer.in": "办理转入",
    "transfer.request": "参保人申请转移接续",
    "staff.refund.enter": "登记急诊垫付返还",
    "staff.refund.upload": "上传返还票据",
    "staff.refund.document": "查看返还票据",
    "staff.refund.view": "查看急诊垫付返还",
    "staff.refund.masked": "查看急诊垫付返还（脱敏）",
    "staff.refund.decision": "审批急诊垫付返还",
    "staff.refund.pay": "支付急诊垫付返还",
    "refund.apply": "参保人申请急诊垫付返还",
    # Out-of-area care filings
    "filing.file": "参保人办理异地就医备案",
    "filing.change": "参保人变更异地就医备案",
    "filing.cancel": "参保人取消异地就医备案",
    "staff.filing.queue": "查看待确认异地就医备案",
    "staff.filing.view": "查看异地就医备案",
    "staff.filing.decision": "确认或退回异地就医备案",
    # Contribution files
    "staff.import_contributions": "导入缴费文件",
    "staff.import_contributions.failed": "缴费文件导入失败",
    "staff.import_job.read": "查看缴费文件导入结果",
    "staff.import_contributions.queued": "缴费文件排队导入",
    "staff.import_contributions.applied": "缴费文件导入完成",
    "staff.import_contributions.rejected": "缴费文件有误未导入",
    # Institutions
    "institution.balance_check": "机构查询余额",
    "institution.balance_check_refused": "机构查询余额被拒绝",
    "institution.card_pin_failed": "机构验证服务密码失败",
    "institution.payment": "机构收取个人账户支付",
    "institution.payment_refused": "机构支付被拒绝",
    "institution.payment_dropped": "机构支付未完成",
    "institution.refund": "机构退费",
    "institution.refund_refused": "机构退费被拒绝",
    "institution.refund_dropped": "机构退费未完成",
    "national.message": "机构国家医保接口报文",
    "collection.order_created": "创建网上缴费订单",
    "collection.posted": "网上缴费入账",
    "collection.refunded": "网上缴费退款",
    "collection.stray_refunded": "退回重复或失效订单的支付",
    "collection.receipt": "下载缴费凭证",
    "collection.counter_order": "柜台生成缴费订单",
    "staff.person.orders": "查看网上缴费订单",
    # Family sharing and guardians
    "family.request": "申请家庭共济",
    "family.consented": "同意家庭共济",
    "family.binding_created": "建立家庭共济关系",
    "family.binding_consented": "确认家庭共济关系",
    "family.binding_ended": "解除家庭共济关系",
    "family.ended": "解除家庭共济",
    "family.premium": "查看家庭代缴保费",
    "family.premium_paid": "家庭代缴保费",
    "family.resident_premium": "为家人缴纳居民医保保费",
    "family.payment_limit": "设置家庭共济支付限额",
    "family.relations": "查看家庭关系",
    "guardian.binding": "建立监护关系",
    "guardian.payment": "监护人代付",
    # Third-party apps, the phone line, statements
    "app.grant_revoked": "撤销第三方应用授权",
    "ivr.sign_in": "电话服务登录",
    "ivr.transfer": "电话转人工",
    "cli.statement": "后台打印对账单",
    # The audit log and administration
    "audit.read": "查看审计日志",
    "audit.export": "导出审计日志",
    "admin.institution.add": "登记定点医药机构",
    "admin.institution.designate": "设为定点医药机构",
    "admin.institution.undesignate": "取消定点资格",
    "admin.institution.key": "更换机构接口密钥",
    "admin.institution.tif_secret": "生成国家医保接口签名密钥",
    "admin.app.add": "登记第三方应用",
    "admin.app.deactivate": "停用第三方应用",
    "admin.staff.add": "添加工作人员",
    "admin.staff.change": "变更工作人员岗位或地区",
    "admin.staff.deactivate": "停用工作人员账号",
    "admin.staff.password": "重置工作人员密码",
}
# App reads: ``app.<route name>`` (see ``web.deps``): a third-party app read a person's data.
APP_READ = "第三方应用读取参保人信息"

ACTOR_KINDS = {"staff": "工作人员", "person": "参保人", "institution": "定点医药机构", "third_party": "第三方应用", "system": "系统"}
CHANNELS = {"counter": "经办工作台", "other": "接口及其他渠道"}

# Detail keys: what each means, in Chinese.
DETAIL_KEYS = {
    "channel": "渠道", "by": "查找方式", "found": "是否找到", "page": "页码", "date_from": "开始日期", "date_to": "结束日期",
    "account_id": "账户记录", "kind": "类别", "decision": "审批结果", "status": "状态", "amount_fen": "金额",
    "paid_fen": "支付金额", "case_id": "提取申请", "transfer_id": "转移申请", "refund_id": "返还申请", "job_id": "导入批次",
    "document_id": "材料", "doc_type": "材料类型", "code": "编码", "institution": "机构", "institution_code": "机构编码",
    "client_id": "应用标识", "username": "用户名", "role": "岗位", "regions": "负责地区", "designated": "定点",
    "staff_id": "工作人员", "filters": "筛选条件", "rows": "导出条数", "total": "条数", "region_code": "地区",
    "month": "月份", "reason": "申请原因", "step": "环节", "rows_imported": "导入行数", "errors": "错误行数",
    "receipt_no": "收据号", "payment_id": "支付记录", "transaction_id": "记账流水", "approve": "审批意见", "limited": "仅限修改密码",
    "grant_id": "授权记录", "file": "文件名", "apps_revoked": "撤销的应用授权", "statuses": "状态", "size_bytes": "文件大小（字节）",
    "scope": "授权范围", "relation": "关系", "payer": "付款账户", "heirs": "继承人人数", "guardianship_id": "监护关系",
    "first": "首次", "binding_id": "共济关系", "count": "数量", "sha256": "文件校验值", "accept_balance": "接收余额",
    "resumed": "继续办理", "pages": "页数", "confidential": "有客户端密钥", "actor_kind": "操作人类型", "actor": "操作人",
    "action": "操作", "date": "日期", "channel_filter": "渠道", "error": "失败原因", "added": "新增记录数",
    "applied": "已导入",
    # The national interface's messages (yibao.national)
    "infno": "交易编号", "msgid": "报文ID", "opter": "操作员编号", "opter_name": "操作员", "opter_no": "签到操作员编号",
    "infcode": "交易结果", "replayed": "重复报文", "cert_type": "就诊凭证类型", "setl_id": "结算ID",
    "omsgid": "原报文ID", "oinfno": "原交易编号", "stmt_begndate": "对账开始日期", "stmt_enddate": "对账结束日期",
    "balanced": "对账一致",
    # Out-of-area care filings
    "filing_id": "异地就医备案", "replaces_id": "变更前的备案", "place": "备案地",
    # Contributions paid online (yibao.collection)
    "order_no": "缴费订单号", "purpose": "缴费项目",
}
VALUE_LABELS = {
    "counter": "经办工作台", "id_number": "身份证号码", "card_number": "社会保障卡卡号",
    "approve": "同意", "reject": "退回", "agent": "经办人员", "supervisor": "复核人员", "auditor": "审计人员",
    "admin": "系统管理员", "pharmacy": "药店", "hospital": "医院", "self": "本人账户", "family": "家庭共济账户",
    "person": "参保人", "staff": "工作人员", "institution": "定点医药机构", "third_party": "第三方应用", "system": "系统",
    # Statuses of cases, transfers, refunds and import jobs (the same word may name a step of each).
    "collecting": "待补充材料", "submitted": "待审核", "approved_once": "待复核", "approved": "已审批", "paid": "已支付",
    "rejected": "未通过", "entered": "待审核", "requested": "待转出地审核", "transferred_out": "待转入", "completed": "已完成",
    "queued": "排队中", "running": "导入中", "applied": "已导入", "failed": "导入失败",
    "pending": "待复核", "confirmed": "已确认",
    # Why an import job failed (``contributions.jobs``).
    "import_failed": "导入出错", "import_rejected": "文件有误，未导入", "import_file_missing": "上传的文件已不存在",
    "import_interrupted": "服务器重启，导入中断", "import_out_of_memory": "文件过大，导入中断",
    # Contributions paid online: what an order pays for, and where it was made.
    **PURPOSE_LABELS, "portal": "个人网页", "api": "接口",
}
# Keys whose values are yes/no answers of a decision rather than facts.
DECISION_KEYS = {"approve": ("同意", "不同意"), "accept_balance": ("接收", "不接收")}


def action_label(action: str) -> str:
    if action in ACTIONS:
        return ACTIONS[action]
    if action.startswith("app."):
        return APP_READ
    return f"其他操作（{action}）"


def when(at: datetime) -> str:
    """Beijing time, as a clerk reads it: 2025-06-15 10:00:00."""
    if at.tzinfo is None:
        from datetime import timezone

        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


CHECKSUM_SHOWN = 16  # on the page, a checksum's first characters (the export keeps it whole)


def _value(key: str, value: Any, short: bool = False) -> str:
    if value is None or value == "":
        return "未填写"
    if key == "sha256" and short and isinstance(value, str) and len(value) > CHECKSUM_SHOWN:
        return value[:CHECKSUM_SHOWN] + "…"
    if isinstance(value, bool):
        yes, no = DECISION_KEYS.get(key, ("是", "否"))
        return yes if value else no
    if key.endswith("_fen") and isinstance(value, int):
        from yibao.domain.money import Money

        return Money(value).format()
    if isinstance(value, (list, tuple)):
        return "、".join(_value(key, each) for each in value) or "无"
    if isinstance(value, dict):
        return "；".join(f"{DETAIL_KEYS.get(k, '其他')}：{_value(k, v)}" for k, v in value.items())
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    text = str(value)
    if key == "region_code" or key == "regions":
        from yibao.web.api import reads

        return reads.region_name(text) or text
    if key == "reason":
        from yibao.withdrawals.cases import reason_label

        return reason_label(text)
    if key == "scope":
        from yibao.security.principal import SCOPE_LABELS

        return "、".join(SCOPE_LABELS.get(each, each) for each in text.split())
    if key == "channel_filter":
        return CHANNELS.get(text, text)
    if key == "action":
        return action_label(text)
    if key == "actor_kind":
        return ACTOR_KINDS.get(text, text)
    if key == "infcode":  # the national interface's result: 0 success, -1 refused
        return "成功" if text == "0" else "未成功"
    return VALUE_LABELS.get(text, text)


def detail_text(detail: dict | None, *, short: bool = False) -> str:
    """The detail as readable Chinese "key：value" pairs (never JSON); ``short``: for the page."""
    if not detail:
        return "无"
    return "；".join(f"{DETAIL_KEYS.get(key, '其他')}：{_value(key, value, short)}" for key, value in detail.items())
