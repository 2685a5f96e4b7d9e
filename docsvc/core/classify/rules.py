"""The rules: cue terms of the specification's own vocabulary, per target, with weights (see
the package's docstring). They know the built-in document types and service categories."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from docsvc.core import text as textmod
from docsvc.core.classify.labels import FALLBACK, Label, Target

# A cue in the title zone weighs this many times a cue in the body.
TITLE_WEIGHT = 4.0
# Occurrences of one cue in the body count up to this many times.
BODY_CAP = 3
# Softmax temperature turning rule scores into confidences. Minimising log loss on the train
# split (bench/eval_classify.py --fit-temperature) gives 2.5 and 1.5; the rules were written
# with those documents in view, so confidences fitted there would be too sure of new ones, and
# we keep the temperatures higher.
TEMPERATURE = {"doc_type": 3.0, "service_category": 2.5}
# "other" has no vocabulary of its own: it wins when no other type has this much evidence.
OTHER_PRIOR = 3.0

# Cue tables: label -> {term: weight}. Terms are matched on normalised text (NFKC, lowercase);
# ASCII terms only as whole words. Weights: 3 = names the label on its own, 2 = typical,
# 1 = supporting. Title-zone matches are multiplied by TITLE_WEIGHT.
DOC_TYPE_CUES: dict[str, dict[str, float]] = {
    "contract": {
        "合同": 3,
        "合同书": 3,
        "协议书": 3,
        "协议": 2,
        "联合运营协议": 3,
        "补充协议": 2,
        "甲方": 1,
        "乙方": 1,
        "委托方": 1,
        "受托方": 1,
        "发包人": 1,
        "承包人": 1,
        "违约": 2,
        "违约责任": 2,
        "违约金": 2,
        "争议解决": 2,
        "争议": 1,
        "仲裁": 2,
        "人民法院": 2,
        "不可抗力": 2,
        "本合同": 2,
        "签字盖章": 1,
        "盖章": 1,
        "生效": 1,
        "一式": 1,
        "合同价款": 2,
        "合同总价": 2,
        "付款方式": 1,
        "支付方式": 1,
        "知识产权": 1,
        "保密义务": 1,
        "权利和义务": 2,
    },
    "sla": {
        "服务等级协议": 3,
        "服务级别协议": 3,
        "服务水平协议": 3,
        "sla": 3,
        "服务水平约定": 3,
        "服务标准约定": 3,
        "服务水平要求": 3,
        "服务等级": 2,
        "服务级别": 2,
        "服务水平": 1,
        "可用性": 2,
        "可用率": 1,
        "响应时间": 2,
        "响应时限": 2,
        "解决时间": 2,
        "恢复时间": 2,
        "响应": 1,
        "服务时间": 1,
        "服务指标": 1,
        "考核": 1,
        "扣减": 2,
        "赔偿": 1,
        "补偿": 1,
        "赔付": 1,
        "达标": 1,
        "本协议": 2,
        "p1": 1,
        "p2": 1,
        "优先级": 1,
        "计划维护": 2,
        "不计入": 1,
        "复审": 1,
        "修订": 1,
    },
    "service_plan": {
        "计划": 3,
        "方案": 3,
        "规划": 3,
        "实施细则": 3,
        "服务管理计划": 3,
        "实施方案": 3,
        "工作方案": 3,
        "保障方案": 3,
        "服务方案": 3,
        "培训方案": 3,
        "目标": 1,
        "工作目标": 2,
        "建设目标": 1,
        "服务目标": 1,
        "实施步骤": 2,
        "进度安排": 2,
        "工作安排": 2,
        "时间安排": 2,
        "里程碑": 1,
        "阶段": 1,
        "人员分工": 2,
        "职责": 1,
        "组织机构": 1,
        "项目组织": 2,
        "风险": 1,
        "保障措施": 2,
        "应急预案": 1,
        "应急处置": 1,
        "质量控制": 1,
        "质量保证": 1,
        "工作制度": 1,
        "拟": 1,
    },
    "change_request": {
        "变更申请": 3,
        "变更单": 3,
        "变更请求": 3,
        "变更申请单": 3,
        "变更申请表": 3,
        "紧急变更": 3,
        "需求变更": 3,
        "rfc": 3,
        "变更": 2,
        "调整申请": 3,
        "范围调整": 2,
        "调整": 1,
        "要改": 1,
        "变更原因": 2,
        "变更内容": 2,
        "变更理由": 2,
        "变更类型": 2,
        "影响分析": 2,
        "影响评估": 2,
        "影响范围": 1,
        "影响": 1,
        "回退": 2,
        "回退方案": 2,
        "回滚": 2,
        "回退措施": 2,
        "审批": 1,
        "申请人": 1,
        "申请": 1,
        "工作量": 1,
        "人天": 1,
        "顺延": 1,
        "实施时间": 1,
    },
    "acceptance_report": {
        "验收报告": 3,
        "验收单": 3,
        "验收意见": 3,
        "验收确认": 3,
        "验收确认单": 3,
        "验收确认书": 3,
        "验收意见书": 3,
        "初步验收": 3,
        "竣工验收": 3,
        "验收": 2,
        "竣工验收报告": 3,
        "初步验收报告": 3,
        "终验报告": 3,
        "验收组": 2,
        "验收小组": 2,
        "验收结论": 3,
        "同意验收": 3,
        "通过验收": 3,
        "同意通过": 1,
        "验收依据": 2,
        "交付物": 1,
        "交付内容": 1,
        "试运行": 1,
        "抽检": 1,
        "遗留": 1,
        "整改": 1,
    },
    "meeting_minutes": {
        "会议纪要": 3,
        "纪要": 3,
        "会议记录": 3,
        "例会": 3,
        "会议": 2,
        "协调会": 3,
        "评审会": 3,
        "启动会": 3,
        "推进会": 3,
        "复盘会": 3,
        "沟通会": 3,
        "专题会": 3,
        "周会": 3,
        "电话会": 3,
        "筹备会": 3,
        "汇报会": 3,
        "访谈记录": 3,
        "参会": 2,
        "参会人员": 2,
        "与会": 2,
        "出席": 2,
        "参加": 1,
        "主持": 2,
        "主持人": 2,
        "记录人": 2,
        "记录": 1,
        "议定": 2,
        "会议决定": 2,
        "下次会议": 2,
        "会议时间": 2,
        "会议地点": 2,
        "议题": 1,
        "会议认为": 2,
        "会议要求": 2,
        "与会各方": 2,
    },
    "report": {
        "报告": 3,
        "月报": 3,
        "周报": 3,
        "季报": 3,
        "年报": 3,
        "总结": 3,
        "分析报告": 3,
        "工作总结": 3,
        "运行情况": 2,
        "进展": 2,
        "简报": 3,
        "本月": 2,
        "本周": 2,
        "本季度": 2,
        "本期": 1,
        "报告期": 2,
        "环比": 2,
        "同比": 2,
        "统计": 1,
        "累计": 1,
        "下月": 2,
        "下季度": 2,
        "下阶段": 1,
        "完成情况": 2,
        "特此报告": 3,
        "存在问题": 1,
        "问题与建议": 2,
        "改进建议": 1,
        "结论": 1,
    },
    "other": {
        "通知": 2,
        "通知单": 3,
        "签到表": 3,
        "登记表": 3,
        "记录表": 3,
        "申请表": 2,
        "指导书": 3,
        "作业指导书": 3,
        "说明书": 2,
        "需求规格说明书": 3,
        "接口说明": 3,
        "手册": 2,
        "操作指南": 3,
        "指南": 2,
        "提纲": 3,
        "证明": 2,
        "签收单": 3,
        "清单": 2,
        "排班表": 3,
        "日志": 2,
        "监理日志": 3,
        "缺陷报告单": 3,
        "授权证明": 3,
    },
}

CATEGORY_CUES: dict[str, dict[str, float]] = {
    "4.1": {
        "系统集成": 3,
        "信息系统集成": 3,
        "集成项目": 3,
        "集成服务": 3,
        "集成": 2,
        "综合布线": 3,
        "弱电": 3,
        "智能化": 2,
        "机房建设": 3,
        "网络设备": 1,
        "交换机": 1,
        "核心交换机": 2,
        "设备清单": 2,
        "设备到货": 2,
        "到货": 1,
        "安装调试": 1,
        "联调": 1,
        "互联互通": 2,
        "割接": 2,
        "承建单位": 1,
        "硬件平台": 2,
        "网络拓扑": 2,
        "竣工": 1,
        "虚拟化": 1,
        "上架": 1,
        "无线ap": 2,
        "ap": 1,
        "跨厂商": 3,
        "多协议": 2,
        "互操作": 3,
        "体系结构": 1,
        "整合": 1,
    },
    "4.2": {
        "运维": 3,
        "运行维护": 3,
        "运营和维护": 3,
        "运维服务": 3,
        "巡检": 2,
        "监控": 1,
        "监测": 1,
        "预警": 2,
        "告警": 1,
        "故障": 1,
        "故障处理": 2,
        "事件": 1,
        "应急": 1,
        "值守": 2,
        "值班": 2,
        "服务台": 2,
        "可用率": 1,
        "备份": 1,
        "驻场": 1,
        "机房": 1,
        "ups": 1,
        "精密空调": 2,
        "itsm": 2,
        "p1": 1,
        "重要时期保障": 3,
        "运行保障": 3,
    },
    "4.3.1": {
        "基础软件": 3,
        "操作系统": 3,
        "中间件": 3,
        "系统软件": 3,
        "支撑软件": 3,
        "工具软件": 3,
        "数据库管理系统": 3,
        "麒麟": 3,
        "统信": 3,
        "uos": 2,
        "达梦": 3,
        "oracle": 1,
        "weblogic": 2,
        "tongweb": 3,
        "国产化": 2,
        "信创": 3,
        "原厂": 2,
        "许可": 1,
        "授权": 1,
        "补丁": 1,
        "维保": 1,
        "jvm": 1,
    },
    "4.3.2": {
        "应用软件": 3,
        "除基础软件外": 3,
        "专业领域": 2,
        "管理软件": 3,
        "erp": 3,
        "oa": 2,
        "协同办公": 3,
        "财务软件": 3,
        "his": 2,
        "saas": 3,
        "软件即服务": 3,
        "电子病历": 1,
        "实施顾问": 2,
        "关键用户": 2,
        "模块": 1,
        "上线": 1,
        "用户数": 1,
        "蓝图": 1,
        "应用系统": 1,
        "软件产品": 1,
    },
    "4.3.3": {
        "定制": 3,
        "定制开发": 3,
        "定制软件": 3,
        "软件开发": 2,
        "委托开发": 3,
        "技术开发": 3,
        "开发": 1,
        "需求规格说明书": 2,
        "源代码": 2,
        "迭代": 2,
        "小程序": 2,
        "原型": 2,
        "编码": 1,
        "接口开发": 1,
        "著作权": 1,
        "需求变更": 1,
        "前端": 1,
        "后端": 1,
    },
    "4.4": {
        "数据录入": 3,
        "录入": 2,
        "数据加工": 3,
        "数据处理": 2,
        "加工": 1,
        "呼叫中心": 3,
        "座席": 3,
        "话务": 3,
        "热线": 2,
        "数据中心服务": 3,
        "托管": 2,
        "机柜": 2,
        "idc": 3,
        "数字化加工": 3,
        "扫描": 2,
        "著录": 2,
        "cad": 2,
        "dtp": 3,
        "ocr": 2,
        "标注": 1,
        "接通率": 3,
    },
    "4.5": {
        "内容和增值服务": 3,
        "网络游戏": 3,
        "游戏": 2,
        "动漫": 3,
        "动画": 2,
        "搜索引擎": 3,
        "电子邮件": 3,
        "邮箱": 2,
        "电子公告": 3,
        "新闻": 2,
        "内容运营": 3,
        "新媒体": 2,
        "公众号": 1,
        "防沉迷": 3,
        "网站": 1,
        "短视频": 2,
        "发布": 1,
        "稿件": 2,
    },
    "4.6": {
        "数据库服务": 3,
        "数据资源": 3,
        "数据收集": 3,
        "数据采集": 2,
        "数据存储": 2,
        "联机数据库": 3,
        "数据归集": 3,
        "数据共享": 2,
        "专题数据库": 3,
        "元数据": 2,
        "数据治理": 2,
        "数据质量": 2,
        "基础库": 2,
        "数据接口": 1,
        "数据库": 1,
    },
    "4.7": {
        "电子商务": 3,
        "电商": 3,
        "网上商城": 3,
        "商城": 2,
        "交易": 1,
        "支付": 2,
        "结算": 1,
        "订单": 1,
        "商家": 2,
        "店铺": 2,
        "网店": 3,
        "选购": 2,
        "交易凭证": 3,
        "商情": 3,
        "广告": 1,
        "gmv": 3,
        "大促": 3,
        "满减": 3,
        "秒杀": 2,
        "代运营": 3,
    },
    "4.8": {
        "监理": 3,
        "信息化工程监理": 3,
        "监理单位": 3,
        "总监理工程师": 3,
        "监理工程师": 3,
        "旁站": 3,
        "监理通知单": 3,
        "监理规划": 3,
        "监理月报": 3,
        "四控三管一协调": 3,
        "建设单位": 1,
        "承建单位": 1,
    },
    "4.9.1": {
        "软件测试": 3,
        "测试服务": 3,
        "测试": 2,
        "测试用例": 3,
        "缺陷": 2,
        "性能测试": 3,
        "功能测试": 3,
        "回归测试": 3,
        "测评": 1,
        "压测": 2,
        "测试报告": 3,
        "安全测试": 2,
        "渗透测试": 1,
        "用例": 2,
    },
    "4.9.2": {
        "咨询": 3,
        "咨询服务": 3,
        "咨询方": 3,
        "顾问": 2,
        "诊断": 2,
        "调研": 1,
        "访谈": 2,
        "建议": 1,
        "评估": 1,
        "差距分析": 3,
        "蓝图": 1,
        "成熟度": 2,
        "规划": 1,
        "辅导": 2,
    },
    "4.9.3": {
        "培训": 3,
        "教育": 2,
        "认证培训": 3,
        "职业培训": 3,
        "基础培训": 3,
        "学员": 3,
        "讲师": 3,
        "课程": 2,
        "学时": 3,
        "实训": 3,
        "结业": 3,
        "签到": 1,
        "授课": 3,
    },
}


@dataclass(frozen=True)
class _CueTable:
    """A cue table compiled into one regex: alternatives longest first, so at any position the
    longest cue wins and a shorter cue inside it is not counted again."""

    pattern: re.Pattern[str]
    weights: dict[str, dict[str, float]]  # term -> {label: weight}


def _compile(cues: Mapping[str, Mapping[str, float]]) -> _CueTable:
    weights: dict[str, dict[str, float]] = {}
    for label, terms in cues.items():
        for term, w in terms.items():
            weights.setdefault(textmod.normalize(term), {})[label] = float(w)
    alternatives = []
    for term in sorted(weights, key=lambda t: (-len(t), t)):
        alt = re.escape(term)
        if term.isascii():
            # "oa" must not match inside "load". The look-behind comes after the term: when
            # every alternative starts with a literal, the regex engine skips the positions no
            # cue starts at (eight times faster than trying each alternative everywhere).
            alt = rf"{alt}(?<![a-z0-9]{alt})(?![a-z0-9])"
        alternatives.append(alt)
    return _CueTable(re.compile("|".join(alternatives)), weights)


_TABLES: dict[Target, _CueTable] = {
    "doc_type": _compile(DOC_TYPE_CUES),
    "service_category": _compile(CATEGORY_CUES),
}
LABELS: dict[Target, tuple[str, ...]] = {
    "doc_type": tuple(DOC_TYPE_CUES),
    "service_category": tuple(CATEGORY_CUES),
}

_SUBJECT_RE = re.compile(r"^\s*(?:主题|标题|subject|事由)\s*[:：]\s*(.+)$", re.IGNORECASE | re.MULTILINE)
# A parenthesised part of a title qualifies it, it does not name the kind: 服务等级协议（合同附件二）
# is an SLA, 运维月报（2024年5月） a report.
_QUALIFIER_RE = re.compile(r"[（(][^（()）]*[）)]")
_HEADING_MAX = 60


def zones(title: str, head: str) -> tuple[str, str]:
    """(title zone, body), both normalised. The title zone is the title, the document's first
    non-empty line when it is short enough to be a heading, and an e-mail subject line near the
    top, without parenthesised qualifiers, which join the body."""
    parts = [title]
    for line in head.splitlines():
        if line.strip():
            if len(line.strip()) <= _HEADING_MAX:
                parts.append(line.strip())
            break
    m = _SUBJECT_RE.search(head[:1000])
    if m:
        parts.append(m.group(1).strip())
    zone = textmod.normalize("\n".join(dict.fromkeys(p for p in parts if p)))
    body = textmod.normalize(head)
    moved = [q for q in _QUALIFIER_RE.findall(zone) if q not in body]
    return _QUALIFIER_RE.sub(" ", zone), "\n".join([*moved, body])


@dataclass(frozen=True)
class RuleResult:
    scores: dict[str, float]
    contributions: dict[str, dict[str, float]]  # label -> term -> score


def rule_scores(target: Target, title_zone: str, body: str) -> RuleResult:
    table = _TABLES[target]
    contrib: dict[str, dict[str, float]] = {label: {} for label in LABELS[target]}
    for term in {m.group() for m in table.pattern.finditer(title_zone)}:
        for label, w in table.weights[term].items():
            contrib[label][term] = contrib[label].get(term, 0.0) + TITLE_WEIGHT * w
    counts: dict[str, int] = {}
    for m in table.pattern.finditer(body):
        counts[m.group()] = counts.get(m.group(), 0) + 1
    for term, n in counts.items():
        for label, w in table.weights[term].items():
            contrib[label][term] = contrib[label].get(term, 0.0) + w * min(n, BODY_CAP)
    scores = {label: sum(terms.values()) for label, terms in contrib.items()}
    if target == "doc_type":
        scores["other"] += OTHER_PRIOR
    return RuleResult(scores, contrib)


def softmax(scores: Mapping[str, float], temperature: float) -> dict[str, float]:
    top = max(scores.values())
    exps = {k: math.exp((v - top) / temperature) for k, v in scores.items()}
    total = sum(exps.values())
    return {k: v / total for k, v in exps.items()}


def rules_label(target: Target, result: RuleResult) -> tuple[Label, dict[str, float]]:
    """The rules' label and their probability for every label."""
    probs = softmax(result.scores, TEMPERATURE[target])
    if not any(result.contributions.values()):
        # Nothing in the text speaks for any label: say so rather than guess confidently.
        return Label(FALLBACK[target], 0.0, (), "rules"), probs
    value = max(result.scores, key=lambda k: (result.scores[k], k == FALLBACK[target]))
    return Label(value, probs[value], _top_terms(result.contributions[value]), "rules"), probs


def _top_terms(contrib: Mapping[str, float], n: int = 5) -> tuple[str, ...]:
    return tuple(t for t, _ in sorted(contrib.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
