"""The admin's form pieces for an alert rule's JSON fields: labels and
annotations as rows of key and value, test cases as a table (with each case's
raw JSON for what the table does not show). No script: empty rows to add to
come with every page."""
import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from stacks.lib.rule_test_table import from_table, to_table

MAX_ROWS = 500


def _count(data, key):
    try:
        return min(int(data.get(key) or 0), MAX_ROWS)
    except ValueError:
        return 0


class KeyValueWidget(forms.Widget):
    """A JSON object of strings (labels, annotations) as rows of key and value
    fields, with empty rows to add to; a row whose key is emptied goes."""

    def __init__(self, extra=2, attrs=None):
        super().__init__(attrs)
        self.extra = extra

    def render(self, name, value, attrs=None, renderer=None):
        if isinstance(value, str):
            try:
                value = json.loads(value or "{}")
            except ValueError:
                value = {}
        pairs = list((value or {}).items()) + [("", "")] * self.extra
        rows = format_html_join(
            "", '<tr><td><input name="{0}__key_{1}" value="{2}" aria-label="key" size="20"></td>'
                '<td><input name="{0}__value_{1}" value="{3}" aria-label="value" size="50"></td></tr>',
            ((name, i, k, v) for i, (k, v) in enumerate(pairs)))
        return format_html('<table class="key-value" id="{}"><thead><tr><th>key</th><th>value</th></tr></thead>'
                           '<tbody>{}</tbody></table><input type="hidden" name="{}__count" value="{}">',
                           (attrs or {}).get("id", name), rows, name, len(pairs))

    def value_from_datadict(self, data, files, name):
        if f"{name}__count" not in data:
            return data.get(name)
        out = {}
        for i in range(_count(data, f"{name}__count")):
            key = (data.get(f"{name}__key_{i}") or "").strip()
            if key:
                out[key] = data.get(f"{name}__value_{i}", "")
        return json.dumps(out)

    def value_omitted_from_data(self, data, files, name):
        return f"{name}__count" not in data and name not in data


class TestTable(list):
    """The rule tests as typed into the table (to_table's rows), before they are
    read back as JSON: a form with errors shows them again as typed."""


class RuleTestsWidget(forms.Widget):
    """promtool test cases as one block per case: interval, rows of input
    series, rows of expected alerts, and the case's raw JSON (advanced)."""

    def __init__(self, extra=2, attrs=None):
        super().__init__(attrs)
        self.extra = extra

    def render(self, name, value, attrs=None, renderer=None):
        if isinstance(value, TestTable):
            rows = list(value)
        else:
            if isinstance(value, str):
                try:
                    value = json.loads(value or "[]")
                except ValueError:
                    value = [value]
            rows = to_table(value or [])
        rows.append({"interval": "", "input_series": [], "alert_rule_test": [], "advanced": ""})
        cases = format_html_join("", "{}", ((self._case(name, i, row),) for i, row in enumerate(rows)))
        return format_html('<div class="rule-tests" id="{}">{}<input type="hidden" name="{}__cases" value="{}"></div>',
                           (attrs or {}).get("id", name), cases, name, len(rows))

    def _case(self, name, i, row):
        p = f"{name}__{i}"
        series = list(row["input_series"]) + [("", "")] * self.extra
        alerts = list(row["alert_rule_test"]) + [("", "", "")] * self.extra
        series_rows = format_html_join(
            "", '<tr><td><input name="{0}__series_{1}" value="{2}" aria-label="series" size="40"></td>'
                '<td><input name="{0}__values_{1}" value="{3}" aria-label="values" size="30"></td></tr>',
            ((p, j, s, v) for j, (s, v) in enumerate(series)))
        alert_rows = format_html_join(
            "", '<tr><td><input name="{0}__eval_time_{1}" value="{2}" aria-label="eval_time" size="8"></td>'
                '<td><input name="{0}__alertname_{1}" value="{3}" aria-label="alertname" size="20"></td>'
                '<td><textarea name="{0}__labels_{1}" aria-label="expected labels" rows="3" cols="40">{4}</textarea>'
                '</td></tr>',
            ((p, j, e, a, lab) for j, (e, a, lab) in enumerate(alerts)))
        title = f"Case {i + 1}" if row["input_series"] or row["alert_rule_test"] or row["advanced"] \
            or row["interval"] else "New case"
        return format_html(
            '<fieldset class="rule-test-case"><legend>{}</legend>'
            '<label>interval <input name="{}__interval" value="{}" size="8" placeholder="1m"></label>'
            '<table class="key-value"><caption>Input series</caption><thead><tr><th>series</th>'
            '<th>values</th></tr></thead><tbody>{}</tbody></table><input type="hidden" name="{}__series_count" value="{}">'
            '<table class="key-value"><caption>Expected alerts</caption><thead><tr><th>eval_time</th><th>alertname</th>'
            '<th>expected labels (key=value lines; a blank line between two alerts; none: no alert)</th></tr></thead>'
            '<tbody>{}</tbody></table><input type="hidden" name="{}__alerts_count" value="{}">'
            '<details{}><summary>Advanced: raw JSON (the case\'s keys the table does not show)</summary>'
            '<textarea name="{}__advanced" rows="4" cols="80" aria-label="raw JSON">{}</textarea></details>'
            '</fieldset>',
            title, p, row["interval"], series_rows, p, len(series), alert_rows, p, len(alerts),
            " open" if row["advanced"] else "", p, row["advanced"])

    def value_from_datadict(self, data, files, name):
        if f"{name}__cases" not in data:
            return data.get(name)
        rows = TestTable()
        for i in range(_count(data, f"{name}__cases")):
            p = f"{name}__{i}"
            rows.append({
                "interval": data.get(f"{p}__interval", ""),
                "input_series": [(data.get(f"{p}__series_{j}", ""), data.get(f"{p}__values_{j}", ""))
                                 for j in range(_count(data, f"{p}__series_count"))],
                "alert_rule_test": [(data.get(f"{p}__eval_time_{j}", ""), data.get(f"{p}__alertname_{j}", ""),
                                     data.get(f"{p}__labels_{j}", ""))
                                    for j in range(_count(data, f"{p}__alerts_count"))],
                "advanced": data.get(f"{p}__advanced", ""),
            })
        return rows

    def value_omitted_from_data(self, data, files, name):
        return f"{name}__cases" not in data and name not in data


class RuleTestsField(forms.JSONField):
    """The rule's tests from the table (or, from a client that posts it, the raw JSON)."""

    widget = RuleTestsWidget

    def to_python(self, value):
        if isinstance(value, TestTable):
            cases, problems = from_table(value)
            if problems:
                raise ValidationError(problems)
            return cases
        return super().to_python(value)

    def bound_data(self, data, initial):
        if isinstance(data, TestTable):
            return data
        return super().bound_data(data, initial)

    def prepare_value(self, value):
        if isinstance(value, TestTable):
            return value
        return super().prepare_value(value)

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True
