"""The recall's printable reports (templates/forms/recall_report.html): the regulator's three and the closing one."""

from __future__ import annotations

from typing import Any

# code -> (zh title, en title, the parts it prints)
RECALL_FORMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "RECALL-EVENT": ("医疗器械召回事件报告表", "Recall event report", ("case", "decision")),
    "RECALL-ASSESSMENT": ("调查评估报告", "Investigation and assessment report", ("case", "investigation")),
    "RECALL-PLAN": ("召回计划", "Recall plan", ("case", "decision", "plan")),
    "RECALL-CLOSE": ("召回总结报告", "Recall closing report", ("case", "decision", "closing")),
}

LABELS: dict[str, dict[str, str]] = {
    "zh": {"case": "召回编号", "product": "产品型号", "hazard": "缺陷及风险", "origin": "召回来源",
           "units": "涉及批次/序列号", "manufacturer": "原生产厂", "class": "召回级别", "market": "市场",
           "regulator": "监管部门", "notify_by": "通知期限", "report_by": "报告期限", "findings": "调查评估结论",
           "plan": "召回计划", "remedy": "补救方式", "to_notify": "应通知", "notified": "已通知",
           "acknowledged": "已确认", "to_recall": "应召回", "recalled": "已召回", "disposal": "处理方式",
           "completed_on": "完成日期", "effectiveness": "效果评价", "printed": "打印日期", "blank": "（尚未填写）",
           "compensation": "补偿", "submission": "报告提交"},
    "en": {"case": "Recall", "product": "Product", "hazard": "Defect and risk", "origin": "Origin",
           "units": "Batches/serials", "manufacturer": "Original manufacturer", "class": "Class",
           "market": "Market", "regulator": "Regulator", "notify_by": "Notify by", "report_by": "Report by",
           "findings": "Investigation and assessment", "plan": "Recall plan", "remedy": "Remedy",
           "to_notify": "To notify", "notified": "Notified", "acknowledged": "Acknowledged", "to_recall": "To recall",
           "recalled": "Recalled", "disposal": "Disposal", "completed_on": "Completion date",
           "effectiveness": "Effectiveness check", "printed": "Printed", "blank": "(not yet filled in)",
           "compensation": "Compensation", "submission": "Submission"},
}


def form_context(code: str, view: dict[str, Any], lang: str) -> dict[str, Any]:
    """What the template needs for one of the recall's reports."""
    zh_title, en_title, parts = RECALL_FORMS[code]
    data = view["data"]
    history = {h["key"]: h for h in view["history"]}
    investigation = history.get("investigation", {}).get("summary")
    return {"code": code, "title": zh_title if lang == "zh" else en_title, "parts": parts, "t": LABELS[lang],
            "lang": lang, "facts": data.get("recall") or {}, "clocks": data.get("clocks") or {},
            "plan": data.get("plan") or {}, "closing": data.get("closing_report") or {},
            "effectiveness": data.get("effectiveness") or {}, "compensation": data.get("compensation") or {},
            "submission": data.get("regulator_submission") or {}, "findings": investigation}
