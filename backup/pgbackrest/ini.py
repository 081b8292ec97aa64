"""pgBackRest's INI files (``backup.info``, ``archive.info``, ``backup.manifest``) and their checksum.

Every value is JSON. The last section, ``[backrest]``, repeats to carry
``backrest-checksum``: the SHA-1 of the whole content rendered as one JSON object,
sections and keys in file order, the checksum itself left out (measured on 2.45:
``{"backrest":{"backrest-format":5,...},"backup":{...},...}``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


class IniError(ValueError):
    """The file is not a pgBackRest INI file, or its checksum does not match."""


@dataclass(frozen=True)
class IniFile:
    sections: dict[str, dict[str, str]]   # raw JSON text per key, file order
    checksum: str

    def value(self, section: str, key: str, default: Any = None) -> Any:
        raw = self.sections.get(section, {}).get(key)
        return default if raw is None else json.loads(raw)

    def items(self, section: str) -> list[tuple[str, Any]]:
        return [(k, json.loads(v)) for k, v in self.sections.get(section, {}).items()]


def _split(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
            continue
        key, sep, value = line.partition("=")
        if not sep or not sections:
            raise IniError(f"line {number} is neither a [section] nor key=value")
        sections[-1][1].append((key, value))
    return sections


def checksum_of(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """Pure: the SHA-1 pgBackRest records, over everything but ``backrest-checksum``."""
    parts = []
    for name, pairs in sections:
        kept = [(k, v) for k, v in pairs if not (name == "backrest" and k == "backrest-checksum")]
        if kept:
            body = ",".join(json.dumps(k, ensure_ascii=False) + ":" + v for k, v in kept)
            parts.append(json.dumps(name, ensure_ascii=False) + ":{" + body + "}")
    return hashlib.sha1(("{" + ",".join(parts) + "}").encode()).hexdigest()  # noqa: S324 - pgBackRest's format


def parse(text: str) -> IniFile:
    """Parse and check the file's own checksum; raises IniError naming what is wrong."""
    sections = _split(text)
    recorded = [v for name, pairs in sections if name == "backrest"
                for k, v in pairs if k == "backrest-checksum"]
    if len(recorded) != 1:
        raise IniError("no backrest-checksum line (truncated or not a pgBackRest file)")
    try:
        expected = json.loads(recorded[0])
    except json.JSONDecodeError:
        raise IniError("backrest-checksum is not a JSON string") from None
    actual = checksum_of(sections)
    if actual != expected:
        raise IniError(f"backrest-checksum mismatch (recorded {expected}, computed {actual})")
    merged: dict[str, dict[str, str]] = {}
    for name, pairs in sections:
        target = merged.setdefault(name, {})
        for key, value in pairs:
            if key != "backrest-checksum":
                target[key] = value
    return IniFile(merged, expected)
