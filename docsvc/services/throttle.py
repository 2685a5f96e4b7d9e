"""Sign-in throttling: how many failed sign-ins an account and a client address may have, and
what follows (a growing delay, then a lockout that doubles each time it recurs).

The counters live in the catalog (``login_failures``, migration 0010), not in a process, so the
limits hold across every server sharing it. This module is the arithmetic only, on frozen
values and an explicit ``now``; :class:`docsvc.services.users.UserService` reads and writes the
rows inside catalog transactions, which serialise on the audit head, so two servers never count
the same attempt twice nor miss one.

An attempt is counted *before* its password is checked and taken back if it succeeds: otherwise
a burst of simultaneous guesses, all checked before the first one is recorded, would get past the
limit.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, overload

from docsvc.errors import DocsvcError


class Scope(StrEnum):
    ACCOUNT = "account"  # the username as typed, known or not (a lockout must not reveal which exist)
    ADDRESS = "address"  # the client's IP address


class TooManyAttempts(DocsvcError):
    """Too many failed sign-ins: refused until ``details["retry_at"]``, whatever the password."""

    code = "too_many_attempts"

    @property
    def retry_after_s(self) -> int:
        return int(self.details.get("retry_after_s", 1))


@dataclass(frozen=True)
class Limit:
    max_failures: int  # failures within ``window`` that start a lockout
    window: dt.timedelta
    lockout: dt.timedelta  # the first lockout; each further one doubles, up to ``max_lockout``
    max_lockout: dt.timedelta = dt.timedelta(hours=24)

    def lockout_for(self, nth: int) -> dt.timedelta:
        return min(self.lockout * (1 << max(nth - 1, 0)), self.max_lockout)


@dataclass(frozen=True)
class LoginPolicy:
    account: Limit = Limit(5, dt.timedelta(minutes=15), dt.timedelta(minutes=15))
    # Higher: several people may sign in from behind one office NAT address.
    address: Limit = Limit(20, dt.timedelta(minutes=15), dt.timedelta(minutes=15))
    # The first two failures cost nothing (a typo, then the caps-lock key); from the third on,
    # the next attempt on the account waits 2, 4, 8… seconds.
    free_failures: int = 2
    max_delay: dt.timedelta = dt.timedelta(minutes=1)
    # A quiet day forgets earlier lockouts, so the next one is short again.
    forget_after: dt.timedelta = dt.timedelta(hours=24)

    def limit(self, scope: Scope) -> Limit:
        return self.account if scope is Scope.ACCOUNT else self.address

    def delay(self, scope: Scope, failures: int) -> dt.timedelta:
        if scope is not Scope.ACCOUNT or failures <= self.free_failures:
            return dt.timedelta(0)
        return min(dt.timedelta(seconds=2 ** (failures - self.free_failures)), self.max_delay)


@dataclass(frozen=True)
class Counter:
    """One ``login_failures`` row."""

    scope: Scope
    subject: str
    failures: int
    window_start: dt.datetime
    last_failure_at: dt.datetime
    retry_at: dt.datetime | None = None
    locked_until: dt.datetime | None = None
    lockouts: int = 0
    reasons: Mapping[str, int] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        return {
            "scope": self.scope.value,
            "subject": self.subject,
            "failures": self.failures,
            "window_start": self.window_start,
            "last_failure_at": self.last_failure_at,
            "retry_at": self.retry_at,
            "locked_until": self.locked_until,
            "lockouts": self.lockouts,
            "reasons": dict(self.reasons),
        }


def counter_from_row(row: Mapping[str, Any]) -> Counter:
    return Counter(
        Scope(row["scope"]),
        row["subject"],
        int(row["failures"]),
        _utc(row["window_start"]),
        _utc(row["last_failure_at"]),
        _utc(row["retry_at"]),
        _utc(row["locked_until"]),
        int(row["lockouts"]),
        dict(row["reasons"] or {}),
    )


@dataclass(frozen=True)
class Block:
    """Why an attempt is refused before its password is looked at."""

    scope: Scope
    until: dt.datetime
    locked: bool  # a lockout; otherwise the short delay between attempts

    def error(self, now: dt.datetime) -> TooManyAttempts:
        seconds = max(1, math.ceil((self.until - now).total_seconds()))
        details = {
            "scope": self.scope.value,
            "retry_at": self.until.isoformat(timespec="seconds"),
            "retry_after_s": seconds,
        }
        if not self.locked:
            return TooManyAttempts(
                f"登录失败次数较多，请在 {seconds} 秒后重试。",
                f"Several failed sign-ins: wait {seconds} seconds before trying again.",
                details=details,
            )
        minutes = math.ceil(seconds / 60)
        at = self.until.strftime("%H:%M")
        who_zh, who_en = (
            ("该账户", "this account") if self.scope is Scope.ACCOUNT else ("您所在的网络地址", "your network address")
        )
        return TooManyAttempts(
            f"登录失败次数过多，{who_zh}已被暂时锁定：请在约 {minutes} 分钟后（UTC {at}）重试，或请管理员解除锁定。",
            f"Too many failed sign-ins: {who_en} is locked for now. Retry in about {minutes} minutes "
            f"(at {at} UTC), or ask an administrator to unlock it.",
            details=details,
        )


@dataclass(frozen=True)
class Lockout:
    """A lockout that has just begun: one audit entry for the whole burst of failures."""

    counter: Counter
    failures: int
    reasons: Mapping[str, int]


def blocked(c: Counter | None, now: dt.datetime) -> Block | None:
    if c is None:
        return None
    if c.locked_until is not None and now < c.locked_until:
        return Block(c.scope, c.locked_until, True)
    if c.retry_at is not None and now < c.retry_at:
        return Block(c.scope, c.retry_at, False)
    return None


def attempt(c: Counter | None, scope: Scope, subject: str, now: dt.datetime, policy: LoginPolicy) -> Counter | Block:
    """Count an attempt before its password is checked; or the reason it may not be made."""
    block = blocked(c, now)
    if block is not None:
        return block
    limit = policy.limit(scope)
    if c is None:
        c = Counter(scope, subject, 0, now, now)
    elif now - c.window_start >= limit.window:
        lockouts = 0 if now - c.last_failure_at >= policy.forget_after else c.lockouts
        c = replace(c, failures=0, window_start=now, retry_at=None, locked_until=None, lockouts=lockouts, reasons={})
    if c.failures >= limit.max_failures:
        # The window is full of attempts still being checked on this or another server.
        return Block(scope, now + dt.timedelta(seconds=1), False)
    return replace(c, failures=c.failures + 1, last_failure_at=now)


def failed(c: Counter, now: dt.datetime, policy: LoginPolicy, reason: str) -> tuple[Counter, Lockout | None]:
    """The counted attempt failed: set the delay, or start a lockout."""
    limit = policy.limit(c.scope)
    reasons = {**c.reasons, reason: c.reasons.get(reason, 0) + 1}
    if c.failures >= limit.max_failures:
        nth = c.lockouts + 1
        locked = replace(
            c,
            failures=0,
            window_start=now,
            retry_at=None,
            locked_until=now + limit.lockout_for(nth),
            lockouts=nth,
            reasons={},
        )
        return locked, Lockout(locked, c.failures, reasons)
    delay = policy.delay(c.scope, c.failures)
    return replace(c, retry_at=now + delay if delay else None, reasons=reasons), None


def succeeded(c: Counter) -> Counter:
    """The counted attempt succeeded: take it back (the caller drops an account's counter)."""
    return replace(c, failures=max(c.failures - 1, 0))


@overload
def _utc(ts: dt.datetime) -> dt.datetime: ...
@overload
def _utc(ts: None) -> None: ...
def _utc(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
