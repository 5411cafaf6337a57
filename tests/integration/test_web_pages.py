"""Every HTML page rendered through the real app (FastAPI TestClient) against a fresh SQLite file; no Prefect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from aftersales.config.settings import Settings
from aftersales.gates.links import issue_link
from aftersales.messaging.labels import label
from aftersales.runtime.db import session_scope
from aftersales.web.app import create_app
from aftersales.web.pages import render
from models import Case, CaseEvent, Escalation, Gate, GateToken, MailboxMessage, Notification
from tests.signin import sign_in

NUMBER = "RP-20260105-00001"
PHONE = "13912345678"
ADDRESS = "上海市浦东新区世纪大道100号"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app with operations signed in (the refusals to others: test_access.py)."""
    with TestClient(create_app()) as test_client:
        sign_in(test_client)
        yield test_client


def make_case(number: str = NUMBER, *, language: str = "zh", data: dict[str, Any] | None = None,
              status: str = "open") -> int:
    with session_scope() as session:
        case = Case(number=number, procedure="repair", status=status, customer_name="王小明",
                    customer_phone=PHONE, customer_address=ADDRESS, customer_email="wang@example.com",
                    product_model="XQB80-A", serial_number="SN-0001", purchase_date=date(2025, 3, 1),
                    problem_description="洗衣机不排水", language=language, data=data or {})
        session.add(case)
        session.flush()
        assert case.id is not None
        return case.id


def make_gate(case_id: int, *, key: str = "triage", kind: str = "repair.triage", input_model: str = "TriageInput",
              role: str = "customer_service", deadline_in: timedelta = timedelta(hours=4), status: str = "waiting",
              rung: int = 0) -> int:
    now = datetime.now(UTC)
    with session_scope() as session:
        gate = Gate(case_id=case_id, key=key, kind=kind, input_model=input_model, assignee_role=role,
                    customer_gate=role == "customer", rung=rung, status=status, opened_at=now - timedelta(hours=3),
                    deadline_at=now + deadline_in,
                    context={"summary": [{"label": "产品型号", "value": "XQB80-A"},
                                         {"label": "问题描述", "value": "洗衣机不排水 <b>急</b>"}]})
        session.add(gate)
        session.flush()
        assert gate.id is not None
        return gate.id


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["t"][0]


def gate_status(gate_id: int) -> str:
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None
        return gate.status


# --- operations --------------------------------------------------------------------------------------------------


def test_ops_page_says_so_when_nothing_is_open(client: TestClient) -> None:
    page = client.get("/ops")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Nothing is waiting" in page.text
    assert "No escalations" in page.text
    assert "No failed messages" in page.text
    assert 'href="/inbox"' in page.text and 'href="/ops"' in page.text


def test_ops_page_lists_a_late_gate_its_escalation_a_failed_message_and_an_idle_case(client: TestClient) -> None:
    case_id = make_case()
    gate_id = make_gate(case_id, deadline_in=timedelta(hours=-2), rung=1)
    idle_id = make_case("RP-20260105-00002")
    with session_scope() as session:
        session.add(Escalation(gate_id=gate_id, case_id=case_id, from_role="customer_service",
                               to_role="after_sales_supervisor", rung=1, reason="deadline passed", told="chen.jing"))
        session.add(Notification(key="gate:1:request:0:li.na:0", case_id=case_id, template="gate_request",
                                 recipient="li.na", channel="mailto", destination="mailto://li.na@example.com",
                                 attempts=3, status="failed", last_error="Connection refused <smtp>"))
    page = client.get("/ops")
    assert page.status_code == 200
    text = page.text
    assert f'href="/cases/{NUMBER}"' in text
    assert "报修分诊与保修判定" in text  # the step
    assert "客服人员 / 售后服务员" in text  # the holder (role label)
    assert "overdue" in text and 'class="late"' in text
    assert "售后服务管理师 / 督查员" in text and "deadline passed" in text  # escalation from -> to
    assert "1 message failed to send" in text
    assert "gate_request" in text and "mailto://li.na@example.com" in text
    assert "Connection refused &lt;smtp&gt;" in text
    assert "RP-20260105-00002" in text and idle_id  # open, waiting on nothing
    assert PHONE not in text and ADDRESS not in text


# --- case page and printable forms -------------------------------------------------------------------------------


def factory_return_case() -> tuple[int, int]:
    case_id = make_case(data={"warranty": "out_of_warranty", "customer_responsibility": True, "fee": 350.0,
                              "plan": "更换排水泵", "repair_mode": "factory_return",
                              "repair_record": {"fault_found": "排水泵卡死", "cause": "异物进入",
                                                "work_done": "更换排水泵", "parts_replaced": "排水泵 x1",
                                                "hours": 1.5, "technician": "周强", "comment": ""}})
    gate_id = make_gate(case_id, key="qa_test#1.1", kind="repair.qa_test", input_model="QATestInput",
                        role="quality_qa")
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add(CaseEvent(case_id=case_id, key="opened", kind="opened", actor="channel:hotline",
                              summary=f"case {NUMBER} registered (repair)", at=now - timedelta(days=2)))
        session.add(CaseEvent(case_id=case_id, key="form-ma-076", kind="form", summary="返修申请单 FORM-MA-076 filled",
                              data={"form": f"/cases/{NUMBER}/forms/FORM-MA-076"}, at=now - timedelta(days=1)))
        session.add(CaseEvent(case_id=case_id, key="ageing#1.1", kind="test", summary="ageing 24.0 h: passed",
                              at=now - timedelta(hours=5)))
        session.add(Escalation(gate_id=gate_id, case_id=case_id, from_role="quality_qa", to_role="after_sales_manager",
                               rung=1, reason="QA late"))
        session.add(Notification(key="n1", case_id=case_id, template="gate_request", recipient="sun.li",
                                 channel="mailto", destination="mailto://sun.li@example.com", subject="QA 测试",
                                 attempts=1, status="sent"))
    return case_id, gate_id


def test_case_page_shows_state_gates_history_escalations_messages_and_form_links(client: TestClient) -> None:
    factory_return_case()
    page = client.get(f"/cases/{NUMBER}")
    assert page.status_code == 200
    text = page.text
    assert NUMBER in text and "维修" in text and "处理中" in text
    assert "品质QA全功能测试" in text  # current gate
    assert "qa_test#1.1" in text
    assert "返修申请单 FORM-MA-076 filled" in text and "ageing 24.0 h: passed" in text
    assert "QA late" in text and "after_sales_manager" in text
    assert "QA 测试" in text and "sun.li" in text
    assert f'href="/cases/{NUMBER}/forms/FORM-MA-076"' in text
    assert f'href="/cases/{NUMBER}/forms/FORM-MA-077"' in text
    assert PHONE not in text


def test_case_page_without_factory_return_has_no_form_links_and_unknown_case_is_404(client: TestClient) -> None:
    make_case(data={"repair_mode": "on_site"})
    page = client.get(f"/cases/{NUMBER}")
    assert page.status_code == 200
    assert "/forms/FORM-MA-076" not in page.text
    missing = client.get("/cases/RP-19990101-00009")
    assert missing.status_code == 404
    assert "Not found" in missing.text and "No case RP-19990101-00009." in missing.text


def test_form_ma_076_is_filled_from_the_case(client: TestClient) -> None:
    factory_return_case()
    page = client.get(f"/cases/{NUMBER}/forms/FORM-MA-076")
    assert page.status_code == 200
    text = page.text
    assert "返修申请单" in text and "FORM-MA-076" in text and NUMBER in text
    assert "王小明" in text and "XQB80-A" in text and "SN-0001" in text and "2025-03-01" in text
    assert "洗衣机不排水" in text
    assert "保修期外 / 客户责任" in text and "350.00" in text and "更换排水泵" in text
    assert "维修后质量责任" in text
    for department in ["行政人力", "品质管理", "物资(仓库)", "生产制造", "研发"]:
        assert department in text
    for box in ["填表人", "审核", "日期"]:
        assert box in text
    assert "@media print" in text
    assert PHONE not in text and ADDRESS not in text


def test_form_ma_077_shows_the_record_and_the_test_results(client: TestClient) -> None:
    factory_return_case()
    page = client.get(f"/cases/{NUMBER}/forms/FORM-MA-077")
    assert page.status_code == 200
    text = page.text
    assert "返修品维修记录表" in text and "FORM-MA-077" in text and NUMBER in text
    for value in ["排水泵卡死", "异物进入", "更换排水泵", "排水泵 x1", "1.5", "周强", "ageing 24.0 h: passed"]:
        assert value in text
    assert "维修人员签字" in text


def test_forms_print_blanks_when_nothing_is_recorded_and_unknown_codes_are_404(client: TestClient) -> None:
    make_case()
    for code in ["FORM-MA-076", "FORM-MA-077"]:
        page = client.get(f"/cases/{NUMBER}/forms/{code}")
        assert page.status_code == 200, code
        assert code in page.text and 'class="blank"' in page.text
    assert client.get(f"/cases/{NUMBER}/forms/FORM-XX-000").status_code == 404
    assert client.get("/cases/RP-19990101-00009/forms/FORM-MA-076").status_code == 404


# --- demo inbox --------------------------------------------------------------------------------------------------


def test_inbox_lists_filters_and_shows_a_message_escaped_with_clickable_links(client: TestClient) -> None:
    with session_scope() as session:
        mail = MailboxMessage(mail_from="aftersales@localhost", rcpt_to="li.na@example.com", subject="请处理 <审核>",
                              text="您好\n<script>alert('x')</script>\n链接: http://127.0.0.1:8000/gates/1?t=abc\n")
        other = MailboxMessage(mail_from="aftersales@localhost", rcpt_to="anna.schmidt@example.com",
                               subject="Please review", text="Hello")
        session.add(mail)
        session.add(other)
        session.flush()
        mail_id = mail.id

    listing = client.get("/inbox")
    assert listing.status_code == 200
    assert "local demo mail sink" in listing.text
    assert f'href="/inbox/{mail_id}"' in listing.text and "请处理 &lt;审核&gt;" in listing.text
    assert "Please review" in listing.text

    filtered = client.get("/inbox", params={"to": "anna"})
    assert "Please review" in filtered.text and "li.na@example.com" not in filtered.text
    assert 'value="anna"' in filtered.text
    assert "No messages" in client.get("/inbox", params={"to": "nobody"}).text

    shown = client.get(f"/inbox/{mail_id}")
    assert shown.status_code == 200
    assert "<script>alert" not in shown.text
    assert "&lt;script&gt;alert(" in shown.text
    assert '<a href="http://127.0.0.1:8000/gates/1?t=abc">' in shown.text
    assert 'class="mailbody"' in shown.text and "aftersales@localhost" in shown.text
    assert client.get("/inbox/999").status_code == 404


# --- gate pages --------------------------------------------------------------------------------------------------


def test_a_forged_link_gets_a_refusal_page(client: TestClient) -> None:
    gate_id = make_gate(make_case())
    page = client.get(f"/gates/{gate_id}", params={"t": "not-a-real-token"})
    assert page.status_code == 403
    assert "链接无效" in page.text and "This link is not valid" in page.text
    assert "<form" not in page.text and "<button" not in page.text


@pytest.mark.parametrize(
    ("tamper", "status", "heading"),
    [
        ("used", 409, "链接已使用"),
        ("expired", 410, "链接已过期"),
        ("closed", 409, "该步骤已处理"),
        ("other_gate", 403, "链接不属于此步骤"),
    ],
)
def test_unusable_links_get_their_own_refusal(client: TestClient, tamper: str, status: int, heading: str) -> None:
    case_id = make_case()
    gate_id = make_gate(case_id)
    other_id = make_gate(case_id, key="remote_diagnosis", kind="repair.remote_diagnosis",
                         input_model="RemoteDiagnosisInput")
    token = token_of(issue_link(gate_id, "li.na"))
    with session_scope() as session:
        tokens = session.exec(select(GateToken)).all()
        gate = session.get(Gate, gate_id)
        assert gate is not None
        if tamper == "used":
            tokens[0].used_at = datetime.now(UTC)
        elif tamper == "expired":
            tokens[0].expires_at = datetime.now(UTC) - timedelta(minutes=1)
        elif tamper == "closed":
            gate.status = "answered"
    target = other_id if tamper == "other_gate" else gate_id
    page = client.get(f"/gates/{target}", params={"t": token})
    assert page.status_code == status
    assert heading in page.text
    assert "<form" not in page.text


def test_a_valid_link_in_chinese_renders_the_form_for_staff(client: TestClient) -> None:
    gate_id = make_gate(make_case(), rung=2)
    token = token_of(issue_link(gate_id, "li.na"))
    page = client.get(f"/gates/{gate_id}", params={"t": token})
    assert page.status_code == 200
    text = page.text
    assert NUMBER in text and "报修分诊与保修判定" in text and "维修" in text
    assert "已升级,第 2 级" in text
    assert "截止时间" in text
    assert "洗衣机不排水 &lt;b&gt;急&lt;/b&gt;" in text  # the summary, escaped
    assert "王小明" in text  # staff see the customer's name ...
    assert PHONE not in text and ADDRESS not in text  # ... never phone or address
    assert '<form method="post"' in text
    assert f'<input type="hidden" name="t" value="{token}">' in text
    assert "紧急报修" in text and "问题复杂度" in text  # Chinese field labels
    assert 'id="urgent" name="urgent" value="true"' in text  # bool -> radios
    assert 'name="urgent" value="false" checked' in text  # default False preselected
    assert '<select id="complexity" name="complexity"' in text
    assert '<option value="general" selected>' in text
    assert '<textarea id="comment" name="comment"' in text
    assert '<label class="main" for="comment">' in text
    assert "提交" in text and ">是<" not in text  # radio texts carry a space before them
    assert " 是</label>" in text and " 否</label>" in text


def test_a_valid_link_in_english_renders_number_date_and_integer_inputs(client: TestClient) -> None:
    case_id = make_case()
    plan_id = make_gate(case_id, key="plan#1", kind="repair.plan", input_model="RepairPlanInput",
                        role="service_engineer")
    page = client.get(f"/gates/{plan_id}", params={"t": token_of(issue_link(plan_id, "anna.schmidt"))})
    assert page.status_code == 200
    text = page.text
    assert "Repair plan" in text and "Deadline" in text and "Customer" in text
    assert "Repair mode" in text and "Fee in CNY (0 = free)" in text
    assert 'type="number" id="fee" name="fee"' in text and 'step="any"' in text and 'min="0"' in text
    assert '<option value="factory_return">factory return</option>' in text
    assert '<option value="local_agency">local agency</option>' in text  # 002:426 委托当地具备维修能力的机构
    assert '<option value="dispatch">off-site dispatch</option>' in text
    assert "Submit" in text and "提交" not in text

    follow_id = make_gate(case_id, key="follow_up", kind="repair.follow_up", input_model="FollowUpInput")
    page = client.get(f"/gates/{follow_id}", params={"t": token_of(issue_link(follow_id, "anna.schmidt"))})
    assert '<input type="date" id="visited_on" name="visited_on"' in page.text
    assert " Yes</label>" in page.text and " No</label>" in page.text

    survey_id = make_gate(case_id, key="survey", kind="repair.survey", input_model="SurveyInput", role="customer")
    page = client.get(f"/gates/{survey_id}", params={"t": token_of(issue_link(survey_id, "anna.schmidt"))})
    assert 'name="score"' in page.text and 'step="1"' in page.text and 'max="5"' in page.text


def test_the_customer_sees_the_form_in_the_case_language_without_staff_details(client: TestClient) -> None:
    case_id = make_case(language="en")
    gate_id = make_gate(case_id, key="acceptance#1", kind="repair.acceptance", input_model="AcceptanceInput",
                        role="customer")
    page = client.get(f"/gates/{gate_id}", params={"t": token_of(issue_link(gate_id, "customer"))})
    assert page.status_code == 200
    assert "Customer acceptance sign-off" in page.text and "Submit" in page.text
    assert "王小明" not in page.text  # not a staff view
    assert 'href="/ops"' not in page.text and 'href="/inbox"' not in page.text


def test_an_invalid_answer_is_shown_again_with_its_error_and_changes_nothing(client: TestClient) -> None:
    gate_id = make_gate(make_case(), key="remote_diagnosis", kind="repair.remote_diagnosis",
                        input_model="RemoteDiagnosisInput")
    token = token_of(issue_link(gate_id, "li.na"))
    page = client.post(f"/gates/{gate_id}", data={"t": token, "solved": "false", "diagnosis": "  ",
                                                  "comment": "tried <b>twice</b>"})
    assert page.status_code == 422
    text = page.text
    assert 'class="banner error"' in text
    assert 'class="error" id="diagnosis-error">此项为必填项。</span>' in text
    assert 'name="solved" value="false" checked' in text  # the submitted values come back
    assert "tried &lt;b&gt;twice&lt;/b&gt;</textarea>" in text
    assert "提交" in text
    assert gate_status(gate_id) == "waiting"
    with session_scope() as session:
        [row] = session.exec(select(GateToken)).all()
        assert row.used_at is None
    assert client.get(f"/gates/{gate_id}", params={"t": token}).status_code == 200  # the link still works


@pytest.mark.parametrize(("lang", "expected"), [("zh", "您的答复已记录"), ("en", "Your answer has been recorded")])
def test_the_confirmation_page_says_who_answered_and_when(settings: Settings, lang: str, expected: str) -> None:
    # Reached only by a valid POST, which resumes the flow run: rendered here with the app's own environment.
    case_id = make_case()
    gate_id = make_gate(case_id, status="answered")
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        case = session.get(Case, case_id)
        assert gate is not None and case is not None
        gate.answered_by = "李娜 (li.na)"
        gate.answered_at = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    page = render("done.html", lang=lang, gate=gate, case=case, title=label("gates", gate.kind, lang))
    text = page.body.decode()
    # 08:30 UTC is shown in the company's time zone (Asia/Shanghai).
    assert expected in text and "李娜 (li.na)" in text and "2026-01-05 16:30" in text and NUMBER in text
    assert "<form" not in text
