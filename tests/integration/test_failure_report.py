"""A message that keeps failing is reported to operations once, and never loops on its own report."""

from __future__ import annotations

from aftersales.config.settings import Settings
from aftersales.messaging.delivery import deliver
from aftersales.messaging.mailsink import MailSink
from aftersales.sla.sweep import report_failures
from models.notification import MailboxMessage

DEAD_END = "mailto://127.0.0.1:9/?smtp=127.0.0.1&mode=insecure&from=a@localhost&to=x@example.com"
NOTICE = {"case_number": "RP-1", "customer_name": "客户", "headline": "维修进度", "lines": ["进行中"]}


def test_a_failing_destination_is_reported_to_the_operations_managers_once(settings: Settings) -> None:
    [failed] = deliver(key="case:1:progress", case_id=None, template="case_notice", recipient="customer",
                       language="zh", context=NOTICE, urls=[DEAD_END], retry_delay=0.01)
    assert failed.status == "failed" and failed.attempts == settings.notify_attempts

    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        assert report_failures() == 2  # 督查员 陈静 and 部门经理 王芳
        report_failures()  # a later sweep: already told, nothing new
    assert sorted(m.rcpt_to for m in received) == ["chen.jing@example.com", "wang.fang@example.com"]
    assert all("case_notice" in m.subject and "customer" in m.subject for m in received)
