"""Suggest a document's type and service category (spec §4), and the project it belongs to.

Two sources of suggestions:

* **Rules** built from the specification's own vocabulary: each target has a table of cue terms
  with weights. A cue found in the title zone (the title, the document's first line, an e-mail
  subject) counts :data:`TITLE_WEIGHT` times, because people name documents after their kind
  (…合同, …纪要, …验收报告); a cue in the body counts once per occurrence, capped, so that a long
  document cannot win on repetition alone. Overlapping cues resolve longest first, so 服务等级协议
  is an SLA and not a 协议 (contract), and 验收报告 is not a plain 报告. Scores become
  confidences through a softmax (see :data:`TEMPERATURE`). The rules know the built-in doc
  types; an organisation's own types are learnt by the model.
* **A model** learnt from confirmed labels (:func:`train`): character 1–3-grams beside the
  analyzer's words (:func:`docsvc.core.text.words`, title words also kept apart), weighed by
  TF-IDF or by term frequency alone, whichever held-out folds of the labels find more accurate,
  and a linear SVM per class. Its scores become confidences on held-out folds too (a
  temperature), where it is also measured how far the rules' opinion should move the model's
  (:func:`_calibrate`). Labels are free strings: the built-in types and categories, an
  organisation's own types, or any set of a few to a few hundred classes. A target's model
  exists only when it was trained on enough samples.

Everything here is pure and synchronous: the caller decides when to train, where to store the
model (:func:`save` / :func:`load`) and when to retrain (:func:`needs_retrain`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import pickle
import re
import tempfile
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from itertools import count, repeat
from pathlib import Path
from typing import Any, Literal

import numpy as np

from docsvc.core import text as textmod
from docsvc.errors import InvalidInput

# Bump when the Model layout, the features or the blending change: load() then refuses old
# files and needs_retrain() says so.
MODEL_VERSION = 2
# The features depend on the analyzer (jieba + domain dictionary) as well as on this module.
FEATURES_VERSION = f"clf-features-2/{textmod.ANALYZER_VERSION}"

# Classify on the head of the text: the kind and the subject of a document show in its first
# pages, and jieba over a 300-page PDF would cost seconds for no gain.
HEAD_CHARS = 20_000
# Below this confidence on either target the suggestion should be confirmed by a person.
REVIEW_THRESHOLD = 0.6
# A target's model is trained only with at least this many labelled samples and two classes;
# with fewer, logistic regression over thousands of features mostly memorises.
MIN_TRAIN_SAMPLES = 30

Source = Literal["rules", "model"]
Target = Literal["doc_type", "service_category"]
TARGETS: tuple[Target, ...] = ("doc_type", "service_category")

# What the rules answer when they find no cue at all (with confidence 0).
FALLBACK = {"doc_type": "other", "service_category": "4.9"}


# --- public values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """One suggested value with how sure we are and why."""

    value: str
    confidence: float  # 0..1
    terms: tuple[str, ...]  # the words that drove it, strongest first
    source: Source

    def to_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "confidence": round(self.confidence, 3),
            "terms": list(self.terms),
            "source": self.source,
        }


@dataclass(frozen=True)
class Suggestion:
    """What :func:`suggest` proposes for one document; a person confirms or corrects it."""

    doc_type: Label
    service_category: Label
    project: str | None = None

    @property
    def needs_review(self) -> bool:
        return min(self.doc_type.confidence, self.service_category.confidence) < REVIEW_THRESHOLD

    def to_dict(self) -> dict[str, object]:
        return {
            "doc_type": self.doc_type.to_dict(),
            "service_category": self.service_category.to_dict(),
            "project": self.project,
            "needs_review": self.needs_review,
        }


@dataclass(frozen=True)
class LabeledSample:
    """A document whose labels a person confirmed. A label left ``None`` was not confirmed and
    is not trained on. ``key`` identifies the document for :func:`labels_fingerprint` (e.g. the
    catalog id); without it the text's hash is used."""

    text: str
    title: str = ""
    doc_type: str | None = None
    service_category: str | None = None
    key: str = ""


# --- rules -----------------------------------------------------------------------------------

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
_LABELS: dict[Target, tuple[str, ...]] = {
    "doc_type": tuple(DOC_TYPE_CUES),
    "service_category": tuple(CATEGORY_CUES),
}

_SUBJECT_RE = re.compile(r"^\s*(?:主题|标题|subject|事由)\s*[:：]\s*(.+)$", re.IGNORECASE | re.MULTILINE)
# A parenthesised part of a title qualifies it, it does not name the kind: 服务等级协议（合同附件二）
# is an SLA, 运维月报（2024年5月） a report.
_QUALIFIER_RE = re.compile(r"[（(][^（()）]*[）)]")
_HEADING_MAX = 60


def _zones(title: str, head: str) -> tuple[str, str]:
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
class _RuleResult:
    scores: dict[str, float]
    contributions: dict[str, dict[str, float]]  # label -> term -> score


def _rule_scores(target: Target, title_zone: str, body: str) -> _RuleResult:
    table = _TABLES[target]
    contrib: dict[str, dict[str, float]] = {label: {} for label in _LABELS[target]}
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
    return _RuleResult(scores, contrib)


def _softmax(scores: Mapping[str, float], temperature: float) -> dict[str, float]:
    top = max(scores.values())
    exps = {k: math.exp((v - top) / temperature) for k, v in scores.items()}
    total = sum(exps.values())
    return {k: v / total for k, v in exps.items()}


def _rules_label(target: Target, result: _RuleResult) -> tuple[Label, dict[str, float]]:
    """The rules' label and their probability for every label."""
    probs = _softmax(result.scores, TEMPERATURE[target])
    if not any(result.contributions.values()):
        # Nothing in the text speaks for any label: say so rather than guess confidently.
        return Label(FALLBACK[target], 0.0, (), "rules"), probs
    value = max(result.scores, key=lambda k: (result.scores[k], k == FALLBACK[target]))
    return Label(value, probs[value], _top_terms(result.contributions[value]), "rules"), probs


def _top_terms(contrib: Mapping[str, float], n: int = 5) -> tuple[str, ...]:
    return tuple(t for t, _ in sorted(contrib.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


# --- features and model ----------------------------------------------------------------------

# The model reads the title and this much of the text: a document's kind and subject show on
# its first page or two, and the features cost about 2 ms per thousand characters, which a
# suggestion (20 ms) and a training run over thousands of documents (60 s for 5,000) must
# afford.
MODEL_HEAD_CHARS = 2000
# Character n-grams carry short texts (a title, a one-line request, an app description) and
# need no dictionary, so an organisation's own jargon counts from its first use; jieba's words
# add whole terms, and the title's words count a second time, marked, because people name
# documents after their kind and subject.
CHAR_NGRAMS = (1, 3)
# The word block's weight beside the character block (each block has unit length): 0.7 had
# the best mean over eight sets of bench/eval_classify.py --grid (1.0 and 0.5 each did best
# on some).
WORD_WEIGHT = 0.7
# The model keeps one float32 weight per class and feature, so the vocabulary is capped (the
# features in most documents are kept): 20 classes × 300,000 features take 24 MB.
MAX_CHAR_FEATURES = 200_000
MAX_WORD_FEATURES = 100_000


@dataclass(frozen=True)
class Weighting:
    """How features are weighed and how hard the SVM may fit them.

    ``idf``: TF-IDF, or term frequency alone. Inverse document frequency says a rare feature
    says more, which holds where classes are topics (news, disciplines: rare terms name them)
    and fails where they are forms (contracts, minutes, reports: the signal is in common words
    like 甲方, 会议, 本月, and idf drowns it in rare names and numbers). Cross-validation over
    several sets found neither right everywhere, so each training run tries both on held-out
    folds and keeps the better. ``c``: the SVM's C for that weighting (without idf the features
    of a document are spread over common words, and it wants a looser fit)."""

    idf: bool
    c: float


WEIGHTINGS: tuple[Weighting, ...] = (Weighting(idf=True, c=0.5), Weighting(idf=False, c=1.0))
# Held-out folds: the training set is cut into this many folds (each class spread over them)
# and a model trained without a fold scores it, fold after fold until CALIBRATION_ROWS
# documents have been scored (past a thousand, more rows hardly move what is fitted on them,
# and each fold costs a training). On them: the weighting is chosen, and the confidences are
# calibrated.
CALIBRATION_FOLDS = 5
CALIBRATION_ROWS = 1000
# Candidate temperatures and rule weights for the calibration (see _calibrate).
_TEMPERATURES = tuple(0.01 * 1.2**i for i in range(32))  # 0.01 … 2.8
_RULE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def _doc(text: str, title: str) -> tuple[str, str]:
    return (title or "", (text or "")[:MODEL_HEAD_CHARS])


_SPACE_RE = re.compile(r"\s+")
# A character n-gram is one integer: each code point + 1 in 21 bits (Unicode ends below 2**21),
# the first character highest, so 1-, 2- and 3-grams never share a number and the analysis
# runs in numpy. Counting n-gram strings in Python dictionaries took most of a training run.
_CHAR_BITS = 21
_CHAR_MASK = (1 << _CHAR_BITS) - 1
_START, _END = "\x02", "\x03"  # control characters, which text hardly ever contains


def _char_grams(doc: tuple[str, str]) -> tuple[Any, Any]:
    """The character n-grams of the title and the text (normalised, a run of white space as
    one space): their numbers, sorted and distinct, and their counts. The text is framed by
    two marks, so the n-grams that start or end it are features of their own: how a short
    text begins and ends (…府, …县, a question mark) tells its kind (+0.5 to +1.5 points on
    the short sets of bench/eval_classify.py)."""
    s = _START + _SPACE_RE.sub(" ", textmod.normalize(f"{doc[0]}\n{doc[1]}")).strip() + _END
    codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1
    lo, hi = CHAR_NGRAMS
    grams = []
    for n in range(lo, hi + 1):
        if len(codes) >= n:
            g = codes[: len(codes) - n + 1].copy()
            for i in range(1, n):
                g = (g << np.uint64(_CHAR_BITS)) | codes[i : len(codes) - n + 1 + i]
            grams.append(g)
    return np.unique(np.concatenate(grams) if grams else codes, return_counts=True)


def _gram_text(gram: int) -> str:
    chars = []
    while gram:
        chars.append(chr((gram & _CHAR_MASK) - 1))
        gram >>= _CHAR_BITS
    return "".join(reversed(chars))


def _word_features(doc: tuple[str, str]) -> list[str]:
    """The analyzer's words of the title and the text, and the title's words again marked
    ``t:`` (a word in the title says more than the same word in the body)."""
    title, body = doc
    title_words = textmod.words(title)
    return [f"t:{w}" for w in title_words] + title_words + textmod.words(body)


def _top(df: Any, max_features: int) -> Any:
    """The features in most documents, in their original order: a feature seen once says
    little about a class."""
    if len(df) <= max_features:
        return np.arange(len(df))
    return np.sort(np.argsort(-df, kind="stable")[:max_features])


def _tf_rows(lengths: Sequence[int], cols: Any, tf: Any, n_features: int) -> Any:
    """CSR rows of sublinear term frequencies (1 + log tf) from each document's (column,
    count) pairs; column -1 is a feature outside the vocabulary."""
    import scipy.sparse

    row = np.repeat(np.arange(len(lengths)), lengths)
    known = cols >= 0
    row, cols = row[known], cols[known]
    data = 1 + np.log(tf[known].astype(np.float32))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=len(lengths)))])
    x = scipy.sparse.csr_matrix((data, cols, indptr), shape=(len(lengths), n_features))
    x.sort_indices()
    return x


def _idf(df: Any, n_docs: int) -> Any:
    """scikit-learn's smoothed idf."""
    return (np.log((1 + n_docs) / (1 + df.astype(np.float64))) + 1).astype(np.float32)


@dataclass(frozen=True)
class _CharBlock:
    grams: Any  # sorted gram numbers (uint64); a gram's column is its position
    idf: Any  # float32 per column

    @classmethod
    def fit(cls, analysed: Sequence[tuple[Any, Any]], max_features: int) -> tuple[_CharBlock, Any]:
        """The block and the documents' term-frequency rows."""
        all_ids = np.concatenate([ids for ids, _ in analysed])
        grams, df = np.unique(all_ids, return_counts=True)
        kept = _top(df, max_features)
        block = cls(grams[kept], _idf(df[kept], len(analysed)))
        return block, block.rows(analysed, all_ids)

    def rows(self, analysed: Sequence[tuple[Any, Any]], all_ids: Any = None) -> Any:
        if all_ids is None:
            all_ids = np.concatenate([ids for ids, _ in analysed])
        cols = np.searchsorted(self.grams, all_ids)
        cols[cols == len(self.grams)] = 0
        cols = np.where(self.grams[cols] == all_ids, cols, -1)
        tf = np.concatenate([t for _, t in analysed])
        return _tf_rows([len(ids) for ids, _ in analysed], cols, tf, len(self.grams))


@dataclass(frozen=True)
class _WordBlock:
    vocabulary: dict[str, int]  # word → column
    idf: Any

    @classmethod
    def fit(cls, counts: Sequence[Counter[str]], max_features: int) -> tuple[_WordBlock, Any]:
        """The block and the documents' term-frequency rows."""
        ids: defaultdict[str, int] = defaultdict(count().__next__)  # a new word: the next number
        cols: list[int] = []
        for c in counts:
            cols.extend(map(ids.__getitem__, c))
        all_cols = np.array(cols, dtype=np.int64)
        df = np.bincount(all_cols, minlength=len(ids))
        kept = _top(df, max_features)
        column = np.full(len(ids), -1, dtype=np.int64)
        column[kept] = np.arange(len(kept))
        vocabulary = {w: int(column[i]) for w, i in ids.items() if column[i] >= 0}
        tf = np.array([n for c in counts for n in c.values()], dtype=np.int64)
        return (
            cls(vocabulary, _idf(df[kept], len(counts))),
            _tf_rows([len(c) for c in counts], column[all_cols], tf, len(kept)),
        )

    def rows(self, counts: Sequence[Counter[str]]) -> Any:
        get = self.vocabulary.get
        cols: list[int] = []
        for c in counts:
            cols.extend(map(get, c, repeat(-1)))  # -1: not in the vocabulary
        tf = np.array([n for c in counts for n in c.values()], dtype=np.int64)
        return _tf_rows([len(c) for c in counts], np.array(cols, dtype=np.int64), tf, len(self.vocabulary))


# Documents as term-frequency rows of both blocks, before a Weighting applies.
_Counts = tuple[Any, Any]


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, for _WORDS
class _Features:
    """Character n-grams beside words: sublinear term frequencies, weighed (with or without
    idf, see :class:`Weighting`) and each block brought to unit length, the words' block then
    times ``word_weight``; one sparse row per document, characters first. With idf, as
    scikit-learn's TfidfVectorizer(sublinear_tf=True) computes it; written out because its
    vocabulary building counts strings in Python token by token, which took most of a training
    run, and its checks on every call most of a suggestion's time."""

    chars: _CharBlock
    words: _WordBlock
    word_weight: float

    @classmethod
    def fit(cls, docs: Sequence[tuple[str, str]]) -> tuple[_Features, _Counts]:
        """The fitted features and the documents' counts (each document analysed once)."""
        chars, x_chars = _CharBlock.fit([_char_grams(d) for d in docs], MAX_CHAR_FEATURES)
        words, x_words = _WordBlock.fit([Counter(_word_features(d)) for d in docs], MAX_WORD_FEATURES)
        return cls(chars, words, WORD_WEIGHT), (x_chars, x_words)

    def counts(self, docs: Sequence[tuple[str, str]]) -> _Counts:
        return (
            self.chars.rows([_char_grams(d) for d in docs]),
            self.words.rows([Counter(_word_features(d)) for d in docs]),
        )

    def weigh(self, counts: _Counts, weighting: Weighting) -> Any:
        import scipy.sparse

        blocks = []
        kinds: tuple[_CharBlock | _WordBlock, ...] = (self.chars, self.words)
        for x, block, weight in zip(counts, kinds, (1.0, self.word_weight)):
            if weighting.idf:
                x = x @ scipy.sparse.diags(block.idf)
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
            norms[norms == 0] = 1
            blocks.append(scipy.sparse.diags((weight / norms).astype(np.float32)) @ x)
        return scipy.sparse.hstack(blocks, format="csr")

    @property
    def n_chars(self) -> int:
        return len(self.chars.grams)

    def name(self, column: int) -> str:
        """A feature's name (for explanations): a character n-gram or a word."""
        if column < self.n_chars:
            return _gram_text(int(self.chars.grams[column]))
        words = _WORDS.get(self)
        if words is None:  # built once per model
            words = [""] * len(self.words.vocabulary)
            for term, j in self.words.vocabulary.items():
                words[j] = term
            _WORDS[self] = words
        return words[column - self.n_chars]


_WORDS: weakref.WeakKeyDictionary[_Features, list[str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _TargetModel:
    """One target's model: a linear SVM per class (one against the rest) over features weighed
    by ``weighting``, whose scores become probabilities as softmax(score / temperature +
    rule_weight · log p_rules); the weighting and the two numbers are chosen on held-out folds
    (see :func:`_fit_target`)."""

    classes: tuple[str, ...]
    weighting: Weighting
    coef: Any  # float32 array, classes × features
    intercept: Any  # float32 array, one per class
    temperature: float
    rule_weight: float  # 0 when the rules know none of the classes or do not help
    n_samples: int  # samples that carried this target's label
    held_out_accuracy: float | None  # on the held-out folds, rules included; None: no folds

    def scores(self, x: Any) -> Any:
        """Decision scores of one document (a 1-row sparse matrix), one per class. Only the
        weights of the document's features are read: a product with the whole matrix would
        copy it (megabytes) on every call."""
        return self.coef[:, x.indices] @ x.data + self.intercept


@dataclass(frozen=True)
class Model:
    """What :func:`train` learnt. ``targets[t]`` is None for a target that had too few labelled
    samples; the rules answer for it. One set of features serves both targets, so a document is
    analysed once."""

    model_version: int
    features_version: str
    sklearn_version: str
    trained_at: str
    n_samples: int
    labels_fingerprint: str
    features: _Features | None  # None when no target was trained
    targets: Mapping[str, _TargetModel | None] = field(default_factory=dict)


def labels_fingerprint(samples: Iterable[LabeledSample]) -> str:
    """A hash of which documents carry which confirmed labels, independent of order. Compare it
    with ``Model.labels_fingerprint`` (see :func:`needs_retrain`)."""
    lines = []
    for s in samples:
        key = s.key or "sha256:" + hashlib.sha256(f"{s.title}\n{s.text}".encode()).hexdigest()
        lines.append(f"{key}\t{s.doc_type or ''}\t{s.service_category or ''}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def needs_retrain(model: Model | None, labels_fingerprint: str) -> bool:
    """True when there is no model, it was made by another version of this module or the
    analyzer, or the confirmed labels changed since it was trained."""
    return (
        model is None
        or model.model_version != MODEL_VERSION
        or model.features_version != FEATURES_VERSION
        or model.labels_fingerprint != labels_fingerprint
    )


def train(samples: Iterable[LabeledSample], *, min_samples: int = MIN_TRAIN_SAMPLES) -> Model:
    """Learn both targets from confirmed labels. A target with fewer than ``min_samples``
    labelled samples or fewer than two distinct labels gets no model (the rules answer).

    Labels are free strings: the built-in doc types and categories, an organisation's own
    types (``DOCSVC_EXTRA_DOC_TYPES``), or any other set of classes, from two to a few hundred;
    a class with a single sample is learnt too."""
    samples = list(samples)
    rows: dict[Target, list[int]] = {}
    for target in TARGETS:
        idx = [i for i, s in enumerate(samples) if getattr(s, target)]
        if len(idx) >= min_samples and len({getattr(samples[i], target) for i in idx}) >= 2:
            rows[target] = idx
    features = None
    targets: dict[str, _TargetModel | None] = {t: None for t in TARGETS}
    if rows:
        features, counts = _Features.fit([_doc(s.text, s.title) for s in samples])
        for target, idx in rows.items():
            labels = [str(getattr(samples[i], target)) for i in idx]
            targets[target] = _fit_target(
                target, features, (counts[0][idx], counts[1][idx]), labels, [samples[i] for i in idx]
            )
    return Model(
        model_version=MODEL_VERSION,
        features_version=FEATURES_VERSION,
        sklearn_version=_sklearn_version(),
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        n_samples=len(samples),
        labels_fingerprint=labels_fingerprint(samples),
        features=features,
        targets=targets,
    )


def _fit_svm(x: Any, y: Any, n_classes: int, c: float) -> tuple[Any, Any]:
    """(coef, intercept) over all ``n_classes`` class numbers; a class absent from ``y`` gets
    a score no document reaches."""
    # Imported only now: without enough labels (a new archive) there is nothing to fit, and
    # importing scikit-learn takes most of a second.
    from sklearn.svm import LinearSVC

    present = np.unique(y)
    coef = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, -1e4, dtype=np.float32)
    # tol: scikit-learn's default (1e-4) is a thousandth of liblinear's own; at 1e-2 training is a
    # third faster and no set of bench/eval_classify.py changed its accuracy.
    svm = LinearSVC(C=c, tol=1e-2, random_state=0).fit(x, y)  # liblinear shuffles: same labels, same model
    if len(present) == 2:  # one decision function for two classes: the second class's side
        coef[present] = np.vstack([-svm.coef_[0], svm.coef_[0]])
        intercept[present] = [-svm.intercept_[0], svm.intercept_[0]]
    else:
        coef[present] = svm.coef_
        intercept[present] = svm.intercept_
    return coef, intercept


def _folds(y: Any, k: int) -> Any:
    """A fold number per sample: each class's samples dealt round-robin in a fixed shuffled
    order, so every fold sees every class with at least k samples."""
    rng = np.random.default_rng(0)
    fold = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        start = rng.integers(k)  # classes smaller than k do not all pile into fold 0
        fold[rng.permutation(members)] = (start + np.arange(len(members))) % k
    return fold


def _rule_log_probs(target: Target, samples: Sequence[LabeledSample], classes: Sequence[str]) -> Any:
    """The rules' log-probability of each class for each sample (documents × classes)."""
    out = np.empty((len(samples), len(classes)))
    for i, s in enumerate(samples):
        zone, body = _zones(s.title, (s.text or "")[:HEAD_CHARS])
        out[i] = _rule_log_prior(target, _rules_label(target, _rule_scores(target, zone, body))[1], classes)
    return out


def _rule_log_prior(target: Target, rule_probs: Mapping[str, float], classes: Sequence[str]) -> Any:
    """log p_rules for each class. A label the rules do not know (an organisation's own doc
    type) gets the rules' probability for "none of mine" — their "other" — or, for categories,
    which have no such label, the uniform share: the rules have no opinion on it and must not
    veto it."""
    unknown = rule_probs.get("other", 1.0 / max(len(rule_probs), 1))
    return np.log(np.maximum([rule_probs.get(c, unknown) for c in classes], 1e-6))


@dataclass(frozen=True)
class _HeldOut:
    """How one weighting did on the held-out documents, and the calibration fitted on them."""

    weighting: Weighting
    temperature: float
    rule_weight: float
    accuracy: float
    log_loss: float


def _fit_target(
    target: Target, features: _Features, counts: _Counts, labels: Sequence[str], samples: Sequence[LabeledSample]
) -> _TargetModel:
    """Train one target on its labelled documents (``counts`` their rows): held-out folds
    choose the weighting (the more accurate, then the surer) and calibrate it, then the chosen
    weighting is trained on every sample."""
    classes = tuple(sorted(set(labels)))
    y = np.searchsorted(classes, labels)
    k = len(classes)
    xs = {w: features.weigh(counts, w) for w in WEIGHTINGS}
    fold = _folds(y, CALIBRATION_FOLDS)
    held_out: list[tuple[Any, Any]] = []  # (held, rest) row numbers
    for f in range(CALIBRATION_FOLDS):
        if sum(len(held) for held, _ in held_out) >= CALIBRATION_ROWS:
            break
        held, rest = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
        # A document whose class the fold's model never saw says nothing about calibration.
        held = held[np.isin(y[held], y[rest])]
        if len(held) and len(np.unique(y[rest])) >= 2:
            held_out.append((held, rest))
    if not held_out:  # too few samples for any fold: the first weighting, uncalibrated
        w = WEIGHTINGS[0]
        coef, intercept = _fit_svm(xs[w], y, k, w.c)
        return _TargetModel(classes, w, coef, intercept, 1.0, 0.0, len(labels), None)
    rows = np.concatenate([held for held, _ in held_out])
    # The rules join only where they know some of the classes (the built-in targets).
    rules = (
        _rule_log_probs(target, [samples[i] for i in rows], classes) if set(classes) & set(_LABELS[target]) else None
    )
    # A held-out document is scored as a new one will be: without the features only it (or
    # other held-out documents) has, which a new document's vocabulary would not contain.
    # Left in, they dilute its vector and make the fold's scores less sure than the final
    # model's. And a fold's model trains on fewer samples, which would loosen the fit: its C
    # is raised to keep the balance of loss and regularisation (C multiplies a sum over
    # samples).
    import scipy.sparse

    held_x: dict[Weighting, list[Any]] = {w: [] for w in WEIGHTINGS}
    for held, rest in held_out:
        masked = tuple(
            block[held] @ scipy.sparse.diags((block[rest].getnnz(axis=0) > 0).astype(np.float32)) for block in counts
        )
        for w in WEIGHTINGS:
            held_x[w].append(features.weigh(masked, w))
    # The fits are independent and liblinear releases the GIL: two at a time use both cores
    # of a small server.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        fits = {
            w: [pool.submit(_fit_svm, xs[w][rest], y[rest], k, w.c * len(y) / len(rest)) for _, rest in held_out]
            for w in WEIGHTINGS
        }
        results = []
        for w, futures in fits.items():
            scores = np.vstack([x @ f.result()[0].T + f.result()[1] for x, f in zip(held_x[w], futures)])
            results.append(_held_out_result(w, np.asarray(scores), y[rows], rules))
    best = max(results, key=lambda r: (r.accuracy, -r.log_loss))
    coef, intercept = _fit_svm(xs[best.weighting], y, k, best.weighting.c)
    return _TargetModel(
        classes, best.weighting, coef, intercept, best.temperature, best.rule_weight, len(labels), best.accuracy
    )


def _held_out_result(w: Weighting, scores: Any, gold: Any, rules: Any | None) -> _HeldOut:
    temperature, rule_weight, loss = _calibrate(scores, gold, rules)
    z = scores / temperature + (rule_weight * rules if rule_weight and rules is not None else 0.0)
    return _HeldOut(w, temperature, rule_weight, float(np.mean(z.argmax(axis=1) == gold)), loss)


def _calibrate(scores: Any, gold: Any, rules: Any | None) -> tuple[float, float, float]:
    """(temperature, rule weight, log loss): those minimising the log loss of
    softmax(scores / temperature + rule_weight · rules) on held-out documents.

    One temperature for all classes rather than a calibrator per class: with a hundred classes,
    many have a handful of samples, too few to fit anything of their own. The rule weight
    decides how far the rules' opinion moves the model's: where titles name the kind of
    document the rules are precise and the held-out documents show it; where the
    organisation's classes are its own, the rules have nothing to say (weight 0)."""
    best = (math.inf, 1.0, 0.0)
    for rule_weight in _RULE_WEIGHTS if rules is not None else (0.0,):
        prior = rule_weight * rules if rule_weight and rules is not None else 0.0
        for temperature in _TEMPERATURES:
            z = scores / temperature + prior
            top = z.max(axis=1)
            log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
            loss = float(np.mean(log_norm - z[np.arange(len(gold)), gold]))
            if loss < best[0] - 1e-9:
                best = (loss, temperature, rule_weight)
    return best[1], best[2], best[0]


def _model_label(
    tm: _TargetModel, x: Any, features: _Features, rules: Label, rule_probs: Mapping[str, float], target: Target
) -> Label:
    """The label for one weighed document ``x``: the model's calibrated probabilities, moved
    by the rules' as far as the held-out documents showed it right."""
    z = tm.scores(x).astype(np.float64) / tm.temperature
    if tm.rule_weight:
        z = z + tm.rule_weight * _rule_log_prior(target, rule_probs, tm.classes)
    p = np.exp(z - z.max())
    p /= p.sum()
    best = int(p.argmax())
    value, confidence = tm.classes[best], float(p[best])
    if tm.rule_weight and value == rules.value and rules.confidence > 0:
        # Agreement: the rules' cue words explain a suggestion better than model weights do.
        return Label(value, confidence, rules.terms, "rules")
    return Label(value, confidence, _model_terms(tm, best, x, features), "model")


def _model_terms(tm: _TargetModel, best: int, x: Any, features: _Features) -> tuple[str, ...]:
    """The words that pushed the document towards class ``best`` (feature value × weight),
    strongest first; character n-grams of two or more characters when no word did."""
    weighted = x.data * tm.coef[best, x.indices]
    is_word = x.indices >= features.n_chars
    for wanted in (is_word, ~is_word):
        picked = np.flatnonzero(wanted & (weighted > 0))
        terms: list[str] = []
        for j in picked[np.argsort(-weighted[picked], kind="stable")]:
            name = features.name(int(x.indices[j])).strip()
            name = name[2:] if name.startswith("t:") else name
            if len(name) >= 2 or wanted is is_word:
                terms.append(name)
            if len(dict.fromkeys(terms)) >= 5:
                break
        if terms:
            return tuple(dict.fromkeys(terms))[:5]
    return ()


# --- suggestion ------------------------------------------------------------------------------


def suggest(
    text: str, title: str = "", *, model: Model | None = None, known_projects: Sequence[str] = ()
) -> Suggestion:
    """Suggest the document type, the service category and, among ``known_projects``, the
    project this document names. The rules read the first :data:`HEAD_CHARS` characters, the
    model the first :data:`MODEL_HEAD_CHARS`."""
    text = text or ""
    title = title or ""
    zone, body = _zones(title, text[:HEAD_CHARS])
    features = model.features if model is not None else None
    if not (title.strip() or text.strip()):
        features = None  # nothing to read: the rules' fallback says so, the model would guess
    counts = features.counts([_doc(text, title)]) if features is not None else None
    weighed: dict[Weighting, Any] = {}
    labels: dict[Target, Label] = {}
    for target in TARGETS:
        rules, rule_probs = _rules_label(target, _rule_scores(target, zone, body))
        tm = model.targets.get(target) if model is not None else None
        if tm is None or features is None or counts is None:
            labels[target] = rules
            continue
        if tm.weighting not in weighed:
            weighed[tm.weighting] = features.weigh(counts, tm.weighting)
        labels[target] = _model_label(tm, weighed[tm.weighting], features, rules, rule_probs, target)
    return Suggestion(labels["doc_type"], labels["service_category"], suggest_project(text, title, known_projects))


def suggest_project(text: str, title: str, known_projects: Sequence[str]) -> str | None:
    """The known project whose name appears in the title or the text: a title match beats a
    body match, a longer name beats a shorter one (项目（二期） over 项目), then more mentions."""
    title_n = textmod.normalize(title or "")
    body_n = textmod.normalize((text or "")[:HEAD_CHARS])
    best: tuple[int, int, int] | None = None
    found: str | None = None
    for name in known_projects:
        key = textmod.normalize(name).strip()
        if len(key) < 2:  # one character would match almost anything
            continue
        rank = (1 if key in title_n else 0, len(key), body_n.count(key))
        if rank[0] == 0 and rank[2] == 0:
            continue
        if best is None or rank > best:
            best, found = rank, name
    return found


# --- persistence -----------------------------------------------------------------------------

_MAGIC = b"docsvc-classifier\n"


def _sklearn_version() -> str:
    return metadata.version("scikit-learn")  # without importing it


def _header() -> dict[str, object]:
    return {"model_version": MODEL_VERSION, "features_version": FEATURES_VERSION, "sklearn_version": _sklearn_version()}


def dumps(model: Model) -> bytes:
    """The model as bytes: a magic line, a JSON header line with the versions, then the pickled
    Model. The header lets :func:`loads` refuse a stale model without unpickling it."""
    header = {
        "model_version": model.model_version,
        "features_version": model.features_version,
        "sklearn_version": model.sklearn_version,
    }
    return _MAGIC + json.dumps(header).encode() + b"\n" + pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes, name: str = "model") -> Model | None:
    """Read a model made by :func:`dumps`.

    Returns None when it was made by another ``MODEL_VERSION``, analyzer (``FEATURES_VERSION``)
    or scikit-learn version: the caller should retrain. Raises :class:`InvalidInput` when the
    bytes are not a docsvc classifier model at all.

    Unpickling runs code: load only bytes docsvc itself wrote and whose SHA-256 the catalog
    recorded. The magic and the header are checked before anything is unpickled, so a stale or
    foreign model never reaches pickle.
    """
    magic, _, rest = data.partition(b"\n")
    header_line, _, body = rest.partition(b"\n")
    try:
        header = json.loads(header_line) if magic + b"\n" == _MAGIC else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise InvalidInput(
            f"“{name}”不是 docsvc 分类模型。请删除它并重新训练。",
            f"'{name}' is not a docsvc classifier model; delete it and retrain.",
            field="model",
        )
    if header != _header():
        return None
    model = pickle.loads(body)
    if not isinstance(model, Model):
        raise InvalidInput(
            f"“{name}”的内容不是分类模型。请删除它并重新训练。",
            f"'{name}' does not contain a classifier model; delete it and retrain.",
            field="model",
        )
    return model


def save(model: Model, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically (temp file, fsync, rename): a crash leaves the
    previous model or the new one, never half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(dumps(model))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> Model | None:
    """Read a model file written by :func:`save` (None when there is none); see :func:`loads`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return loads(data, path.name)


__all__ = [
    "FEATURES_VERSION",
    "HEAD_CHARS",
    "MIN_TRAIN_SAMPLES",
    "MODEL_HEAD_CHARS",
    "MODEL_VERSION",
    "REVIEW_THRESHOLD",
    "TARGETS",
    "Label",
    "dumps",
    "loads",
    "LabeledSample",
    "Model",
    "Suggestion",
    "WEIGHTINGS",
    "Weighting",
    "labels_fingerprint",
    "load",
    "needs_retrain",
    "save",
    "suggest",
    "suggest_project",
    "train",
]
