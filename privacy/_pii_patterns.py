"""Compiled patterns, reference tables and checksums behind the detectors in privacy.redact.

Kept apart from the detectors so the tables (IBAN lengths, card issuer ranges, street suffixes) can be
reviewed on their own. Digits are written ``[0-9]``, never ``\\d``: Python's ``\\d`` also matches other
scripts' digits, which the checksums below cannot read.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# ---------------------------------------------------------------- email
EMAIL = re.compile(
    r"(?<![\w.+%-])"
    r"[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+'-]{0,62}[A-Za-z0-9_%+-])?"  # o'brien@ is valid, 'quoted'@ is not
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24})"
    r"(?![\w-]|\.\w)"
)
# "https://user:pass@host" holds an address-shaped "pass@host"; the URL detector owns it.
AFTER_URL_USER = re.compile(r"://[^\s/?#@]*:$")
# Asset names such as ``logo@2x.png`` look like addresses; no real top-level domain is a file type.
FILE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tiff", "pdf",
                           "css", "js", "json", "html", "htm", "txt"})

# ---------------------------------------------------------------- phone
_PHONE_END = r"(?![\w]|[ .\-/][0-9])"
# +CC or 00CC followed by up to six groups; digit count and parentheses are checked afterwards.
PHONE_INTL = re.compile(
    r"(?<![\w+])(?<![0-9][ .-])(?P<prefix>\+|00(?=[1-9]))[1-9][0-9]{0,2}(?:[ .-]?\(0\))?"
    r"(?:[ .-]?\(?[0-9]{1,4}\)?){1,6}" + _PHONE_END
)
# North American Numbering Plan: area and exchange codes start 2-9; a separator is required.
PHONE_NANP = re.compile(
    r"(?<![\w+(])(?<![0-9][ .-])(?:\+?1[ .-]?)?"
    r"(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}" + _PHONE_END
)
# European national numbers start with a trunk 0 (UK, DE, FR, NL, IT, IE, ...); 00 is the international prefix.
PHONE_NATIONAL = re.compile(
    r"(?<![\w+(.\-/])(?<![0-9][ .])(?:\(0[1-9][0-9]{0,3}\)|0[1-9][0-9]{0,3})(?:[ ./-]?[0-9]{2,4}){1,5}" + _PHONE_END
)
DATE_LIKE = re.compile(r"[0-9]{1,2}[./-][0-9]{1,2}[./-](?:19|20)[0-9]{2}|(?:19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}")
# Dots separate phone groups of at most four digits ("06.12.34.56.78"); a longer run after one is a decimal.
DECIMAL_LIKE = re.compile(r"\.[0-9]{5}")
PHONE_CONTEXT = re.compile(r"(?i)(?:phone|tel|call|mobile|cell|fax|whatsapp|ring|text|number|contact)"
                           r"\W{0,4}(?:\w+\W+){0,2}$")
ISBN_CONTEXT = re.compile(r"(?i)isbn(?:-1[03])?\W{0,3}$")

# ---------------------------------------------------------------- payment card
CARD = re.compile(r"(?<![\w.])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?![\w]|[ -][0-9]|\.[0-9])")
# (lowest prefix, highest prefix, allowed lengths), from the card schemes' published IIN ranges.
CARD_ISSUERS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("4", "4", (13, 16, 19)),                       # Visa
    ("51", "55", (16,)),                            # Mastercard
    ("2221", "2720", (16,)),                        # Mastercard 2-series
    ("34", "34", (15,)),                            # American Express
    ("37", "37", (15,)),
    ("300", "305", (14, 16, 17, 18, 19)),           # Diners Club
    ("36", "36", (14, 15, 16, 17, 18, 19)),
    ("38", "39", (14, 16, 17, 18, 19)),
    ("6011", "6011", (16, 17, 18, 19)),             # Discover
    ("644", "649", (16, 17, 18, 19)),
    ("65", "65", (16, 17, 18, 19)),
    ("3528", "3589", (16, 17, 18, 19)),             # JCB
    ("2200", "2204", (16, 17, 18, 19)),             # Mir
    ("62", "62", (16, 17, 18, 19)),                 # UnionPay
    ("50", "50", (13, 14, 15, 16, 17, 18, 19)),     # Maestro
    ("56", "69", (13, 14, 15, 16, 17, 18, 19)),
)
# Printed groupings that make a checksum-valid number almost certainly a card; 15 and 16 digits are the
# common lengths, the rest score lower when printed as one run (Luhn alone passes 1 number in 10).
CARD_COMMON_LENGTHS = frozenset({14, 15, 16})
CARD_GROUPINGS = frozenset({(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 1), (4, 4, 4, 2),
                            (4, 4, 4, 3), (4, 4, 5)})

# ---------------------------------------------------------------- IBAN
IBAN_START = re.compile(r"(?<![A-Za-z0-9])(?P<cc>[A-Za-z]{2})[0-9]{2}(?= ?[A-Za-z0-9])")
# Lengths from the SWIFT IBAN registry for the countries most often seen.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}

# ---------------------------------------------------------------- US SSN
_SSN_BODY = r"(?!000|666|9)[0-9]{3}(?P<sep>[- ])(?!00)[0-9]{2}(?P=sep)(?!0000)[0-9]{4}"
SSN = re.compile(r"(?<![\w-])(?<![0-9][ .])" + _SSN_BODY + r"(?![\w]|[- ][0-9])")
SSN_BARE = re.compile(r"(?<![\w-])(?!000|666|9)[0-9]{3}(?!00)[0-9]{2}(?!0000)[0-9]{4}(?![\w-])")
SSN_CONTEXT = re.compile(r"(?i)(?:ssn|social security(?: number| no\.?)?|ss#)\W{0,4}(?:is\W+)?$")

# ---------------------------------------------------------------- IP addresses
IPV4 = re.compile(r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![\w]|\.[0-9])")
# 1.0.0.0 or 3.1.1.6 is more often a version than a host; well-known resolvers (1.1.1.1) aren't personal.
IPV4_SMALL = re.compile(r"[0-9](?:\.[0-9]){3}$")
_H = r"[0-9A-Fa-f]{1,4}"
IPV6 = re.compile(
    r"(?<![\w:.])(?:" + _H + r"|(?=::))"
    r"(?:(?::[0-9A-Fa-f]{0,4}){1,5}:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|(?::[0-9A-Fa-f]{0,4}){2,7})"
    r"(?:%[A-Za-z0-9]{1,15})?(?![\w:]|\.[0-9])"
)
# A dotted quad after these words is a version or a section number, not an address.
NOT_IP_CONTEXT = re.compile(r"(?i)(?:\b(?:version|ver\.?|release|build|rev\.?|revision|firmware|section"
                            r"|sec\.?|chapter|clause|oid|v)\W{0,4}|identifier\W{0,4}|§\s*|==\s*)$")

# ---------------------------------------------------------------- URLs with credentials
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|" + _LABEL + r"(?:\." + _LABEL + r")*)"
URL_CREDENTIALS = re.compile(
    r"(?<![\w+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}://(?P<user>[^\s:/?#@]*):(?P<password>[^\s/?#@]+)@"
    + _HOST + r"(?::[0-9]{1,5})?"
)
# Documentation writes "https://username:password@host" or "<user>:<password>"; those hold no secret.
URL_PLACEHOLDER_PASSWORD = re.compile(r"(?i)^(?:[<{$\[%].*|password|passwd|pass|pwd|secret|\*+|x+)$")

# ---------------------------------------------------------------- secrets
# (pattern, confidence): vendor prefixes whose format is documented by the vendor. Each pattern opens
# with its literal prefix and checks the character before it afterwards, which lets `re` jump between
# occurrences of the prefix instead of trying every position (~50x faster).
SECRET_PREFIXED: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|GPA|IDA|ROA|NPA|IPA)[A-Z0-9]{16}(?![A-Za-z0-9])"), 0.95),
    (re.compile(r"gh(?<!\wgh)[pousr]_[A-Za-z0-9]{36,255}(?!\w)"), 0.97),
    (re.compile(r"github_pat_(?<!\wgithub_pat_)[A-Za-z0-9_]{22,255}(?!\w)"), 0.97),
    (re.compile(r"xox(?<![\w-]xox)[baprs]-[A-Za-z0-9-]{10,250}(?![\w-])"), 0.95),
    (re.compile(r"[spr]k_(?<!\w[spr]k_)(?:live|test)_[A-Za-z0-9]{16,247}(?!\w)"), 0.95),
    (re.compile(r"sk-(?<![\w-]sk-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}(?![\w-])"), 0.9),
    (re.compile(r"AIza(?<![\w-]AIza)[0-9A-Za-z_-]{35}(?![\w-])"), 0.95),
    (re.compile(r"eyJ(?<![\w-]eyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{10,}(?![\w-])"), 0.95),
    # PEM: optional "Proc-Type:"-style headers, base64 lines, and the END line unless it was cut off.
    (re.compile(r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----\s+(?:[\w-]+: [^\n]*\s+)*"
                r"(?:[A-Za-z0-9+/=]{4,}\s+)*[A-Za-z0-9+/=]{4,}(?:\s+-----END (?P=kind)PRIVATE KEY-----)?"), 0.99),
)
_SECRET_WORDS = (r"password|passwd|passphrase|pwd|secret|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
                 r"|token|credentials?")
_SECRET_VALUE = r"(?:\"(?P<dq>[^\"\n]{4,200})\"|'(?P<sq>[^'\n]{4,200})'|(?P<bare>[^\s\"'`,;)\]}]{3,200}))"
# Up to four words may stand between the name and "is"/":" ("the wifi password at the cabin is ...");
# "ist"/"est" are German and French for "is".
_SECRET_OP = r"(?:[ \t]+[\w'-]+){0,4}?[\"']?[ \t]*(?P<op>=>|:=|=|:|[ \t](?:is|ist|est)[ \t]"
SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?=[pstac])(?:" + _SECRET_WORDS + r")[\w.-]{0,40}" + _SECRET_OP + r")[ \t]*" + _SECRET_VALUE
)
# Secrets people say rather than configure: PINs, passcodes, door and locker codes, CVVs, and the
# German and French words for password. Whole words only ("opinion" holds "pin"), and a number may
# follow the name directly ("passcode 884213").
_SPOKEN_SECRET_WORDS = (r"pin|pin code|pw|passcode|pass code|passwort|kennwort|mot de passe|code secret|cvv|cvc|cvv2"
                        r"|combination|(?:locker|door|gate|alarm|safe|lock|garage|building|entry|access|wifi|wi-fi)"
                        r" (?:code|pin|password)")
SPOKEN_SECRET = re.compile(
    r"(?i)(?<![A-Za-z])(?:" + _SPOKEN_SECRET_WORDS + r")(?![A-Za-z])" + _SECRET_OP + r"|[ \t](?=[0-9]))[ \t]*"
    + _SECRET_VALUE
)
BEARER = re.compile(r"(?i)\bbearer[ \t]+(?P<bare>[A-Za-z0-9._~+/-]{16,}=*)")
# Values that stand for a secret rather than being one: templates, masks, env-var names, code, null-ish words.
NOT_A_SECRET_VALUE = re.compile(r"^(?:[\[<{$%*#]|x{4,}$|.*\*{3}|[A-Z][A-Z0-9_]*$|\.{3}"
                                r"|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$"  # attribute path: settings.API_KEY
                                r"|.*[(\[{])")  # a call or subscript: get_password(), os.environ["X"]
NULL_WORDS = frozenset({"none", "null", "nil", "true", "false", "undefined", "empty", "required", "optional",
                        "redacted", "hidden", "masked", "unset", "expired", "invalid", "incorrect"})
WORDLIKE = re.compile(r"^(?:[A-Za-z][a-z]*|[A-Z]+)$")
# Code names: letters and underscores only (``url_user_password``, ``HiddenText``), or a compound of
# words with a digit somewhere (``PKCS7PrivateKeyTypes``); both read as code, not as a password.
IDENTIFIER = re.compile(r"^_*[A-Za-z]+(?:_+[A-Za-z]+)*_*$")
COMPOUND_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
COMPOUND_BOUNDARY = re.compile(r"[a-z][A-Z]|[A-Za-z]_[A-Za-z]")
TOKEN = re.compile(r"(?<![\w./+=-])[A-Za-z0-9+/_-]{20,}={0,2}(?![\w/+=-])")
SECRET_CONTEXT = re.compile(r"(?i)(?:key|token|secret|passw|bearer|auth|credential)")

# ---------------------------------------------------------------- postal addresses
_SUFFIXES = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace"
             r"|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Crescent|Close|Gardens|Grove|Row|Mews")
_STATES = (r"AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ"
           r"|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY")
_UK_POSTCODE = r"(?:[A-PR-UWYZ][A-HK-Y]?[0-9][A-Z0-9]?|GIR) [0-9][ABD-HJLNP-UW-Z]{2}"
_PLACE = r"[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}"
STREET_ADDRESS = re.compile(
    r"(?<![\w.,/-])[1-9][0-9]{0,4}[A-Za-z]?"
    r" (?:(?:[NSEW]|North|South|East|West)\.? )?(?:[A-Z][a-z]+|[0-9]{1,3}(?:st|nd|rd|th))(?: [A-Z][a-z]+){0,2}"
    r" (?:" + _SUFFIXES + r")\b(?: (?:NE|NW|SE|SW|N|S|E|W)\b)?"
    r"(?P<unit>\.?,? (?:Apt|Apartment|Suite|Ste|Unit)\.? ?#?[0-9A-Za-z]{1,5}\b)?"
    r"(?P<city>\.?, " + _PLACE + r"(?:, (?:" + _STATES + r")(?: [0-9]{5}(?:-[0-9]{4})?)?\b"
    r"|,? " + _UK_POSTCODE + r"\b))?"
)
UK_POSTCODE = re.compile(r"(?<![\w-])" + _UK_POSTCODE + r"(?![\w-])")
UK_POSTCODE_PLACE = re.compile(_PLACE + r",? $")


# ---------------------------------------------------------------- checks
def luhn_ok(digits: str) -> bool:
    """Luhn mod-10 checksum, the one every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_issuer_ok(digits: str) -> bool:
    """True when the number's prefix and length belong to a known card scheme."""
    n = len(digits)
    for low, high, lengths in CARD_ISSUERS:
        if n in lengths and low <= digits[: len(low)] <= high:
            return True
    return False


def iban_ok(compact: str) -> bool:
    """Per-country length and ISO 7064 mod-97 check (the remainder of a valid IBAN is 1)."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def shannon_entropy(s: str) -> float:
    """Bits per character of the string's own character distribution."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def class_switch_rate(s: str) -> float:
    """Share of adjacent characters that change class (lower, upper, digit, other).

    Random tokens switch class about every other character; identifiers and words rarely do.
    """
    def cls(ch: str) -> int:
        return 0 if ch.islower() else 1 if ch.isupper() else 2 if ch.isdigit() else 3

    classes = [cls(ch) for ch in s]
    return sum(a != b for a, b in zip(classes, classes[1:], strict=False)) / max(1, len(s) - 1)


_WORD_RUN = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{3,}(?![a-z])")


def looks_like_words(s: str) -> bool:
    """True for identifiers built from words (``getUserById2ForAdmin``), which random tokens rarely are.

    Most characters in runs of three or more letters or in "_"/"-" joints, or almost half with an
    English-like share of vowels. About 2-5% of random 20-40 character tokens also pass, an accepted
    loss at the entropy tier.
    """
    covered = (sum(len(run) for run in _WORD_RUN.findall(s)) + s.count("_") + s.count("-")) / len(s)
    letters = [ch for ch in s if ch.isalpha()]
    vowels = sum(ch in "aeiouAEIOU" for ch in letters) / max(1, len(letters))
    return covered >= 0.7 or (covered >= 0.45 and vowels >= 0.25)
