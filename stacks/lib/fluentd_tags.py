"""Fluentd's <match> patterns, as Fluentd reads them."""
import fnmatch
import re


def fluentd_pattern_matches(pattern, tag):
    """Fluentd's <match> semantics: '*' is one tag part, '**' zero or more parts,
    {a,b} alternatives, several patterns separated by spaces."""
    def expand(p):
        m = re.search(r"\{([^{}]*)\}", p)
        if not m:
            return [p]
        return [x for alt in m.group(1).split(",") for x in expand(p[:m.start()] + alt + p[m.end():])]

    def match(pp, tp):
        if not pp:
            return not tp
        if pp[0] == "**":
            return any(match(pp[1:], tp[i:]) for i in range(len(tp) + 1))
        return bool(tp) and fnmatch.fnmatchcase(tp[0], pp[0]) and match(pp[1:], tp[1:])

    parts = tag.split(".")
    return any(match(p.split("."), parts) for alt in pattern.split() for p in expand(alt))


