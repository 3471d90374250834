"""One Compose service mapping → the Service row's fields plus `extra`: every key
the rows do not model, kept as written and rendered back. A modelled key whose
value the rows cannot hold exactly goes to `extra` whole, or, where the engine
could not apply it from there, is refused with its key path and the reason."""
import re
import shlex

INTERPOLATION = re.compile(r"(?<!\$)\$(?!\$)")  # one '$' (not '$$'): Compose interpolates it
MODELLED = {"image", "build", "command", "entrypoint", "environment", "ports", "volumes", "networks",
            "depends_on", "healthcheck", "logging", "deploy", "scale", "restart", "labels", "extra_hosts", "user"}
RESTARTS = {"no", "always", "on-failure", "unless-stopped"}
HEALTHCHECK_ROW_KEYS = ("test", "interval", "timeout", "retries", "start_period", "disable")


class Refused(ValueError):
    """A key the panel cannot keep: `path` is where it is, the message says why."""

    def __init__(self, path, reason):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def _has_interpolation(value):
    if isinstance(value, str):
        return bool(INTERPOLATION.search(value))
    if isinstance(value, list):
        return any(_has_interpolation(v) for v in value)
    if isinstance(value, dict):
        return any(_has_interpolation(v) for v in value.values())
    return False


def _unescape(value):
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    return value


def _text(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def _str_dict(value, sep="="):
    """Compose's list-or-mapping ('KEY=value' items or KEY: value) as text → text;
    None when a key has no value (taken from the host's environment), which a
    row cannot say."""
    out = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None:
                return None
            out[str(k)] = _text(v)
        return out
    for item in value:
        key, has, val = str(item).partition(sep)
        if not has:
            return None
        out[key] = val
    return out


def _port(value, path):
    if isinstance(value, (int, str)):
        return str(value)
    unknown = set(value) - {"target", "published", "host_ip", "protocol"}
    if unknown:
        raise Refused(f"{path}.{sorted(unknown)[0]}", "the panel publishes ports in the short syntax, which has "
                                                      "no such option; write this port as \"[ip:]host:container\".")
    spec = str(value["target"])
    if value.get("published") not in (None, ""):
        spec = f"{value['published']}:{spec}"
        if value.get("host_ip"):
            spec = f"{value['host_ip']}:{spec}"
    if value.get("protocol", "tcp") != "tcp":
        spec += f"/{value['protocol']}"
    return spec


def _volume(value, path):
    if isinstance(value, str):
        return value
    kind = value.get("type", "volume")
    allowed = {"type", "source", "target", "read_only"}
    if kind == "bind":
        allowed.add("bind")
        if set(value.get("bind") or {}) - {"create_host_path"} or (value.get("bind") or {}).get(
                "create_host_path") is False:
            raise Refused(f"{path}.bind", "bind options other than create_host_path cannot be written in the "
                                          "short syntax the engine mounts from.")
    if kind not in ("bind", "volume"):
        raise Refused(f"{path}.type", f"{kind} mounts are not applied by the panel's engine; use a volume or a "
                                      "bind mount (or tmpfs: as a service key).")
    unknown = set(value) - allowed
    if unknown:
        raise Refused(f"{path}.{sorted(unknown)[0]}", "the panel mounts in the short syntax, which has no such "
                                                      "option.")
    spec = f"{value['source']}:{value['target']}" if value.get("source") else value["target"]
    if value.get("read_only"):
        spec += ":ro"
    return spec


def split_service(name, spec):
    """(fields for Service, extra) or Refused. Rows hold what the program sees
    ('$$' is one '$'); `extra` holds the keys exactly as written."""
    where = f"services.{name}"
    if not isinstance(spec, dict):
        raise Refused(where, "a service is a mapping.")
    fields, extra = {}, {}

    def keep(key):
        extra[key] = spec[key]

    for key, value in spec.items():
        path = f"{where}.{key}"
        if key not in MODELLED:
            keep(key)
            continue
        if _has_interpolation(value) and key not in ("ports", "volumes", "networks", "depends_on"):
            keep(key)  # ${VAR} is Compose's, kept for it to interpolate as written
            continue
        if _has_interpolation(value):
            raise Refused(path, "the engine applies this key itself and does not interpolate ${...}; write the "
                                "value out (a literal '$' is written '$$').")
        value = _unescape(value)
        if key == "image":
            fields["image"] = str(value)
        elif key == "build":
            build = {"context": value} if isinstance(value, str) else dict(value)
            if "context" not in build:
                keep(key)
                continue
            fields["build_context"] = str(build.pop("context"))
            if "dockerfile" in build:
                fields["dockerfile"] = str(build.pop("dockerfile"))
            if build:
                extra["build"] = {k: v for k, v in spec[key].items() if k not in ("context", "dockerfile")}
        elif key in ("command", "entrypoint"):
            items = shlex.split(value) if isinstance(value, str) else [str(v) for v in (value or [])]
            if not items:
                keep(key)  # an empty command or entrypoint clears the image's: a row's empty list does not
            else:
                fields[key] = items
        elif key in ("environment", "labels"):
            mapping = _str_dict(value)
            if mapping is None:
                keep(key)  # a name without a value passes the host's through
            else:
                fields[key] = mapping
        elif key == "ports":
            fields["ports"] = [_port(p, f"{path}[{i}]") for i, p in enumerate(value or [])]
        elif key == "volumes":
            fields["volumes"] = [_volume(v, f"{path}[{i}]") for i, v in enumerate(value or [])]
        elif key == "networks":
            if isinstance(value, dict):
                for net, opts in value.items():
                    if opts:
                        raise Refused(f"{path}.{net}.{sorted(opts)[0]}", "network options of a service "
                                                                         "(aliases, addresses, priority) are not "
                                                                         "applied by the panel's engine.")
            fields["networks"] = [str(n) for n in value]
        elif key == "depends_on":
            if isinstance(value, list):
                fields["depends_on"] = {str(d): "service_started" for d in value}
            else:
                deps = {}
                for dep, cond in value.items():
                    cond = dict(cond or {})
                    condition = cond.pop("condition", "service_started")
                    if cond.pop("required", True) is not True or cond:
                        raise Refused(f"{path}.{dep}", "only `condition` is applied by the panel's engine.")
                    deps[str(dep)] = condition
                fields["depends_on"] = deps
        elif key == "healthcheck":
            hc = {k: v for k, v in (value or {}).items() if k in HEALTHCHECK_ROW_KEYS}
            if isinstance(hc.get("test"), str):
                hc["test"] = ["CMD-SHELL", hc["test"]]
            if "test" in hc:
                hc["test"] = [str(t) for t in hc["test"]]
            rest = {k: v for k, v in spec[key].items() if k not in HEALTHCHECK_ROW_KEYS}
            fields["healthcheck"] = hc
            if rest:
                extra["healthcheck"] = rest
        elif key == "logging":
            options = _str_dict(value.get("options") or {})
            if not value.get("driver") or options is None or set(value) - {"driver", "options"}:
                keep(key)
            else:
                fields["logging_driver"], fields["logging_options"] = str(value["driver"]), options
        elif key == "deploy":
            rest = {k: v for k, v in spec[key].items() if k != "replicas"}
            if "replicas" in value:
                fields["replicas"] = int(value["replicas"])
            if rest:
                extra["deploy"] = rest
        elif key == "scale":
            fields["replicas"] = int(value)
        elif key == "restart":
            if value in RESTARTS:
                fields["restart"] = value
            else:
                keep(key)
        elif key == "extra_hosts":
            fields["extra_hosts"] = ([f"{h}:{ip}" for h, ip in value.items()] if isinstance(value, dict)
                                     else [str(h) for h in value])
        elif key == "user":
            fields["user"] = str(value)
    if fields.get("replicas") == 0:
        raise Refused(f"{where}.deploy.replicas", "a service the panel deploys runs at least one replica.")
    fields.setdefault("restart", "no")
    return fields, extra


def merge_extra(rendered, extra):
    """The rows' Compose mapping with the kept keys put back: a kept mapping under
    a modelled key (build, deploy, healthcheck) is merged into it."""
    out = dict(rendered)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


# --- Top level: networks, volumes, configs, secrets, name, x-… ----------------------------

ROW_TOP_LEVEL = {"version", "services", "networks", "volumes"}


def _external(value, path):
    """Compose's `external: true` or the older `external: {name: …}` → (bool, name)."""
    if isinstance(value, dict):
        if set(value) - {"name"}:
            raise Refused(f"{path}.{sorted(set(value) - {'name'})[0]}", "an external resource has only a name.")
        return True, str(value.get("name", ""))
    return bool(value), ""


def split_network(key, spec):
    """(Network fields, extra) of a top-level network."""
    spec = dict(spec or {})
    external, ext_name = _external(spec.pop("external", False), f"networks.{key}.external")
    name = str(spec.pop("name", "") or ext_name)
    driver = "" if spec.get("driver") is None else str(spec.pop("driver"))
    return {"key": key, "name": name, "external": external, "driver": driver}, spec


def split_volume(key, spec):
    """(Volume fields, extra) of a top-level volume; its name stays as written."""
    spec = dict(spec or {})
    external, ext_name = _external(spec.pop("external", False), f"volumes.{key}.external")
    if ext_name:
        spec["name"] = ext_name
    return {"key": key, "external": external}, spec


def split_top_level(doc):
    """The top-level keys the rows do not hold, kept: configs and secrets the
    engine can mount (a file, as Compose does on one engine) and x-… fields."""
    extra = {}
    for key, value in doc.items():
        if key in ROW_TOP_LEVEL:
            continue
        if key in ("configs", "secrets"):
            for item, spec in (value or {}).items():
                other = sorted(set(spec or {}) - {"file"})
                if other or not (spec or {}).get("file"):
                    raise Refused(f"{key}.{item}.{other[0] if other else 'file'}",
                                  f"the panel's engine mounts {key} from a file of the project, as Compose does "
                                  "without Swarm; write it as `file: ./path`.")
            extra[key] = value
        elif key.startswith("x-"):
            extra[key] = value
        else:
            raise Refused(key, f"top-level `{key}` is not kept by the panel.")
    return extra
