"""docsvc user add | list | set-role | token | passwd | unlock | signout.

Through the Guard like the web's user pages: the local operator is an administrator; ``--as``
a docsvc user applies that user's role (only administrators manage others' accounts). Every
change is an audit entry naming who made it.
"""

from __future__ import annotations

import sys

import click

from docsvc.cli import Context, cli, echo, emit_json, handled, json_option, pass_ctx
from docsvc.errors import InvalidInput
from docsvc.services.users import Role


@cli.group()
def user() -> None:
    """用户、角色与 API 令牌 / users, roles and API tokens."""


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidInput("标准输入中没有密码。", "No password on standard input.", field="password")
    return password


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help="角色 / role")
@click.option("--name", "display_name", default="", help="显示名称 / display name")
@click.option("--project", "projects", multiple=True, help="所属项目，可重复 / project (repeatable)")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="从标准输入读取密码；否则生成随机密码并显示一次 / read the password from stdin",
)
@json_option
@pass_ctx
@handled
def user_add(
    ctx: Context,
    username: str,
    role: str,
    display_name: str,
    projects: tuple[str, ...],
    password_stdin: bool,
    as_json: bool,
) -> None:
    """新建用户 / create a user."""
    password = _read_password() if password_stdin else None
    created, generated = ctx.guard.create_user(
        username, role, password=password, display_name=display_name, projects=projects
    )
    if as_json:
        emit_json({"user": created.to_dict(), **({"password": generated} if generated else {})})
        return
    echo(f"已创建用户 {created.username}（{created.role.zh}）/ user created.")
    if generated:
        echo(f"初始密码（只显示这一次）/ initial password (shown once): {generated}")


@user.command("list")
@json_option
@pass_ctx
@handled
def user_list(ctx: Context, as_json: bool) -> None:
    """列出用户 / list users."""
    users = ctx.guard.users()
    if as_json:
        emit_json({"items": [u.to_dict() for u in users]})
        return
    for u in users:
        state = "" if u.active else "  [停用 disabled]"
        echo(
            f"{u.username:<20} {u.role.value:<8} {u.role.zh:<6} {u.display_name}"
            f"{'  项目: ' + '、'.join(u.projects) if u.projects else ''}{state}"
        )
    echo(f"共 {len(users)} 个用户 / {len(users)} user(s)")


@user.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in Role]))
@json_option
@pass_ctx
@handled
def user_set_role(ctx: Context, username: str, role: str, as_json: bool) -> None:
    """修改角色（记入审计日志）/ change a user's role (audited)."""
    u = ctx.guard.update_user(username, role=role)
    if as_json:
        emit_json(u.to_dict())
    else:
        echo(f"{u.username} 的角色现为 {u.role.value}（{u.role.zh}）/ role set.")


@user.command("token")
@click.argument("username")
@click.option("--name", default="api", show_default=True, help="令牌名称 / token name")
@json_option
@pass_ctx
@handled
def user_token(ctx: Context, username: str, name: str, as_json: bool) -> None:
    """新建 API 令牌并显示一次 / make an API token and print it once."""
    issued = ctx.guard.issue_token(username, name)
    if as_json:
        emit_json({"token": issued.secret, **issued.token.to_dict()})
        return
    echo(issued.secret)
    echo(
        "请立即保存：此令牌只显示这一次。用法：Authorization: Bearer <令牌>\n"
        "Save it now: it is shown only once. Use it as: Authorization: Bearer <token>",
        err=True,
    )


@user.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取新密码；否则生成随机密码 / read it from stdin")
@pass_ctx
@handled
def user_passwd(ctx: Context, username: str, password_stdin: bool) -> None:
    """重置密码 / reset a password."""
    password = _read_password() if password_stdin else None
    from docsvc.services.users import random_password

    new = password or random_password()
    ctx.guard.reset_password(username, new)
    echo("密码已重置 / password reset." if password else f"新密码（只显示这一次）/ new password (shown once): {new}")


@user.command("unlock")
@click.argument("username", required=False)
@click.option("--address", help="解除某个网络地址（IP）的锁定 / lift the lock of a client address instead")
@pass_ctx
@handled
def user_unlock(ctx: Context, username: str | None, address: str | None) -> None:
    """解除登录失败造成的锁定（记入审计日志）/ lift a lock from failed sign-ins (audited)."""
    if bool(username) == bool(address):
        raise InvalidInput("请指定用户名或 --address 之一。", "Give either a username or --address.", field="username")
    lifted = ctx.guard.unlock_user(username, address=address)
    who = username or address
    echo(f"已解除 {who} 的登录锁定 / lock lifted." if lifted else f"{who} 没有被锁定 / {who} was not locked.")


@user.command("signout")
@click.argument("username")
@pass_ctx
@handled
def user_signout(ctx: Context, username: str) -> None:
    """结束该用户在所有设备上的登录会话（记入审计日志）/ end every sign-in session of a user (audited)."""
    n = ctx.guard.end_sessions(username)
    echo(f"已结束 {username} 的 {n} 个登录会话 / {n} session(s) ended.")
