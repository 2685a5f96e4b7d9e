"""People: accounts, roles, passwords, API tokens, project membership — and who may do what.

Roles and their permissions are declared once here (:data:`ROLE_PERMISSIONS`); the per-document
rule (on-site documents only for members of their project) is :func:`can_read`. The web UI, the
REST API and the CLI all go through :class:`docsvc.services.access.Guard`, which applies them.

Every change to an account is an audit entry written in the same transaction as the change
(ISO 27001 A.12.4.3: privilege changes and administrator actions are logged), and so is every
successful sign-in (A.12.4.1). Failed sign-ins are counted in the catalog (docsvc.services.throttle)
and audited in aggregate: one entry when a burst of them locks an account or an address, and the
count of earlier failures on the successful sign-in that ends a burst; one row per wrong guess
would let anyone fill the audit log.

Sign-in sessions are kept in the catalog (migration 0012): the cookie carries a random secret and
the catalog its hash, so a session ends everywhere at once — on sign-out (every copy of that
cookie), and for every session of the account on a password change, a role change, a disabled
account or a lockout — and the idle and absolute limits hold on every server.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, overload

from docsvc.adapters import accounts as db
from docsvc.adapters.catalog import Connection, SqlCatalog, Tx
from docsvc.adapters.passwords import hash_password, password_matches
from docsvc.core.inputs import escape_controls, refuse_controls
from docsvc.core.model import DocClass, Document, iso, utcnow
from docsvc.errors import Conflict, DocsvcError, InvalidInput, NotFound
from docsvc.services import throttle
from docsvc.services.throttle import LoginPolicy, Scope, TooManyAttempts

log = logging.getLogger(__name__)


class Unauthenticated(DocsvcError):
    """No valid credentials: sign in, or send a valid API token."""

    code = "unauthenticated"


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    DRAFTER = "drafter"
    MEMBER = "member"
    AUDITOR = "auditor"

    @property
    def zh(self) -> str:
        return _ROLE_LABELS[self][0]

    @property
    def en(self) -> str:
        return _ROLE_LABELS[self][1]


_ROLE_LABELS = {
    Role.ADMIN: ("管理员", "Administrator"),
    Role.MANAGER: ("经理", "Manager"),
    Role.DRAFTER: ("起草人", "Drafter"),
    Role.MEMBER: ("项目成员", "Project member"),
    Role.AUDITOR: ("审计员", "Auditor"),
}


class Permission(StrEnum):
    READ = "document.read"  # user documents (9.1), and on-site documents (9.2) of one's projects
    READ_ALL_SITES = "document.read_all_sites"  # on-site documents of every project
    WRITE = "document.write"  # upload, new version, metadata, deletion request
    GENERATE = "template.generate"  # fill a Word template into a new document
    MANAGE_TEMPLATES = "template.manage"  # add or change Word templates
    AUDIT = "audit.read"  # the whole audit log, chain verification, bundles, system health
    MANAGE_USERS = "user.manage"  # accounts, roles, tokens of others, project membership
    RERUN_OCR = "ocr.rerun"  # read a scan's text again (after the engine improved): costs minutes of CPU
    MANAGE_TERMS = "terms.manage"  # the tag and counterparty catalog: create, rename, merge, recolour, remove
    MANAGE_FIELDS = "fields.manage"  # custom fields per document type: define, edit, retire (administrators)
    # Keeping the installation itself: init, index sync and rebuild, blob migration, gc, checkpoints,
    # bulk import. The command line's local operator, who holds the folders and the database anyway.
    OPERATE = "system.operate"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MANAGER: frozenset(Permission) - {Permission.MANAGE_USERS, Permission.MANAGE_FIELDS, Permission.OPERATE},
    Role.DRAFTER: frozenset({Permission.READ, Permission.WRITE, Permission.GENERATE}),
    Role.MEMBER: frozenset({Permission.READ, Permission.WRITE}),
    # Auditors read everything and write nothing (reliability.md 1.6).
    Role.AUDITOR: frozenset({Permission.READ, Permission.READ_ALL_SITES, Permission.AUDIT}),
}


class AccountAction(StrEnum):
    """Audit actions about people (the document actions are ``core.model.AuditAction``)."""

    USER_CREATED = "user.created"
    USER_CHANGED = "user.changed"
    PASSWORD_CHANGED = "user.password_changed"
    PROJECTS_CHANGED = "user.projects_changed"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    LOGIN = "login.succeeded"
    LOGIN_FAILED = "login.failed"  # one entry per failure, before migration 0010
    LOGIN_LOCKED = "login.locked"  # a burst of failures locked an account or an address
    UNLOCKED = "login.unlocked"  # an administrator lifted such a lock
    LOGOUT = "logout"
    SESSIONS_ENDED = "sessions.ended"  # every session of an account ended on request (lost device)

    @property
    def zh(self) -> str:
        return _ACCOUNT_LABELS[self][0]

    @property
    def en(self) -> str:
        return _ACCOUNT_LABELS[self][1]


_ACCOUNT_LABELS = {
    AccountAction.USER_CREATED: ("创建用户", "User created"),
    AccountAction.USER_CHANGED: ("修改用户", "User changed"),
    AccountAction.PASSWORD_CHANGED: ("修改密码", "Password changed"),
    AccountAction.PROJECTS_CHANGED: ("修改项目成员", "Projects changed"),
    AccountAction.TOKEN_CREATED: ("创建 API 令牌", "API token created"),
    AccountAction.TOKEN_REVOKED: ("吊销 API 令牌", "API token revoked"),
    AccountAction.LOGIN: ("登录", "Signed in"),
    AccountAction.LOGIN_FAILED: ("登录失败", "Sign-in failed"),
    AccountAction.LOGIN_LOCKED: ("登录失败过多，已锁定", "Locked after failed sign-ins"),
    AccountAction.UNLOCKED: ("解除登录锁定", "Sign-in lock lifted"),
    AccountAction.LOGOUT: ("退出", "Signed out"),
    AccountAction.SESSIONS_ENDED: ("结束全部登录会话", "All sessions ended"),
}


class SessionEnd(StrEnum):
    """Why a session ended (``sessions.end_reason``)."""

    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"
    ROLE_CHANGED = "role_changed"
    DISABLED = "disabled"
    LOCKED = "locked"  # failed sign-ins locked the account: whoever holds a session may be the guesser
    ENDED = "ended"  # the user, or an administrator, ended every session of the account
    IDLE = "idle"
    EXPIRED = "expired"


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lasts: ``idle`` without a request, ``absolute`` after sign-in at most."""

    idle: dt.timedelta = dt.timedelta(minutes=60)
    absolute: dt.timedelta = dt.timedelta(hours=8)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SessionPolicy:
        return cls(
            dt.timedelta(minutes=settings["SESSION_IDLE_MINUTES"]), dt.timedelta(hours=settings["SESSION_MAX_HOURS"])
        )


@dataclass(frozen=True)
class Principal:
    """Who is asking, with what they may do. Built per request; never cached across requests, so
    a role change or a deactivation takes effect on the next request."""

    username: str
    role: Role
    projects: frozenset[str] = frozenset()
    display_name: str = ""
    user_id: int | None = None
    via: str = ""  # "ui", "api", "api-token:NAME", "cli": recorded with denied attempts

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def site_projects(self) -> frozenset[str] | None:
        """The projects whose on-site documents this principal may read; None means all."""
        return None if self.can(Permission.READ_ALL_SITES) else self.projects


def can_read(p: Principal, doc: Document) -> bool:
    """User documents (9.1) are open to every role; on-site documents (9.2) to the members of
    their project, and to managers, administrators and auditors."""
    if not p.can(Permission.READ):
        return False
    if doc.metadata.doc_class != DocClass.SITE or p.site_projects is None:
        return True
    return bool(doc.metadata.project) and doc.metadata.project in p.site_projects


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    last_login_at: dt.datetime | None
    projects: tuple[str, ...] = ()
    password_change_required: bool = False  # someone else chose the password: choose one at sign-in

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role.value,
            "active": self.active,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "last_login_at": iso(self.last_login_at) if self.last_login_at else None,
            "projects": list(self.projects),
            "password_change_required": self.password_change_required,
        }


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "last_used_at": iso(self.last_used_at) if self.last_used_at else None,
            "revoked_at": iso(self.revoked_at) if self.revoked_at else None,
        }


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once; only its hash is stored


USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 200
TOKEN_PREFIX = "dsv_"
# A token's last-use time is written at most this often: a write per API read would serialise
# every reader behind the catalog's write lock.
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=1)
# A session's last-seen time is written at most this often, for the same reason: the idle limit
# is therefore kept to within a minute.
SESSION_TOUCH_INTERVAL = dt.timedelta(minutes=1)
UNUSABLE_PASSWORD = "!"  # never matches: password_matches() rejects it
# The account ``ensure_initial_admin`` makes on a catalog with no users (docsvc init, or the web's first page).
INITIAL_ADMIN = "admin"


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so a wrong name costs as long as a wrong
    password: made on first use, with the hashing method in force then."""
    return hash_password("docsvc-timing-equaliser")


@overload
def _utc(ts: dt.datetime) -> dt.datetime: ...
@overload
def _utc(ts: None) -> None: ...
def _utc(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def _user(row: Mapping[str, Any], projects: Iterable[str] = ()) -> User:
    return User(
        row["id"],
        row["username"],
        row["display_name"],
        Role(row["role"]),
        bool(row["active"]),
        _utc(row["created_at"]),
        row["created_by"],
        _utc(row["updated_at"]),
        _utc(row["last_login_at"]),
        tuple(projects),
        bool(row.get("password_change_required")),
    )


def _token(row: Mapping[str, Any]) -> ApiToken:
    return ApiToken(
        row["id"],
        row["name"],
        _utc(row["created_at"]),
        row["created_by"],
        _utc(row["last_used_at"]),
        _utc(row["revoked_at"]),
    )


def hash_token(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_session_secret() -> str:
    """The secret a session cookie carries (256 random bits); the catalog keeps its hash."""
    return secrets.token_urlsafe(32)


def parse_role(value: Any) -> Role:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        valid = ", ".join(f"{r.value}（{r.zh}）" for r in Role)
        raise InvalidInput(
            f"角色“{value}”无效。可选：{valid}",
            f"Invalid role '{value}'. Valid roles: {', '.join(r.value for r in Role)}",
            field="role",
            details={"valid": [r.value for r in Role]},
        ) from None


def clean_username(value: Any) -> str:
    name = str(value or "").strip().lower()
    if not USERNAME_RE.match(name):
        raise InvalidInput(
            "用户名只能包含小写英文字母、数字、点、下划线和连字符，以字母或数字开头，最多 64 个字符。",
            "A username is 1-64 lowercase letters, digits, dots, underscores or hyphens, "
            "starting with a letter or digit.",
            field="username",
        )
    return name


def check_password_policy(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"密码长度须为 {MIN_PASSWORD} 到 {MAX_PASSWORD} 个字符。",
            f"A password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long.",
            field="password",
        )


def _clean_text(value: Any, name: str, zh: str, limit: int) -> str:
    text = refuse_controls(str(value or "").strip(), name, zh, allowed="")
    if len(text) > limit:
        raise InvalidInput(
            f"{zh}无效：最多 {limit} 个字符。", f"Invalid {name}: at most {limit} characters.", field=name
        )
    return text


def random_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


class UserService:
    def __init__(
        self,
        catalog: SqlCatalog,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        policy: LoginPolicy = LoginPolicy(),
        sessions: SessionPolicy = SessionPolicy(),
    ) -> None:
        self.catalog = catalog
        self.clock = clock  # sign-in delays, lockouts, session limits; tests move it instead of sleeping
        self.policy = policy
        self.sessions = sessions

    # -- reads ----------------------------------------------------------------------------
    def count(self) -> int:
        with self.catalog.reading() as conn:
            return db.count_users(conn)

    def list_users(self) -> list[User]:
        with self.catalog.reading() as conn:
            return [_user(r, db.projects_of(conn, r["id"])) for r in db.list_users(conn)]

    def get(self, username: str) -> User:
        with self.catalog.reading() as conn:
            row = db.user_by_username(conn, str(username).strip().lower())
            if row is None:
                raise NotFound(f"用户“{username}”不存在。", f"User '{username}' does not exist.", field="username")
            return _user(row, db.projects_of(conn, row["id"]))

    def tokens(self, username: str) -> list[ApiToken]:
        user = self.get(username)
        with self.catalog.reading() as conn:
            return [_token(r) for r in db.tokens_of(conn, user.id)]

    # -- account changes (each one an audit entry in the same transaction) -----------------
    def create_user(
        self,
        username: str,
        role: str | Role,
        *,
        actor: str,
        password: str | None = None,
        display_name: str = "",
        projects: Iterable[str] = (),
    ) -> tuple[User, str | None]:
        """Returns the user and, when no password was given, the random one made for it (once)."""
        username = clean_username(username)
        role = parse_role(role)
        display_name = _clean_text(display_name, "display_name", "显示名称", 200)
        generated = None
        if password is None:
            password = generated = random_password()
        check_password_policy(password)
        projects = self._clean_projects(projects)
        pw_hash = hash_password(password)
        with self.catalog.transaction() as tx:
            if db.user_by_username(tx.conn, username) is not None:
                raise Conflict(
                    f"用户名“{username}”已被使用。", f"The username '{username}' is taken.", field="username"
                )
            user_id = db.insert_user(
                tx.conn,
                username=username,
                display_name=display_name,
                role=role.value,
                password_hash=pw_hash,
                actor=actor,
                now=tx.now,
                password_change_required=generated is not None,
            )
            db.set_projects(tx.conn, user_id, projects, actor=actor, now=tx.now)
            tx.append_audit(
                actor,
                AccountAction.USER_CREATED,
                details={"username": username, "role": role.value, "projects": projects},
            )
        return self.get(username), generated

    def ensure_initial_admin(self) -> str | None:
        """With no users at all, create :data:`INITIAL_ADMIN` with a random password and return
        that password (the caller prints it once); otherwise do nothing and return None. The one
        place the first administrator is made: ``docsvc init`` and the web's first page call it."""
        password = random_password()
        pw_hash = hash_password(password)
        with self.catalog.transaction() as tx:
            # Counted under the write lock: two processes starting at once make one admin.
            if db.count_users(tx.conn):
                return None
            db.insert_user(
                tx.conn,
                username=INITIAL_ADMIN,
                display_name="管理员 Administrator",
                role=Role.ADMIN.value,
                password_hash=pw_hash,
                actor="docsvc",
                now=tx.now,
                password_change_required=True,
            )
            tx.append_audit(
                "docsvc",
                AccountAction.USER_CREATED,
                details={"username": INITIAL_ADMIN, "role": Role.ADMIN.value, "initial": True},
            )
        return password

    def update(
        self,
        username: str,
        *,
        actor: str,
        role: str | Role | None = None,
        active: bool | None = None,
        display_name: str | None = None,
        projects: Iterable[str] | None = None,
    ) -> User:
        """Change role, active flag, display name and/or projects; one audit entry per kind."""
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = parse_role(role).value
        if active is not None:
            if not isinstance(active, bool):
                raise InvalidInput("active 必须是 true 或 false。", "active must be true or false.", field="active")
            changes["active"] = active
        if display_name is not None:
            changes["display_name"] = _clean_text(display_name, "display_name", "显示名称", 200)
        new_projects = None if projects is None else self._clean_projects(projects)
        with self.catalog.transaction() as tx:
            row = self._locked(tx, username)
            before = {k: row[k] for k in changes}
            diff = {k: {"from": before[k], "to": v} for k, v in changes.items() if before[k] != v}
            if diff.get("role", {}).get("from") == Role.ADMIN or diff.get("active", {}).get("from") is True:
                if row["role"] == Role.ADMIN and self._last_active_admin(tx, row["id"]):
                    raise Conflict(
                        "不能降级或停用最后一个启用的管理员。",
                        "The last active administrator cannot be demoted or deactivated.",
                        field="role" if "role" in diff else "active",
                    )
            if diff:
                db.update_user(tx.conn, row["id"], tx.now, **{k: v["to"] for k, v in diff.items()})
                ended = {}
                if "role" in diff or diff.get("active", {}).get("to") is False:
                    reason = (
                        SessionEnd.DISABLED if diff.get("active", {}).get("to") is False else SessionEnd.ROLE_CHANGED
                    )
                    ended = {"sessions_ended": db.end_sessions_of(tx.conn, row["id"], reason, self.clock())}
                tx.append_audit(
                    actor, AccountAction.USER_CHANGED, details={"username": row["username"], "changes": diff, **ended}
                )
            if new_projects is not None:
                old = db.projects_of(tx.conn, row["id"])
                if old != new_projects:
                    db.set_projects(tx.conn, row["id"], new_projects, actor=actor, now=tx.now)
                    tx.append_audit(
                        actor,
                        AccountAction.PROJECTS_CHANGED,
                        details={"username": row["username"], "from": old, "to": new_projects},
                    )
        return self.get(username)

    def set_password(
        self, username: str, new_password: str, *, actor: str, current_password: str | None = None
    ) -> None:
        """Set a password. Users changing their own pass ``current_password``; administrators
        resetting someone else's do not. A wrong current password counts against the account
        like a failed sign-in: a session left open is no way round the lockout."""
        check_password_policy(new_password)
        pw_hash = hash_password(new_password)
        subjects = [(Scope.ACCOUNT, str(username).strip().lower())] if current_password is not None else []
        checked = None
        if subjects:
            self._count_attempt(subjects)
            with self.catalog.reading() as conn:
                row = db.user_by_username(conn, subjects[0][1])
            if row is not None and not password_matches(row["password_hash"], str(current_password)[:MAX_PASSWORD]):
                block = self._record_failure(
                    subjects, "wrong_current_password", actor=row["username"], via="account", address=""
                )
                if block is not None:
                    raise block
                raise InvalidInput("当前密码不正确。", "The current password is wrong.", field="current_password")
            checked = row["password_hash"] if row is not None else None
        with self.catalog.transaction() as tx:
            row = self._locked(tx, username)
            if subjects:
                if row["password_hash"] != checked:  # changed elsewhere while this one was checked
                    raise Conflict(
                        "密码刚刚在别处被修改，请重新登录后再试。",
                        "The password was just changed elsewhere; sign in again and retry.",
                        field="current_password",
                    )
                self._take_back(tx, subjects)
            # A password set for someone else is theirs to replace at their next sign-in.
            db.update_user(
                tx.conn, row["id"], tx.now, password_hash=pw_hash, password_change_required=actor != row["username"]
            )
            ended = db.end_sessions_of(tx.conn, row["id"], SessionEnd.PASSWORD_CHANGED, self.clock())
            tx.append_audit(
                actor,
                AccountAction.PASSWORD_CHANGED,
                details={
                    "username": row["username"],
                    "reset_by_other": actor != row["username"],
                    "sessions_ended": ended,
                },
            )

    def issue_token(self, username: str, *, actor: str, name: str = "") -> IssuedToken:
        name = _clean_text(name or "api", "name", "令牌名称", 100) or "api"
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.catalog.transaction() as tx:
            row = self._locked(tx, username)
            token_id = db.insert_token(
                tx.conn, user_id=row["id"], name=name, token_hash=hash_token(secret), actor=actor, now=tx.now
            )
            tx.append_audit(
                actor,
                AccountAction.TOKEN_CREATED,
                details={"username": row["username"], "token_id": token_id, "name": name},
            )
            token_row = db.token_by_id(tx.conn, token_id)
            assert token_row is not None  # inserted just now, in this transaction
            token = _token(token_row)
        return IssuedToken(token, secret)

    def revoke_token(self, username: str, token_id: int, *, actor: str) -> None:
        with self.catalog.transaction() as tx:
            row = self._locked(tx, username)
            token = db.token_by_id(tx.conn, token_id)
            if token is None or token["user_id"] != row["id"]:
                raise NotFound(f"令牌 {token_id} 不存在。", f"Token {token_id} does not exist.", field="token_id")
            if token["revoked_at"] is None:
                db.revoke_token(tx.conn, token_id, tx.now)
                tx.append_audit(
                    actor,
                    AccountAction.TOKEN_REVOKED,
                    details={"username": row["username"], "token_id": token_id, "name": token["name"]},
                )

    # -- authentication --------------------------------------------------------------------
    def login(self, username: str, password: str, *, via: str = "ui", address: str = "") -> tuple[Principal, str]:
        """Check a password and open a session; returns the principal and the session's secret
        (for the cookie: :meth:`principal_for_session` takes it back). The message never
        says whether the name or the password was wrong. Too many failures for the name or for
        the client ``address`` raise :class:`TooManyAttempts`, right password or not."""
        # Escaped: the name is a throttle key and an audit actor even when no account has it.
        name = escape_controls(str(username or "").strip().lower())[:64]
        subjects = ([(Scope.ACCOUNT, name)] if name else []) + ([(Scope.ADDRESS, address[:200])] if address else [])
        try:
            self._count_attempt(subjects)
        except TooManyAttempts as exc:
            log.warning(
                "sign-in refused: too many failed attempts",
                extra={"user": name, "address": address, "via": via, **exc.details},
            )
            raise
        with self.catalog.reading() as conn:
            row = db.user_by_username(conn, name) if USERNAME_RE.match(name) else None
        ok = password_matches(row["password_hash"] if row else _dummy_hash(), str(password or "")[:MAX_PASSWORD])
        if not (row and ok and row["active"]):
            reason = "unknown_user" if row is None else ("inactive" if ok else "wrong_password")
            log.warning("sign-in failed: %s", reason, extra={"user": name, "address": address, "via": via})
            block = self._record_failure(subjects, reason, actor=name or "-", via=via, address=address)
            if block is not None:
                raise block
            raise Unauthenticated(
                "用户名或密码不正确，或账户已停用。", "Wrong username or password, or the account is disabled."
            )
        secret = new_session_secret()
        with self.catalog.transaction() as tx:
            db.record_login(tx.conn, row["id"], tx.now)
            db.insert_session(
                tx.conn, session_id=hash_token(secret), user_id=row["id"], address=address, now=self.clock()
            )
            earlier = self._take_back(tx, subjects)
            tx.append_audit(row["username"], AccountAction.LOGIN, details={"via": via, **earlier})
        return self._principal(row, via), secret

    def _count_attempt(self, subjects: list[tuple[Scope, str]]) -> None:
        """Count the attempt against every subject before the password is checked, or refuse it."""
        if not subjects:
            return
        # A read first: a locked-out flood is refused without queueing behind the catalog's writers.
        with self.catalog.reading() as conn:
            now = self.clock()
            for scope, subject in subjects:
                row = db.login_failure(conn, scope.value, subject)
                block = throttle.blocked(throttle.counter_from_row(row) if row else None, now)
                if block is not None:
                    raise block.error(now)
        with self.catalog.transaction() as tx:
            now = self.clock()
            counted = []
            for scope, subject in subjects:
                row = db.login_failure(tx.conn, scope.value, subject)
                outcome = throttle.attempt(
                    throttle.counter_from_row(row) if row else None, scope, subject, now, self.policy
                )
                if isinstance(outcome, throttle.Block):
                    raise outcome.error(now)  # rolls back what was counted for the other subject
                counted.append((outcome, row is not None))
            for counter, exists in counted:
                db.save_login_failure(tx.conn, counter.to_row(), exists=exists)

    def _record_failure(
        self, subjects: list[tuple[Scope, str]], reason: str, *, actor: str, via: str, address: str
    ) -> TooManyAttempts | None:
        """The counted attempts failed; a lockout that begins now is the burst's one audit entry."""
        block = None
        with self.catalog.transaction() as tx:
            now = self.clock()
            for scope, subject in subjects:
                row = db.login_failure(tx.conn, scope.value, subject)
                if row is None:  # unlocked, or ended by a sign-in, while this one was checked
                    continue
                counter, lockout = throttle.failed(throttle.counter_from_row(row), now, self.policy, reason)
                db.save_login_failure(tx.conn, counter.to_row(), exists=True)
                if lockout is not None:
                    assert counter.locked_until is not None  # a lockout sets it
                    ended = {}
                    user = db.user_by_username(tx.conn, subject) if scope is Scope.ACCOUNT else None
                    if user is not None:  # the guesser may already hold a session of the account
                        ended = {"sessions_ended": db.end_sessions_of(tx.conn, user["id"], SessionEnd.LOCKED, now)}
                    tx.append_audit(
                        actor,
                        AccountAction.LOGIN_LOCKED,
                        details={
                            "scope": scope.value,
                            "subject": subject,
                            "failures": lockout.failures,
                            "reasons": dict(lockout.reasons),
                            "locked_until": iso(counter.locked_until),
                            "lockout": counter.lockouts,
                            "via": via,
                            "address": address,
                            **ended,
                        },
                    )
                    log.warning(
                        "sign-in locked: %s %s after %d failures, until %s",
                        scope.value,
                        subject,
                        lockout.failures,
                        iso(counter.locked_until),
                        extra={"lockout": counter.lockouts, "via": via, "address": address},
                    )
                    block = block or throttle.Block(scope, counter.locked_until, True).error(now)
            db.forget_login_failures(tx.conn, now - self.policy.forget_after)
        return block

    def _take_back(self, tx: Tx, subjects: list[tuple[Scope, str]]) -> dict[str, Any]:
        """A sign-in succeeded: its account starts afresh, and its address gets the attempt back.
        Returns what the audit entry says about the failures it ends."""
        earlier: dict[str, Any] = {}
        for scope, subject in subjects:
            row = db.login_failure(tx.conn, scope.value, subject)
            if row is None:
                continue
            counter = throttle.succeeded(throttle.counter_from_row(row))
            if scope is Scope.ACCOUNT:
                db.delete_login_failure(tx.conn, scope.value, subject)
                if counter.failures or counter.reasons:
                    earlier = {"failures_before": sum(counter.reasons.values()), "reasons": dict(counter.reasons)}
            else:
                db.save_login_failure(tx.conn, counter.to_row(), exists=True)
        return earlier

    def lock_of(self, username: str) -> dt.datetime | None:
        """Until when sign-ins to ``username`` are refused after failures (None: they are not)."""
        with self.catalog.reading() as conn:
            row = db.login_failure(conn, Scope.ACCOUNT.value, str(username).strip().lower())
        block = throttle.blocked(throttle.counter_from_row(row) if row else None, self.clock())
        return block.until if block is not None and block.locked else None

    def unlock(self, *, actor: str, username: str | None = None, address: str | None = None) -> bool:
        """Lift the lockout (and forget the failures) of an account or a client address; audited.
        False when there was nothing to lift."""
        if not username and not address:
            raise InvalidInput("请指定用户名或网络地址。", "Name a user or an address.", field="username")
        scope, subject = (
            (Scope.ACCOUNT, str(username).strip().lower()) if username else (Scope.ADDRESS, str(address).strip())
        )
        with self.catalog.transaction() as tx:
            row = db.login_failure(tx.conn, scope.value, subject)
            if row is None:
                if scope is Scope.ACCOUNT and db.user_by_username(tx.conn, subject) is None:
                    raise NotFound(f"用户“{subject}”不存在。", f"User '{subject}' does not exist.", field="username")
                return False
            counter = throttle.counter_from_row(row)
            db.delete_login_failure(tx.conn, scope.value, subject)
            tx.append_audit(
                actor,
                AccountAction.UNLOCKED,
                details={
                    "scope": scope.value,
                    "subject": subject,
                    "locked_until": iso(counter.locked_until) if counter.locked_until else None,
                    "lockouts": counter.lockouts,
                    "failures_since": sum(counter.reasons.values()),
                },
            )
        return True

    def logout(self, principal: Principal, session_secret: str | None = None) -> None:
        """Sign out: the session ends for every copy of its cookie, on every server."""
        with self.catalog.transaction() as tx:
            if session_secret:
                db.end_session(tx.conn, hash_token(session_secret), SessionEnd.LOGOUT, self.clock())
            tx.append_audit(principal.username, AccountAction.LOGOUT, details={"via": principal.via})

    def principal_for_session(self, user_id: int, session_secret: str) -> Principal | None:
        """The session's user, or None when the session ended, idled out or expired, or its
        account is gone or disabled."""
        session_id = hash_token(str(session_secret))
        now = self.clock()
        with self.catalog.reading() as conn:
            row = db.session_with_user(conn, session_id)
            if (
                row is None
                or row["session_user_id"] != user_id
                or row["session_ended_at"] is not None
                or not row["active"]
            ):
                return None
            seen = _utc(row["session_last_seen_at"])
            timed_out = (
                SessionEnd.EXPIRED
                if now - _utc(row["session_created_at"]) > self.sessions.absolute
                else SessionEnd.IDLE
                if now - seen > self.sessions.idle
                else None
            )
            principal = None if timed_out else self._principal(row, "ui", conn)
        if timed_out or now - seen > SESSION_TOUCH_INTERVAL:
            with self.catalog.writing() as conn:
                if timed_out:
                    db.end_session(conn, session_id, timed_out, now)
                else:
                    db.touch_session(conn, session_id, now)
        return principal

    def end_sessions(self, username: str, *, actor: str) -> int:
        """End every session of ``username`` at once (a lost laptop, a shared computer); audited.
        Returns how many were open."""
        with self.catalog.transaction() as tx:
            row = self._locked(tx, username)
            ended = db.end_sessions_of(tx.conn, row["id"], SessionEnd.ENDED, self.clock())
            tx.append_audit(
                actor, AccountAction.SESSIONS_ENDED, details={"username": row["username"], "sessions_ended": ended}
            )
        return ended

    def open_sessions(self, username: str) -> int:
        """How many sessions of ``username`` are open now (not ended, not idled out)."""
        user = self.get(username)
        with self.catalog.reading() as conn:
            return len(db.open_sessions(conn, user.id, seen_since=self.clock() - self.sessions.idle))

    def forget_sessions(self, *, older_than: dt.timedelta) -> int:
        """Remove sessions that ended, or were last seen, longer ago than ``older_than`` (and than
        the idle limit, past which they are over anyway)."""
        with self.catalog.writing() as conn:
            return db.forget_sessions(conn, self.clock() - max(older_than, self.sessions.idle))

    def principal_for_token(self, secret: str) -> Principal:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            raise Unauthenticated("API 令牌无效。", "Invalid API token.")
        with self.catalog.reading() as conn:
            row = db.token_with_user(conn, hash_token(secret))
            if row is None or row["token_revoked_at"] is not None or not row["active"]:
                raise Unauthenticated(
                    "API 令牌无效、已吊销，或其账户已停用。",
                    "The API token is invalid or revoked, or its account is disabled.",
                )
            principal = self._principal(row, f"api-token:{row['token_name']}", conn)
        now = utcnow()
        last = _utc(row["token_last_used_at"])
        if last is None or now - last > TOKEN_TOUCH_INTERVAL:
            with self.catalog.writing() as conn:
                db.touch_token(conn, row["token_id"], now)
        return principal

    def principal_for_cli(self, actor: str) -> Principal:
        """The CLI runs as an operator who already holds the archive folder and the database;
        when ``--as`` names an active docsvc user, that user's role applies instead, so the
        same rules can be checked from a terminal."""
        with self.catalog.reading() as conn:
            row = db.user_by_username(conn, actor.strip().lower()) if USERNAME_RE.match(actor.strip().lower()) else None
            if row is not None and row["active"]:
                return self._principal(row, "cli", conn)
        return Principal(actor, Role.ADMIN, via="cli")

    # -- helpers ----------------------------------------------------------------------------
    def _principal(self, row: Mapping[str, Any], via: str, conn: Connection | None = None) -> Principal:
        if conn is None:
            with self.catalog.reading() as c:
                projects = db.projects_of(c, row["id"])
        else:
            projects = db.projects_of(conn, row["id"])
        return Principal(row["username"], Role(row["role"]), frozenset(projects), row["display_name"], row["id"], via)

    @staticmethod
    def _locked(tx: Tx, username: str) -> Mapping[str, Any]:
        row = db.user_by_username(tx.conn, str(username).strip().lower(), for_update=True)
        if row is None:
            raise NotFound(f"用户“{username}”不存在。", f"User '{username}' does not exist.", field="username")
        return row

    @staticmethod
    def _last_active_admin(tx: Tx, user_id: int) -> bool:
        others = [r for r in db.list_users(tx.conn) if r["id"] != user_id and r["role"] == Role.ADMIN and r["active"]]
        return not others

    @staticmethod
    def _clean_projects(projects: Iterable[str]) -> list[str]:
        if isinstance(projects, str):
            projects = projects.replace("，", ",").split(",")
        cleaned = sorted({_clean_text(p, "projects", "项目", 500) for p in projects if str(p).strip()})
        if len(cleaned) > 200:
            raise InvalidInput("项目过多（最多 200 个）。", "Too many projects (at most 200).", field="projects")
        return cleaned
