"""Kafka's `sasl.jaas.config` values: one JAAS login module entry,

    <LoginModule class> <flag> [name=value ...];

as Kafka's JaasConfig parses them (a StreamTokenizer over the text): values
are bare words or double-quoted strings, the flag is one of JAAS's four, and
exactly one login module is allowed. The broker reads two modules, PLAIN's
(whose user_<name>="<password>" options are the PLAIN users) and SCRAM's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
FLAGS = ("required", "requisite", "sufficient", "optional")

_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s=;"]+)|(=)|(;))', re.S)


@dataclass(frozen=True)
class JaasEntry:
    login_module: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)


def _tokens(text: str):
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"unexpected text at {text[pos:pos + 20]!r}")
        pos = m.end()
        quoted, word, eq, semi = m.groups()
        if quoted is not None:
            yield "value", re.sub(r"\\(.)", r"\1", quoted)
        elif word is not None:
            yield "value", word
        elif eq:
            yield "=", eq
        else:
            yield ";", semi


def parse(text: str, what: str = "sasl.jaas.config") -> JaasEntry:
    """The one login module of a JAAS config value; ValueError says what is wrong."""
    entries: list[JaasEntry] = []
    tokens = list(_tokens(text))
    i = 0
    try:
        while i < len(tokens):
            kind, module = tokens[i]
            kind2, flag = tokens[i + 1]
            if kind != "value" or kind2 != "value" or flag.lower() not in FLAGS:
                raise ValueError(f"expected '<LoginModule> <{'|'.join(FLAGS)}>', got {module!r} {flag!r}")
            i += 2
            options = {}
            while tokens[i][0] != ";":
                triple = tokens[i:i + 3]
                if [kind for kind, _v in triple] != ["value", "=", "value"]:
                    raise ValueError(f"expected name=value after {module}, got {tokens[i][1]!r}")
                options[triple[0][1]] = triple[2][1]
                i += 3
            i += 1
            entries.append(JaasEntry(module, flag.lower(), options))
    except (IndexError, ValueError) as e:
        detail = str(e) if isinstance(e, ValueError) else "it must end with ';'"
        raise ValueError(f"{what} is not a valid JAAS configuration: {detail}") from None
    if len(entries) != 1:
        raise ValueError(f"{what} contains {len(entries)} login modules, it should contain 1")
    return entries[0]


def plain_users(entry: JaasEntry) -> dict[str, str]:
    """PLAIN's users: the user_<name>="<password>" options (PlainServerCallbackHandler)."""
    return {name[len("user_"):]: password for name, password in entry.options.items() if name.startswith("user_")}
