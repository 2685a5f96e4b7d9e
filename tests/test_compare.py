"""docsvc.services.compare: two versions side by side, paragraph by paragraph, changes marked
inside a changed paragraph; repetitive documents (logs, tables of the same words) as quickly as
any other, where difflib had taken seconds to minutes."""

from __future__ import annotations

import time

import pytest

from docsvc.services.compare import RowKind, diff
from tests.conftest import within


def test_a_changed_paragraph_is_paired_with_its_new_form_and_marked_inside():
    a = ("第一条 乙方提供运维服务。", "第二条 一级故障15分钟响应。", "第三条 可用性不低于99.9%。")
    b = (
        "第一条 乙方提供运维服务。",
        "第二条 一级故障15分钟响应。",
        "第三条 可用性不低于99.95%。",
        "第四条 每季度提交报告。",
    )
    r = diff(a, b)
    assert (r.changed, r.deleted, r.inserted) == (1, 0, 1)
    changed = next(row for row in r.rows if row.kind is RowKind.CHANGED)
    assert changed.left_no == 3 and changed.right_no == 3
    assert [s.text for s in changed.right if s.changed] == ["95"]


@pytest.mark.timing
def test_repetitive_documents_are_compared_quickly_and_minimally():
    lines = ("机房温度正常",) * 20_000
    started = time.perf_counter()
    both_ends = diff(lines[:19_998], ("巡检开始", *lines[:19_998], "巡检结束"))
    scattered = diff(lines, tuple("发现告警" if i % 7 == 0 else line for i, line in enumerate(lines)))
    one_long = "正常" * 400_000
    inline = diff((one_long,), (one_long[:400_000] + "异常" + one_long[400_000:],))
    assert time.perf_counter() - started < within(5)  # difflib: minutes
    assert (both_ends.changed, both_ends.deleted, both_ends.inserted) == (0, 0, 2)
    assert (scattered.deleted, scattered.inserted) == (2858, 2858) and scattered.changed == 0
    [row] = [row for row in inline.rows if row.kind is RowKind.CHANGED]
    assert [s.text for s in row.right if s.changed] == ["异常"] and not any(s.changed for s in row.left)
