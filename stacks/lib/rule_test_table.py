"""An alert rule's test cases (the list `promtool test rules` takes) as a table a
person can fill in, and back. Per case the table holds its interval, its input
series (series, values) and its expected alerts (eval_time, alertname, the
expected alerts' labels as key=value lines, a blank line between two alerts, no
line for "no alert"). Whatever the table cannot say exactly (other keys,
annotations, a value with surrounding spaces, ...) stays as the case's raw JSON:
a key is shown in the table only when the table gives it back unchanged."""
import json

MODELED = ("interval", "input_series", "alert_rule_test")


def _labels_text(exp_alerts):
    return "\n\n".join("\n".join(f"{k}={v}" for k, v in sorted(a["exp_labels"].items())) for a in exp_alerts)


def _parse_labels(text, where, problems):
    alerts = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        labels = {}
        for line in lines:
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                problems.append(f"{where}: {line!r} is not key=value.")
                continue
            labels[key.strip()] = value.strip()
        alerts.append({"exp_labels": labels})
    return alerts


def _table_part(case):
    """The table's view of the keys it can model: {key: table rows}."""
    out = {}
    if isinstance(case.get("interval"), str):
        out["interval"] = case["interval"]
    series = case.get("input_series")
    if isinstance(series, list) and series and all(
            isinstance(s, dict) and set(s) == {"series", "values"} and all(isinstance(v, str) for v in s.values())
            for s in series):
        out["input_series"] = [(s["series"], s["values"]) for s in series]
    tests = case.get("alert_rule_test")
    if isinstance(tests, list) and tests and all(
            isinstance(t, dict) and set(t) == {"eval_time", "alertname", "exp_alerts"}
            and isinstance(t["eval_time"], str) and isinstance(t["alertname"], str)
            and isinstance(t["exp_alerts"], list)
            and all(isinstance(a, dict) and set(a) == {"exp_labels"} and isinstance(a["exp_labels"], dict)
                    and a["exp_labels"] and all(isinstance(v, str) for v in a["exp_labels"].values())
                    for a in t["exp_alerts"]) for t in tests):
        out["alert_rule_test"] = [(t["eval_time"], t["alertname"], _labels_text(t["exp_alerts"])) for t in tests]
    return out


def _rebuild(part, where, problems):
    case = {}
    if part.get("interval"):
        case["interval"] = part["interval"]
    if part.get("input_series"):
        case["input_series"] = [{"series": s, "values": v} for s, v in part["input_series"]]
    if part.get("alert_rule_test"):
        case["alert_rule_test"] = [{"eval_time": e, "alertname": n, "exp_alerts": _parse_labels(lab, where, problems)}
                                   for e, n, lab in part["alert_rule_test"]]
    return case


def to_table(tests):
    """[{"interval", "input_series": [(series, values)], "alert_rule_test": [(eval_time,
    alertname, labels text)], "advanced": JSON text of the rest}] for a list of cases."""
    rows = []
    for case in tests if isinstance(tests, list) else [tests]:
        if not isinstance(case, dict):
            rows.append({"interval": "", "input_series": [], "alert_rule_test": [], "advanced": json.dumps(case)})
            continue
        part = _table_part(case)
        back = from_table([part])[0]
        back = back[0] if back else {}
        shown = {k: v for k, v in part.items() if k in case and back.get(k) == case[k]}
        rest = {k: v for k, v in case.items() if k not in shown}
        rows.append({"interval": shown.get("interval", ""), "input_series": shown.get("input_series", []),
                     "alert_rule_test": shown.get("alert_rule_test", []),
                     "advanced": json.dumps(rest, indent=1) if rest else ""})
    return rows


def from_table(rows):
    """(the list of cases, [problem]) from the table's rows; rows without
    anything filled in are dropped, the raw JSON of a case is merged into it."""
    cases, problems = [], []
    for n, row in enumerate(rows, 1):
        part = {"interval": (row.get("interval") or "").strip(),
                "input_series": [(s.strip(), v.strip()) for s, v in row.get("input_series", []) if s.strip() or v.strip()],
                "alert_rule_test": [(e.strip(), a.strip(), lab) for e, a, lab in row.get("alert_rule_test", [])
                                    if e.strip() or a.strip() or lab.strip()]}
        case = _rebuild(part, f"Case {n}, expected labels", problems)
        text = (row.get("advanced") or "").strip()
        if text:
            try:
                rest = json.loads(text)
            except ValueError as exc:
                problems.append(f"Case {n}, raw JSON: {exc}.")
                continue
            if not isinstance(rest, dict):
                if case:
                    problems.append(f"Case {n}, raw JSON: an object of the case's other keys, not {type(rest).__name__}.")
                else:
                    cases.append(rest)
                continue
            both = sorted(set(case) & set(rest))
            if both:
                problems.append(f"Case {n}: {', '.join(both)} is both in the table and in the raw JSON; keep one.")
            case.update(rest)
        if case:
            cases.append(case)
    return cases, problems
