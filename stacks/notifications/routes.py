"""Who gets this alert: the receivers a label set reaches, and through which
routes, by the real `amtool config routes test --tree` against the
alertmanager.yml the stack's last successful deploy shipped."""
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stacks.models import Deployment
from stacks.render import ALERTMANAGER_FILE
from stacks.seams.tools import run_tool, tool_message


class NoRoutes(ValueError):
    """No deployed alertmanager.yml, or amtool refused: said in the user's terms."""


@dataclass
class Reach:
    receivers: list
    tree: str  # the matching routes, as amtool draws them
    labels: dict


def parse_labels(words):
    """["alertname=TargetDown", …] → {label: value}; ValueError names a bad one."""
    labels = {}
    for word in words:
        name, sep, value = word.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise NoRoutes(f"{word!r} is not LABEL=VALUE.")
        labels[name] = value.strip().strip('"')
    return labels


def deployed_config(stack):
    for files in (stack.deployments.filter(action="deploy", status=Deployment.SUCCEEDED).order_by("-id")
                  .values_list("files", flat=True)[:5]):
        if files and ALERTMANAGER_FILE in files:
            return files[ALERTMANAGER_FILE]
    raise NoRoutes(f"{stack.slug} has no deployed alertmanager.yml: deploy it first.")


def reach(stack, labels):
    config = deployed_config(stack)
    with tempfile.TemporaryDirectory(prefix="panel-routes-") as tmp:
        Path(tmp, "alertmanager.yml").write_text(config)
        args = ["amtool", "config", "routes", "test", "--tree", "--config.file=alertmanager.yml"]
        args += [f"{k}={v}" for k, v in sorted(labels.items())]
        try:
            code, output = run_tool(args, tmp)
        except FileNotFoundError:
            raise NoRoutes("amtool is not installed (Debian's prometheus-alertmanager package).") from None
        output = tool_message(output, tmp)
    lines = [line for line in output.splitlines() if not line.startswith("Warning:")]
    if code != 0 or not lines:
        raise NoRoutes(f"amtool: {' '.join(lines) or 'no answer'}")
    receivers = [r.strip() for r in lines[-1].split(",") if r.strip()]
    tree = "\n".join(line for line in lines[:-1] if line.strip() and line.strip() != "Matching routes:")
    return Reach(receivers, tree, labels)
