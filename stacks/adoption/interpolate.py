"""`${VAR}` in a Compose file, resolved at import as docker-compose resolves it:
from the project's `.env` (read with python-dotenv, as Compose 1.x reads it) and,
on the command line, the importing user's environment, which wins.

The panel deploys from a worker, without the team's shell: the rows hold the
values, not the references. A variable set nowhere is refused by its key path
rather than replaced by an empty string (Compose's warning is easy to miss).
Text stays in Compose's spelling: a literal '$' is '$$' before and after."""
import io
import re

from dotenv import dotenv_values

PATTERN = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*))")
BRACED = re.compile(r"^(?P<name>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:?[-?])(?P<arg>.*))?$", re.S)


class Unresolved(ValueError):
    pass


def dotenv(text):
    """{name: value} of a .env file's text (names without a value are left out)."""
    values = dotenv_values(stream=io.StringIO(text or ""), interpolate=True)
    return {k: v for k, v in values.items() if v is not None}


def _substitute(text, env, where):
    def one(m):
        if m.group("escaped"):
            return "$$"
        if m.group("named"):
            name, op, arg = m.group("named"), None, None
        else:
            braced = BRACED.match(m.group("braced"))
            if not braced:
                raise Unresolved(f"{where}: {m.group(0)} is not a variable Compose can read.")
            name, op, arg = braced.group("name"), braced.group("op"), braced.group("arg")
        value = env.get(name)
        missing = value is None or (op is not None and op.startswith(":") and value == "")
        if missing and op in ("-", ":-"):
            return arg
        if missing and op in ("?", ":?"):
            raise Unresolved(f"{where}: {name} is required: {arg or 'it is not set'}.")
        if value is None:
            raise Unresolved(f"{where}: ${{{name}}} is set neither in the project's .env nor in the environment; "
                             f"set it, or give a default (${{{name}:-value}}).")
        return value.replace("$", "$$")  # the value is literal text

    return PATTERN.sub(one, text)


def interpolate(doc, env, where=""):
    """The document with every `${VAR}` in its values replaced; keys are left as
    they are (as Compose does). Raises Unresolved naming the key path."""
    if isinstance(doc, str):
        return _substitute(doc, env, where) if "$" in doc else doc
    if isinstance(doc, list):
        return [interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(doc)]
    if isinstance(doc, dict):
        return {k: interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in doc.items()}
    return doc
