"""Notifications end to end: real Apprise, a real aiosmtpd sink on loopback, a real SQLite file."""

from __future__ import annotations

import pytest
from sqlmodel import select

from aftersales.config.settings import Settings
from aftersales.errors import ConfigurationError, TransientIntegrationError
from aftersales.messaging.delivery import deliver, failed_notifications, retry_failed
from aftersales.messaging.mailsink import MailSink
from aftersales.messaging.render import render_message
from aftersales.messaging.transport import send, smtp_url
from aftersales.runtime.db import session_scope
from models.notification import MailboxMessage, Notification

LINK = "http://127.0.0.1:8000/gates/17?token=abc123"

GATE_REQUEST = {
    "case_number": "SH-2024-0042",
    "procedure_label": "换货",
    "gate_title": "审核换货申请",
    "summary": [{"label": "产品型号", "value": "XQB80-A"}, {"label": "故障描述", "value": "不排水"}],
    "link": LINK,
    "deadline": "2024-06-03 17:30",
    "assignee_name": "王芳",
}


def mailbox() -> list[MailboxMessage]:
    with session_scope() as session:
        return list(session.exec(select(MailboxMessage)).all())


def deliver_gate_request(key: str, **overrides: object) -> list[Notification]:
    args: dict = {
        "key": key,
        "case_id": None,
        "template": "gate_request",
        "recipient": "wang.fang",
        "language": "zh",
        "context": GATE_REQUEST,
        "urls": [smtp_url("wang.fang@example.com")],
        "retry_delay": 0.01,
    }
    args.update(overrides)
    return deliver(**args)


def test_a_chinese_gate_request_arrives_decoded_with_the_link_in_text_and_html(settings: Settings) -> None:
    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        [row] = deliver_gate_request("case-42:approve:request")

    expected = render_message("gate_request", "zh", GATE_REQUEST)
    [mail] = mailbox()
    assert [m.id for m in received] == [mail.id]
    assert mail.subject == expected.subject
    assert "审核换货申请" in mail.subject
    assert mail.rcpt_to == "wang.fang@example.com"
    assert settings.mail_from in mail.mail_from
    assert LINK in mail.text
    assert f'href="{LINK}"' in mail.html
    assert "王芳，您好" in mail.text and "王芳，您好" in mail.html

    assert row.status == "sent"
    assert row.attempts == 1
    assert row.sent_at is not None and row.last_error is None
    assert row.channel == "mailto"
    assert row.destination.startswith(f"mailto://127.0.0.1:{settings.smtp_port}")
    assert row.subject == expected.subject and row.body == expected.text and row.html == expected.html


def test_delivering_the_same_key_twice_sends_one_mail(settings: Settings) -> None:
    with MailSink():
        [first] = deliver_gate_request("case-42:approve:request")
        [again] = deliver_gate_request("case-42:approve:request")

    assert len(mailbox()) == 1
    assert first.id == again.id
    assert again.status == "sent" and again.attempts == 1


def test_the_sink_url_speaks_plain_smtp_and_a_starttls_url_is_refused(settings: Settings) -> None:
    message = render_message("gate_request", "en", GATE_REQUEST)
    url = smtp_url("ops@example.com")
    with MailSink():
        send(url, message)
        # The sink offers no STARTTLS, so the same URL in STARTTLS mode must fail: the form matters.
        with pytest.raises(TransientIntegrationError, match="starttls"):
            send(url.replace("mode=insecure", "mode=starttls"), message)
    assert len(mailbox()) == 1


def test_a_failing_destination_is_tried_n_times_then_listed_and_later_retried(settings: Settings) -> None:
    # Nothing listens on settings.smtp_port yet.
    [row] = deliver_gate_request("case-42:approve:request", attempts=3)

    assert row.status == "failed"
    assert row.attempts == 3
    assert row.last_error and "failed" in row.last_error
    assert [n.id for n in failed_notifications()] == [row.id]

    with MailSink():
        assert retry_failed() == 1

    [mail] = mailbox()
    assert LINK in mail.text
    assert failed_notifications() == []
    with session_scope() as session:
        stored = session.get(Notification, row.id)
    assert stored is not None
    assert stored.status == "sent" and stored.attempts == 4 and stored.last_error is None


def test_a_url_apprise_rejects_is_recorded_as_failed_without_stopping_the_others(settings: Settings) -> None:
    with MailSink():
        bad, good = deliver_gate_request(
            "case-42:approve:request", urls=["nosuchservice://secret-token/", smtp_url("wang.fang@example.com")]
        )

    assert bad.status == "failed" and bad.attempts == 1
    assert bad.last_error and "does not accept" in bad.last_error
    assert "secret-token" not in bad.last_error + bad.destination
    assert good.status == "sent"
    assert len(mailbox()) == 1


def test_a_template_error_raises_and_records_nothing(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="no_such_message"):
        deliver_gate_request("case-42:approve:request", template="no_such_message")
    with session_scope() as session:
        assert session.exec(select(Notification)).all() == []


def _case_for(email: str | None) -> str:
    from models import Case

    with session_scope() as session:
        case = Case(customer_name="客户", customer_phone="139", customer_email=email, product_model="PT-3000",
                    problem_description="坏了", procedure="repair", number=f"RP-NOTICE-{email or 'none'}")
        session.add(case)
        session.flush()
        assert case.number is not None
        return case.number


def _tell(number: str, key: str) -> int:
    from aftersales.cases.store import get_case
    from aftersales.messaging.notices import notice
    from aftersales.messaging.recipients import customer_recipients

    with session_scope() as session:
        case = get_case(session, number)
    return notice(case.id, f"case:{case.id}:{key}", customer_recipients(case), number, "repair.received")


def test_a_notice_counts_as_delivered_only_when_every_destination_got_it(settings: Settings) -> None:
    # What lets a replayed flow skip its cached notice task (tasks.records.notify_customer): never a notice that
    # still has a destination to get through, nor one that was never made.
    from aftersales.messaging.notices import delivered

    sent, unreachable, silent = _case_for("a@example.com"), _case_for("b@example.com"), _case_for(None)
    with MailSink():
        assert _tell(sent, "received") == 1
    assert _tell(unreachable, "received") == 0  # no SMTP server: the row is failed
    assert _tell(silent, "received") == 0  # no e-mail: nobody to tell, no row
    assert delivered(sent, "received")
    assert not delivered(sent, "received#2") and not delivered(sent, "receive")
    assert not delivered(unreachable, "received") and not delivered(silent, "received")
    assert not delivered("RP-NOPE", "received")


def test_apprise_mail_shares_the_systems_tls_context_only_when_it_verifies(settings: Settings) -> None:
    import ssl

    from aftersales.runtime import tls

    original = ssl.create_default_context
    tls.share_verified_contexts()
    try:
        with MailSink():
            send(smtp_url("wang.fang@example.com"), render_message("gate_request", "zh", GATE_REQUEST))
            shared = tls._shared[tls._SYSTEM]
            # verify=no: Apprise loosens its context, which must then be its own, not the shared one.
            send(smtp_url("wang.fang@example.com") + "&verify=no", render_message("gate_request", "zh", GATE_REQUEST))
        assert len(mailbox()) == 2
        assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname
        assert ssl.create_default_context() is not shared, "outside a sending block every caller gets its own"
    finally:
        ssl.create_default_context = original
