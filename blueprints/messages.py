"""Error texts in Simplified Chinese first, English on request (DESIGN §9).

Core and marshmallow speak English; the HTTP edge turns their messages into Chinese unless the
client asks for English (`?lang=en` or `Accept-Language: en…`). Unknown texts pass unchanged.
"""
from __future__ import annotations

import re

from flask import request

_EXACT = {
    # core
    "this ID number is already another account's own code": "该身份证号已被其他账号申领为本人健康码",
    "this account already has its own code": "本账号已申领本人健康码",
    "this person is already on this account": "该人员已在本账号中",
    "identity verification failed": "身份核验未通过",
    "only the person's own account can change their phone": "只有本人账号可以修改其手机号",
    "the application changed concurrently; try again": "申领信息被同时修改，请重试",
    "give exactly one of id_number and person_id": "身份证号与人员编号须且只能填写一项",
    "invalid ID number": "身份证号无效",
    "invalid application": "申领信息有误",
    "invalid name": "姓名无效",
    "invalid phone": "手机号无效",
    "invalid relation": "申领关系无效",
    "name does not match": "姓名与身份证号不符",
    "sampled in the future": "采样时间晚于当前时间",
    "unknown marker kind": "未知的标记类型",
    "unknown platform": "未知的登录平台",
    "invalid login code": "登录码无效",
    "unknown result": "未知的检测结果",
    "unknown role": "未知的角色",
    "until must be after since": "结束时间须晚于开始时间",
    "since is out of range": "开始时间超出范围",
    "until is out of range": "结束时间超出范围",
    "until is not allowed for this marker kind": "该标记类型不可指定结束时间",
    "the policy decides when this kind ends; omit until": "该类型何时解除由赋码政策决定，请勿填写结束时间",
    "must be between 2019-12-01 and tomorrow": "应在 2019-12-01 至明天之间",
    "at most one year ahead; omit it for no end": "最多为一年之后；无结束时间请留空",
    "no such marker": "未找到该标记",
    "no such person on this account": "本账号下未找到该人员",
    "no such person": "未找到该人员",
    "a valid staff credential is required": "需要有效的工作人员凭证",
    "login required: missing, expired or revoked token": "请先登录（登录凭证缺失、过期或已失效）",
    "missing bearer token": "请先登录",
    "identity verification (face check) is required first": "请先完成人脸识别身份核验",
    "1–30 characters: Chinese, Latin letters, spaces, the middle dot ·": "1–30 个字符：汉字、拉丁字母、空格或间隔号 ·",
    "1–64 characters": "1–64 个字符",
    "birth date is in the future": "出生日期晚于今天",
    "birth date or region code is not valid": "出生日期或地区码无效",
    "check digit does not match": "校验码不正确",
    "does not match the ID number's record": "与该身份证号登记的姓名不符",
    "is in the future": "晚于当前时间",
    "must be 18 characters: 17 digits and a check digit": "应为 18 位：17 位数字加 1 位校验码",
    "must be a mainland China mobile number": "应为中国大陆手机号",
    "must be after since": "须晚于开始时间",
    "negative or positive": "应为 negative（阴性）或 positive（阳性）",
    "self or family": "应为 self（本人）或 family（家人）",
    # the HTTP edge, marshmallow and webargs
    "the request is not valid": "请求内容有误",
    "the data store is unavailable; try again shortly": "数据服务暂时不可用，请稍后重试",
    "an unexpected error occurred": "服务器内部错误",
    "Unknown field.": "不允许的字段",
    "Missing data for required field.": "缺少必填字段",
    "required": "请填写此项",
    "1–64 characters: letters and digits of any script, single spaces, . : · ( ) # / - _":
        "1–64 个字符：各种文字的字母和数字、单个空格及 . : · ( ) # / - _",
    "Field may not be null.": "不能为空",
    "Not a valid string.": "应为字符串",
    "Not a valid boolean.": "应为布尔值",
    "Not a valid integer.": "应为整数",
    "Not a valid datetime.": "日期时间格式不正确",
    "Not a valid aware datetime.": "日期时间须带时区",
    "String does not match expected pattern.": "格式不正确",
    "Invalid input type.": "输入类型不正确",
    "Invalid JSON body.": "请求体不是有效的 JSON",
}
_PATTERNS = [
    (re.compile(r"^at most (\d+) family members per account$"), r"每个账号最多为 \1 位家人代领"),
    (re.compile(r"^this needs the (\w+) role$"), r"需要 \1 角色"),
    (re.compile(r"^not enabled: (.+)$"), r"未启用：\1"),
    (re.compile(r"^one of (.+)$"), r"应为以下之一：\1"),
    (re.compile(r"^Must be one of: (.+)\.$"), r"应为以下之一：\1"),
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"), r"长度应在 \1 到 \2 之间"),
]
_BY_CODE = {
    "not_found": "未找到",
    "method_not_allowed": "不支持该请求方法",
    "bad_request": "请求有误",
    "payload_too_large": "请求体过大",
    "unsupported_media_type": "不支持的内容类型",
}


def wants_english() -> bool:
    lang = request.args.get("lang") or request.headers.get("Accept-Language", "")
    return lang.strip().lower().startswith("en")


def localize(text: str, code: str | None = None) -> str:
    """The Chinese text for an English message, unless the client asked for English."""
    if wants_english():
        return text
    if text in _EXACT:
        return _EXACT[text]
    for pattern, replacement in _PATTERNS:
        if pattern.match(text):
            return pattern.sub(replacement, text)
    return _BY_CODE.get(code or "", text)


def localize_fields(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: [localize(message) for message in messages] for name, messages in fields.items()}
