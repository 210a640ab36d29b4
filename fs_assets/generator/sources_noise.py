"""The noise real silos have, applied to one person's record as another system holds it.

Every function takes its random draws as arguments (uniforms in [0, 1) and integers from
the caller's seeded stream), so the same seed gives the same records.
"""

from __future__ import annotations

from dataclasses import dataclass

# Common short forms of given names in the generator's name pools (Faker 'en_IN').
NICKNAMES = {
    "abhishek": "Abhi", "aditya": "Adi", "alexander": "Alex", "anirudh": "Ani",
    "balakrishnan": "Bala", "christopher": "Chris", "deepak": "Deepu", "elizabeth": "Liz",
    "gopal": "Gopi", "jagdish": "Jaggu", "krishna": "Kittu", "lakshmi": "Lakshmi",
    "mohammed": "Md", "muhammad": "Md", "nicholas": "Nick", "prakash": "Prakash",
    "rajesh": "Raju", "ramesh": "Ramu", "robert": "Bob", "satish": "Sati",
    "subramanian": "Subbu", "suresh": "Suri", "venkatesh": "Venky", "william": "Bill",
}  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "yahoo.co.in", "outlook.com", "rediffmail.com", "hotmail.com")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class SourceNoise:
    """How often each kind of noise hits a record of one source system."""

    name_typo: float
    nickname: float
    initial: float
    swap_names: float
    dob_missing: float
    dob_transposed: float
    old_address: float
    email_missing: float
    email_variant: float
    mobile_missing: float
    mobile_other: float
    mobile_formatted: float
    middle_missing: float
    duplicate: float  # the same person a second time in this source, under another id


def typo(name: str, op: int, at: int, letter: int) -> str:
    """One keying error: two adjacent letters swapped, one dropped, replaced or doubled."""
    if len(name) < 3:
        return name
    i = 1 + at % (len(name) - 2)  # never the first letter
    if op == 0:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if op == 1:
        return name[:i] + name[i + 1 :]
    if op == 2:
        return name[:i] + LETTERS[letter % 26] + name[i + 1 :]
    return name[:i] + name[i] + name[i:]


def nickname(name: str) -> str:
    """The usual short form, else the first four letters of a long name."""
    short = NICKNAMES.get(name.lower())
    if short:
        return short
    return name[:4] if len(name) > 6 else name


def transpose_dob(year: int, month: int, day: int) -> tuple[int, int, int]:
    """Day and month keyed the wrong way round (when both are month numbers), else a
    digit slip in the year's last digit."""
    if day <= 12 and day != month:
        return year, day, month
    return year - year % 10 + (year % 10 + 1) % 10, month, day


def email_variant(email: str, kind: int, domain: int) -> str:
    """The same mailbox typed differently, or the person's other mailbox."""
    local, _, host = email.partition("@")
    if kind == 0:
        return f"{local}@{EMAIL_DOMAINS[domain % len(EMAIL_DOMAINS)]}"
    if kind == 1:
        return email.upper()
    if kind == 2:
        return f"{local.replace('.', '')}@{host}"
    return f"{local.replace('.', '_')}@{host}"


def format_mobile(mobile: str, style: int) -> str:
    """A ten-digit number as people and systems write it."""
    if len(mobile) != 10:
        return mobile
    if style == 0:
        return f"+91 {mobile[:5]} {mobile[5:]}"
    if style == 1:
        return f"0{mobile}"
    return f"{mobile[:3]}-{mobile[3:6]}-{mobile[6:]}"
