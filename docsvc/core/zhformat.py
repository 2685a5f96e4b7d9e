"""How Chinese documents write values: dates, upper-case numerals and amounts (大写), and the
check character of the unified social credit code (统一社会信用代码, GB 32100-2015).

Standard library only; the template schema uses these for its ``_cn`` context values, and the
rest of docsvc may use them wherever a value is written the Chinese way.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

# The upper-case amount is defined up to 9,999亿 with two decimals (units 万 and 亿 only).
MAX_AMOUNT = Decimal("999999999999.99")


def date_cn(value: dt.date) -> str:
    """2026-01-05 -> "2026年1月5日", as dates are written in Chinese contracts."""
    return f"{value.year}年{value.month}月{value.day}日"


_CN_DIGITS = "零壹贰叁肆伍陆柒捌玖"


def amount_in_words(amount: Decimal) -> str:
    """The upper-case Chinese amount (大写金额) written on contracts and invoices.

    Follows 《支付结算办法》: "整" after 元 or 角 when there are no 分; a single 零 for a run of
    zeros; 零 between 元 and 分 when 角 is zero. 123456 -> 壹拾贰万叁仟肆佰伍拾陆元整,
    1000.05 -> 壹仟元零伍分, 0.50 -> 伍角整.
    """
    if amount < 0 or amount > MAX_AMOUNT:
        raise ValueError(f"amount out of range: {amount}")
    cents = int(amount.quantize(Decimal("0.01")) * 100)
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    out = integer_in_words(yuan) + "元" if yuan else ""
    if not jiao and not fen:
        return (out or "零元") + "整"
    if jiao:
        out += _CN_DIGITS[jiao] + "角"
    elif yuan:
        out += "零"
    return out + (_CN_DIGITS[fen] + "分" if fen else "整")


def integer_in_words(n: int) -> str:
    """A positive integer in upper-case numerals (大写): 4 -> 肆, 10005 -> 壹万零伍."""
    groups = []  # four-digit groups, least significant first: 个, 万, 亿
    while n:
        n, group = divmod(n, 10_000)
        groups.append(group)
    parts: list[str] = []
    gap = False  # a zero group (or leading zeros) sits between two written groups
    for i in reversed(range(len(groups))):
        group = groups[i]
        if group == 0:
            gap = bool(parts)
            continue
        if parts and (gap or group < 1000):
            parts.append("零")
        parts.append(_group_in_words(group) + ("", "万", "亿")[i])
        gap = False
    return "".join(parts)


def _group_in_words(group: int) -> str:
    out, zero, started = "", False, False
    for digit, unit in zip(f"{group:04d}", ("仟", "佰", "拾", "")):
        d = int(digit)
        if d == 0:
            zero = started
            continue
        if zero:
            out += "零"
            zero = False
        out += _CN_DIGITS[d] + unit
        started = True
    return out


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_RE = re.compile(f"[{_USCC_CHARS}]{{18}}")


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(_USCC_CHARS.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc_is_valid(code: str) -> bool:
    """Whether ``code`` is a well-formed 统一社会信用代码 with a correct check character."""
    return bool(_USCC_RE.fullmatch(code)) and uscc_check_char(code[:17]) == code[17]


__all__ = [
    "MAX_AMOUNT",
    "amount_in_words",
    "date_cn",
    "integer_in_words",
    "uscc_check_char",
    "uscc_is_valid",
]
