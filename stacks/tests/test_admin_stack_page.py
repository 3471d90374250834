"""An imported stack is edited on one admin page: the stack with inlines for its
services, scrape jobs, rules, receivers, routes and files; a change that breaks
the stack is undone as a whole."""
from html.parser import HTMLParser
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from stacks import versions
from stacks.models import ScrapeJob, Service, Stack
from stacks.tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db


class _FormData(HTMLParser):
    """The values a browser would post from the admin's change form."""

    def __init__(self):
        super().__init__()
        self.data, self._textarea, self._select, self._option = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.data[a["name"]] = a.get("value", "on")
            else:
                self.data[a["name"]] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.data[self._textarea] = ""
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            if self._textarea:
                self.data[self._textarea] = self.data[self._textarea].removeprefix("\n")
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_data(html):
    parser = _FormData()
    parser.feed(html)
    return parser.data


@pytest.fixture
def imported(client):
    call_command("stack", "import", str(FIXTURES / "projects" / "monitoring"), "--name", "mon",
                 "--allow-host-access", stdout=StringIO(), stderr=StringIO())  # node-exporter, cAdvisor
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw-pw-pw-pw"))
    return Stack.objects.get(slug="mon")


def test_the_stack_page_has_everything_of_the_stack_inline(client, imported):
    r = client.get(f"/admin/stacks/stack/{imported.pk}/change/")
    html = r.content.decode()
    assert r.status_code == 200
    for prefix in ("services", "scrape_jobs", "alert_rules", "receivers", "routes", "files"):
        assert f'name="{prefix}-TOTAL_FORMS"' in html
    assert "node-exporter-slow" in html and "HighCPUUsage" in html and "alertmanager/alertmanager.yml" in html


def test_a_change_on_the_stack_page_is_saved(client, imported):
    url = f"/admin/stacks/stack/{imported.pk}/change/"
    data = form_data(client.get(url).content.decode())
    job = next(k for k, v in data.items() if k.startswith("scrape_jobs-") and v == "node-exporter-slow")
    data[job.replace("job_name", "scrape_interval")] = "20s"
    r = client.post(url, data)
    assert r.status_code == 302, r.content.decode()[:3000]
    assert ScrapeJob.objects.get(stack=imported, job_name="node-exporter-slow").scrape_interval == "20s"
    # The import was version 1 (from the command line); this save is version 2, by who, from the admin.
    v1, v2 = imported.versions.order_by("number")
    assert (v1.source, v1.author, v2.source, v2.author.username) == ("cli", None, "admin", "root")
    assert "scrape job node-exporter-slow: scrape_interval changed" in " ".join(
        versions.diff(v2)[0])


def test_a_change_that_breaks_the_stack_is_undone_whole(client, imported):
    url = f"/admin/stacks/stack/{imported.pk}/change/"
    data = form_data(client.get(url).content.decode())
    data["name"] = "Renamed"
    svc = next(k for k, v in data.items() if k.startswith("services-") and k.endswith("-name") and v == "grafana")
    data[svc.replace("-name", "-depends_on")] = '{"nowhere": "service_started"}'
    r = client.post(url, data, follow=True)
    html = r.content.decode()
    assert "Not saved: service grafana: depends on &#x27;nowhere&#x27;" in html
    assert "changed successfully" not in html
    imported.refresh_from_db()
    assert imported.name == "mon" and Service.objects.get(stack=imported, name="grafana").depends_on == {}
    assert imported.versions.count() == 1  # a refused change is no version
