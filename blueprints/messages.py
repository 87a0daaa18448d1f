"""Message texts by key: Simplified Chinese first, English on request (DESIGN §9).

The core and the schemas speak message keys (core.errors.Msg); this module gives each key its
texts, and the client gets Chinese unless it asks for English (`?lang=en` or
`Accept-Language: en…`). marshmallow's and webargs' own English messages are given keys here
too. tests/unit/test_messages.py fails if a key lacks a text.
"""
from __future__ import annotations

import re

from flask import request

from core.errors import Msg

# key -> (zh, en); {name} placeholders are filled from the Message's params.
TEXTS: dict[Msg, tuple[str, str]] = {
    # applying, persons
    Msg.INVALID_APPLICATION: ("申领信息有误", "invalid application"),
    Msg.INVALID_NAME: ("姓名无效", "invalid name"),
    Msg.INVALID_ID_NUMBER: ("身份证号无效", "invalid ID number"),
    Msg.INVALID_PHONE: ("手机号无效", "invalid phone"),
    Msg.INVALID_RELATION: ("申领关系无效", "invalid relation"),
    Msg.NAME_MISMATCH: ("姓名与身份证号不符", "name does not match"),
    Msg.SELF_TAKEN: ("本账号已申领本人健康码", "this account already has its own code"),
    Msg.ID_IS_OTHERS_SELF: ("该身份证号已被其他账号申领为本人健康码",
                            "this ID number is already another account's own code"),
    Msg.ALREADY_LINKED: ("该人员已在本账号中", "this person is already on this account"),
    Msg.FAMILY_FULL: ("每个账号最多为 {max} 位家人代领", "at most {max} family members per account"),
    Msg.CONCURRENT_CHANGE: ("申领信息被同时修改，请重试", "the application changed concurrently; try again"),
    Msg.OWNER_ONLY_PHONE: ("只有本人账号可以修改其手机号", "only the person's own account can change their phone"),
    Msg.NOT_ON_ACCOUNT: ("本账号下未找到该人员", "no such person on this account"),
    Msg.IDENTITY_FAILED: ("身份核验未通过", "identity verification failed"),
    Msg.VERIFICATION_REQUIRED: ("请先完成人脸识别身份核验", "identity verification (face check) is required first"),
    # logins and credentials
    Msg.UNKNOWN_PLATFORM: ("未知的登录平台", "unknown platform"),
    Msg.INVALID_LOGIN_CODE: ("登录码无效", "invalid login code"),
    Msg.LOGIN_REQUIRED: ("请先登录（登录凭证缺失、过期或已失效）", "login required: missing, expired or revoked token"),
    Msg.BEARER_MISSING: ("请先登录", "missing bearer token"),
    Msg.CREDENTIAL_REQUIRED: ("需要有效的工作人员凭证", "a valid staff credential is required"),
    Msg.ROLE_REQUIRED: ("需要 {role} 角色", "this needs the {role} role"),
    Msg.UNKNOWN_ROLE: ("未知的角色", "unknown role"),
    Msg.PLATFORM_UNAVAILABLE: ("登录平台暂时不可用，请稍后重试", "the platform is unavailable; try again shortly"),
    Msg.SMS_UNAVAILABLE: ("短信服务暂时不可用，请稍后重试", "the SMS service is unavailable; try again shortly"),
    Msg.LOGIN_REFUSED: ("该平台拒绝了此次登录", "the platform refused this login"),
    Msg.BAD_SIGNATURE: ("签名无效、过期或重复", "the signature is missing, wrong, stale or replayed"),
    Msg.RATE_LIMITED: ("请求过于频繁，请稍后再试", "too many requests; try again later"),
    Msg.POLICY_INVALID: ("赋码政策文件有误", "the policy document is not valid"),
    Msg.POLICY_VERSION_TAKEN: ("该政策版本号已发布过，请使用新版本号",
                               "this policy version was published before; use a new version"),
    Msg.NOT_PENDING: ("该标记不在待审批状态", "this marker is not waiting for approval"),
    Msg.SAME_CREDENTIAL: ("赋红码须由另一工作人员凭证审批", "a red marker must be approved by another credential"),
    Msg.NO_SUCH_APPEAL: ("未找到该申诉", "no such appeal"),
    Msg.ALREADY_APPEALED: ("已有待处理的申诉", "an appeal of this is open already"),
    Msg.APPEAL_DECIDED: ("该申诉已处理", "this appeal is decided already"),
    Msg.NO_SUCH_REGION: ("未知的行政区划代码", "unknown administrative division code"),
    Msg.RISK_LEVEL: ("风险等级应为 low、medium 或 high", "level must be low, medium or high"),
    Msg.NOT_DECLARABLE: ("该项不可自行申报", "this cannot be self-declared"),
    Msg.NOTHING_DECLARED: ("请申报症状或接触史", "declare symptoms or a contact with a case"),
    Msg.AUDIT_BUSY: ("审计记录繁忙，请重试", "the audit trail is busy; try again"),
    Msg.FEED_NOT_JSON: ("批次内容应为 JSON 数组或 NDJSON", "the batch must be a JSON array or NDJSON"),
    Msg.FEED_ROW_NOT_JSON: ("该行不是有效的 JSON", "this line is not JSON"),
    Msg.FEED_ROW_SHAPE: ("该行字段不正确", "this row's fields are not right"),
    Msg.FEED_TIME: ("时间应为带时区的 ISO 8601 或 Unix 秒数",
                    "a time must be ISO 8601 with an offset, or epoch seconds"),
    Msg.TRAVEL_RETIRED: ("通信行程卡已于2022年12月13日0时下线，行程数据已全部删除",
                         "the travel card was retired on 2022-12-13 00:00 and all trip data deleted"),
    Msg.TRAVEL_PROOF: ("请提供手机号和短信验证码，或平台的手机号授权（二选一）",
                       "give phone and sms_code, or platform and phone_code (one of the two)"),
    Msg.SMS_NOT_CONFIGURED: ("短信服务暂不可用", "no SMS provider is configured"),
    Msg.TRAVEL_LOGIN_REQUIRED: ("请先验证手机号", "prove your phone number first"),
    Msg.SMS_CODE_WRONG: ("验证码不正确", "the code is not right"),
    Msg.SMS_CODE_EXHAUSTED: ("错误次数过多，请重新获取验证码", "too many wrong tries; ask for a new code"),
    Msg.SMS_CODE_NONE: ("验证码已过期或未发送，请重新获取", "the code expired or was not sent; ask for a new one"),
    Msg.STAY_TIMES: ("停留时间不正确（from 须早于 to，且不晚于当前时间）",
                     "from must be before to, and to not in the future"),
    Msg.STAY_TOO_OLD: ("该停留早于统计窗口，不予保存", "this stay ended before the window: not kept"),
    Msg.NO_SUCH_WEBHOOK: ("未启用该平台的回调", "no callbacks are enabled for this platform"),
    Msg.PHONE_PROOF_INVALID: ("手机号授权无效，请重新授权", "the phone authorization is not valid; authorize again"),
    # the authority console
    Msg.CONSOLE_LOGIN_FAILED: ("用户名或密码错误", "wrong username or password"),
    Msg.INVALID_USERNAME: ("用户名无效", "invalid username"),
    Msg.USERNAME_TAKEN: ("该用户名已被使用（包括已停用的用户）", "this username is taken (disabled users keep theirs)"),
    Msg.PASSWORD_LENGTH: ("密码长度不符合要求", "the password's length is not allowed"),
    # marking and lab results
    Msg.ONE_PERSON_REFERENCE: ("身份证号与人员编号须且只能填写一项", "give exactly one of id_number and person_id"),
    Msg.NO_SUCH_PERSON: ("未找到该人员", "no such person"),
    Msg.NO_SUCH_MARKER: ("未找到该标记", "no such marker"),
    Msg.UNKNOWN_MARKER_KIND: ("未知的标记类型", "unknown marker kind"),
    Msg.UNTIL_NOT_ALLOWED: ("该标记类型不可指定结束时间", "until is not allowed for this marker kind"),
    Msg.SINCE_OUT_OF_RANGE: ("开始时间超出范围", "since is out of range"),
    Msg.UNTIL_BEFORE_SINCE: ("结束时间须晚于开始时间", "until must be after since"),
    Msg.UNTIL_OUT_OF_RANGE: ("结束时间超出范围", "until is out of range"),
    Msg.UNKNOWN_RESULT: ("未知的检测结果", "unknown result"),
    Msg.SAMPLED_IN_FUTURE: ("采样时间晚于当前时间", "sampled in the future"),
    # field messages
    Msg.REQUIRED: ("请填写此项", "required"),
    Msg.CHOOSE_ONE: ("请选择一项", "choose one"),
    Msg.ONE_OF: ("应为以下之一：{choices}", "one of {choices}"),
    Msg.LENGTH_1_64: ("1–64 个字符", "1–64 characters"),
    Msg.NAME_CHARS: ("1–30 个字符：汉字、拉丁字母、空格或间隔号 ·",
                     "1–30 characters: Chinese, Latin letters, spaces, the middle dot ·"),
    Msg.NAME_NOT_RECORD: ("与该身份证号登记的姓名不符", "does not match the ID number's record"),
    Msg.ID_LENGTH: ("应为 18 位：17 位数字，最后一位是数字或 X", "must be 18 characters: 17 digits, then a digit or X"),
    Msg.ID_NOT_RIGHT: ("身份证号码有误，请核对", "the ID number is not right; please check it"),
    Msg.PHONE_CN_MOBILE: ("应为中国大陆手机号", "must be a mainland China mobile number"),
    Msg.PHONE_SMS_REFUSED: ("短信服务商不接受此号码", "the SMS provider does not accept this number"),
    Msg.SELF_OR_FAMILY: ("应为 self（本人）或 family（家人）", "self or family"),
    Msg.OR_PERSON_ID: ("或填写 person_id", "or person_id"),
    Msg.USERNAME_CHARS: ("3–32 个字符：以小写字母开头，可含小写字母、数字及 . _ -",
                         "3–32 characters: a lowercase letter, then lowercase letters, digits, . _ -"),
    Msg.PLATFORM_NOT_ENABLED: ("未启用：{name}", "not enabled: {name}"),
    Msg.POLICY_DECIDES_UNTIL: ("该类型何时解除由赋码政策决定，请勿填写结束时间",
                               "the policy decides when this kind ends; omit until"),
    Msg.SINCE_RANGE: ("应在 2019-12-01 至明天之间", "must be between 2019-12-01 and tomorrow"),
    Msg.UNTIL_RANGE: ("最多为一年之后；无结束时间请留空", "at most one year ahead; omit it for no end"),
    Msg.AFTER_SINCE: ("须晚于开始时间", "must be after since"),
    Msg.IN_FUTURE: ("晚于当前时间", "is in the future"),
    Msg.NEGATIVE_OR_POSITIVE: ("应为 negative（阴性）或 positive（阳性）", "negative or positive"),
    Msg.PLACE_NAME: ("1–64 个字符：各种文字的字母和数字、单个空格及 . : · ( ) # / - _",
                     "1–64 characters: letters and digits of any script, single spaces, . : · ( ) # / - _"),
    Msg.PHONE_OR_PROOF: ("请填写手机号，或授权平台提供手机号（二选一）",
                         "give the phone, or the platform's phone authorization (one of the two)"),
    Msg.CONSENT_REQUIRED: ("请先阅读并同意申领须知", "read and agree to the notice first"),
    Msg.CONSENT_CURRENT: ("请勾选同意当前版本的申领须知", "tick the box to agree to the current notice"),
    Msg.FREE_TEXT_CHARS: ("不能包含控制字符或文字方向控制符", "no control characters or bidirectional controls"),
    # the HTTP edge
    Msg.REQUEST_INVALID: ("请求内容有误", "the request is not valid"),
    Msg.STORE_UNAVAILABLE: ("数据服务暂时不可用，请稍后重试", "the data store is unavailable; try again shortly"),
    Msg.INTERNAL: ("服务器内部错误", "an unexpected error occurred"),
    Msg.BAD_REQUEST: ("请求有误", "bad request"),
    Msg.NOT_FOUND: ("未找到", "not found"),
    Msg.METHOD_NOT_ALLOWED: ("不支持该请求方法", "method not allowed"),
    Msg.PAYLOAD_TOO_LARGE: ("请求体过大", "request body too large"),
    Msg.UNSUPPORTED_MEDIA_TYPE: ("不支持的内容类型", "unsupported media type"),
    Msg.HTTP_ERROR: ("请求无法处理", "the request cannot be handled"),
    # marshmallow's and webargs' messages
    Msg.FIELD_UNKNOWN: ("不允许的字段", "Unknown field."),
    Msg.FIELD_MISSING: ("缺少必填字段", "Missing data for required field."),
    Msg.FIELD_NULL: ("不能为空", "Field may not be null."),
    Msg.NOT_A_STRING: ("应为字符串", "Not a valid string."),
    Msg.NOT_A_BOOLEAN: ("应为布尔值", "Not a valid boolean."),
    Msg.NOT_AN_INTEGER: ("应为整数", "Not a valid integer."),
    Msg.NOT_A_DATETIME: ("日期时间格式不正确", "Not a valid datetime."),
    Msg.NOT_AWARE_DATETIME: ("日期时间须带时区", "Not a valid aware datetime."),
    Msg.PATTERN_MISMATCH: ("格式不正确", "String does not match expected pattern."),
    Msg.INVALID_INPUT_TYPE: ("输入类型不正确", "Invalid input type."),
    Msg.INVALID_JSON: ("请求体不是有效的 JSON", "Invalid JSON body."),
    Msg.LENGTH_BETWEEN: ("长度应在 {min} 到 {max} 之间", "Length must be between {min} and {max}."),
}

# marshmallow's and webargs' English texts, by the key they get.
_THIRD_PARTY = {TEXTS[key][1]: key for key in (
    Msg.FIELD_UNKNOWN, Msg.FIELD_MISSING, Msg.FIELD_NULL, Msg.NOT_A_STRING, Msg.NOT_A_BOOLEAN, Msg.NOT_AN_INTEGER,
    Msg.NOT_A_DATETIME, Msg.NOT_AWARE_DATETIME, Msg.PATTERN_MISMATCH, Msg.INVALID_INPUT_TYPE, Msg.INVALID_JSON,
)}
_KEYS = {key.value: key for key in Msg}
_THIRD_PARTY_PATTERNS = [
    (re.compile(r"^Must be one of: (?P<choices>.+)\.$"), Msg.ONE_OF),
    (re.compile(r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$"), Msg.LENGTH_BETWEEN),
]
_BY_STATUS = {
    400: Msg.BAD_REQUEST,
    404: Msg.NOT_FOUND,
    405: Msg.METHOD_NOT_ALLOWED,
    413: Msg.PAYLOAD_TOO_LARGE,
    415: Msg.UNSUPPORTED_MEDIA_TYPE,
    429: Msg.RATE_LIMITED,
}


def wants_english() -> bool:
    if request.path.startswith("/console/"):
        return False  # the console's pages are Chinese, whatever the office's browser asks for
    lang = request.args.get("lang") or request.headers.get("Accept-Language", "")
    return lang.strip().lower().startswith("en")


def for_status(status: int) -> Msg:
    """The key of an HTTP error the framework raised (404, 405, …)."""
    return _BY_STATUS.get(status, Msg.HTTP_ERROR)


def localize(message: str) -> str:
    """The text of a message key (a Msg, a Message with params, or marshmallow's English) in
    the client's language; a text without a key passes unchanged."""
    return text_in(message, english=wants_english())


def text_in(message: str, english: bool) -> str:
    """As localize(), in the language asked for (the CLI's is English)."""
    params: dict[str, str] = dict(getattr(message, "params", {}))
    key = _KEYS.get(str(message)) or _THIRD_PARTY.get(message)
    if key is None:
        for pattern, pattern_key in _THIRD_PARTY_PATTERNS:
            found = pattern.match(message)
            if found:
                key, params = pattern_key, found.groupdict()
                break
    if key is None:
        return message
    zh, en = TEXTS[key]
    return (en if english else zh).format(**params)


def localize_fields(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: [localize(message) for message in messages] for name, messages in fields.items()}
