"""Message rendering and the Apprise adapter's pure helpers."""

from __future__ import annotations

import apprise
import pytest
from jinja2 import meta

from aftersales.config.settings import get_settings
from aftersales.errors import ConfigurationError
from aftersales.messaging.render import _environment, render_message
from aftersales.messaging.transport import channel_of, mask_url, smtp_url

SUMMARY = [{"label": "产品型号", "value": "XQB80-A"}, {"label": "故障", "value": "不排水"}]
STAFF_KEYS = {"case_number", "procedure_label", "gate_title", "summary", "link", "deadline", "assignee_name"}

# The documented context of every template: staff messages get only these keys, so a template
# cannot reach customer phone numbers or addresses (privacy rule 000:69, 004:103).
CONTRACT: dict[str, set[str]] = {
    "gate_request": STAFF_KEYS,
    "gate_reminder": STAFF_KEYS | {"time_left", "overdue"},
    "gate_escalated": STAFF_KEYS | {"rung", "previous_assignee", "reason", "changes"},
    "customer_action": {"case_number", "customer_name", "gate_title", "summary", "link", "deadline"},
    "case_notice": {"case_number", "customer_name", "headline", "lines"},
    "notification_failed": {"case_number", "template", "recipient", "destination", "attempts", "error"},
}

SAMPLE = {
    "case_number": "SH-2024-0042",
    "procedure_label": "换货",
    "gate_title": "审核换货申请",
    "summary": SUMMARY,
    "link": "http://127.0.0.1:8000/gates/17?token=abc",
    "deadline": "2024-06-03 17:30",
    "assignee_name": "王芳",
    "time_left": "2 小时",
    "overdue": False,
    "rung": 2,
    "previous_assignee": "李雷",
    "reason": "超时未处理",
    "changes": ["截止时间延后一天"],
    "customer_name": "张先生",
    "headline": "您的换货已发出",
    "lines": ["快递单号 SF123", "预计 3 天内送达"],
    "template": "gate_request",
    "recipient": "wang.fang",
    "destination": "mailto://127.0.0.1:1025/wang.fang%40example.com",
    "attempts": 3,
    "error": "Connection error",
}


def context_for(template: str) -> dict:
    return {k: SAMPLE[k] for k in CONTRACT[template]}


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("template", sorted(CONTRACT))
def test_every_template_renders_in_both_languages(template: str, language: str) -> None:
    message = render_message(template, language, context_for(template))

    assert message.subject and "\n" not in message.subject
    assert SAMPLE["case_number"] in message.subject
    assert message.text.strip() and message.html.lstrip().startswith("<!DOCTYPE html>")
    if "link" in CONTRACT[template]:
        assert SAMPLE["link"] in message.text
        assert 'href="http://127.0.0.1:8000/gates/17?token=abc"' in message.html


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("template", sorted(CONTRACT))
def test_templates_use_exactly_their_documented_context(template: str, language: str) -> None:
    env = _environment(get_settings().templates_dir)
    # Names imported from _macros.html show up as undeclared inside blocks; they are not context.
    macros = {name for name in vars(env.get_template("_macros.html").module) if not name.startswith("_")}
    used: set[str] = set()
    for suffix in ("subject.txt", "txt", "html"):
        name = f"{language}/{template}.{suffix}"
        source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
        used |= meta.find_undeclared_variables(env.parse(source))
    assert used - macros == CONTRACT[template]


def test_a_missing_variable_fails_loudly() -> None:
    context = context_for("gate_request")
    del context["link"]
    with pytest.raises(ConfigurationError, match="link"):
        render_message("gate_request", "zh", context)


def test_customer_text_cannot_inject_markup_into_the_html() -> None:
    context = context_for("customer_action")
    context["summary"] = [{"label": "备注", "value": "<script>alert('x')</script>"}]

    message = render_message("customer_action", "en", context)

    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "<script>alert('x')</script>" in message.text  # plain text keeps what the customer typed


def test_an_unknown_language_names_the_missing_file() -> None:
    with pytest.raises(ConfigurationError, match=r"fr/gate_request\.subject\.txt"):
        render_message("gate_request", "fr", context_for("gate_request"))


def test_an_unknown_template_names_the_missing_file() -> None:
    with pytest.raises(ConfigurationError, match=r"zh/no_such_message\.subject\.txt"):
        render_message("no_such_message", "zh", {})


def test_mask_url_hides_the_password_but_keeps_scheme_and_host() -> None:
    masked = mask_url("mailtos://ops:hunter2@smtp.example.com:587/lead@example.com?from=ops@example.com")

    assert "hunter2" not in masked
    assert masked.startswith("mailtos://ops:****@smtp.example.com")


def test_mask_url_hides_a_token_that_sits_where_the_host_goes() -> None:
    assert "abcdef0123456789" not in mask_url("dingtalk://abcdef0123456789/")
    assert "abcdef0123456789" not in mask_url("unknownscheme://abcdef0123456789/x")


def test_channel_of_is_the_apprise_scheme() -> None:
    assert channel_of("mailtos://u:p@smtp.example.com") == "mailtos"
    assert channel_of("DingTalk://token/") == "dingtalk"


def test_smtp_url_means_plain_smtp_to_the_configured_sink() -> None:
    settings = get_settings()
    plugin = apprise.Apprise.instantiate(smtp_url("王芳 <wang.fang@example.com>"))

    assert plugin.smtp_host == settings.smtp_host and plugin.port == settings.smtp_port
    assert plugin.secure is False and plugin.secure_mode == "insecure"
    assert not plugin.user and not plugin.password
    assert plugin.targets == [("王芳", "wang.fang@example.com")]
