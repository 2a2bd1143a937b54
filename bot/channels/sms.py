"""What a turn looks like on a phone: pure functions, no Rasa, no Twilio, no database.

- Buttons become one numbered line in the same message ("Reply 1 for a group, 2 for phone."), and a
  reply of "1", "one" or the option's own words maps back to that button's payload.
- A turn's bot messages are combined, in order, into as few texts as fit (never more than three);
  long text is split at sentence boundaries; Twilio takes at most 1,600 characters per message.
- SMS text is kept in the GSM-7 alphabet (curly quotes, dashes and emoji replaced or dropped), so
  one segment holds 160 characters (153 when concatenated), not UCS-2's 70 (67) — unless that would
  lose letters (Urdu, Chinese, Ukrainian, Polish "ł"…): then the text goes as written, in UCS-2.
  WhatsApp keeps the text as written.
- Twilio's keywords: STOP and the other opt-out words, START/UNSTOP/YES to opt back in, HELP/INFO.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

BODY_LIMIT = 1600  # Twilio's cap on one message body (characters)
MAX_TEXTS_PER_TURN = 3
PART_SEPARATOR = "\n\n"  # between the bot messages of one turn

# --------------------------------------------------------------------------- GSM-7

# The GSM 03.38 default alphabet (without ESC) and its extension table (each costs two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7 = GSM7_BASIC | GSM7_EXTENSION

_REPLACEMENTS = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4\u0060\u02bc\uff07", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u00a0\u2002\u2003\u2007\u2009\u200a\u202f\u3000\t", " "),
    "\u2026": "...", "\u2022": "-", "\u00b7": "-", "\u2122": "(TM)", "\u00a9": "(c)", "\u00ae": "(R)",
    "\u00bd": "1/2", "\u00bc": "1/4", "\u00be": "3/4", "\u2192": "->", "\u00d7": "x",
    "\u2028": "\n", "\u2029": "\n",
}
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\ufe0e\ufe0f\u00ad")


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7 for ch in text)


def to_gsm7(text: str) -> str:
    """`text` in the GSM-7 alphabet: typographic punctuation made plain, accents dropped where GSM-7
    has no such letter, emoji and other symbols removed."""
    out: list[str] = []
    for ch in text:
        if ch in GSM7:
            out.append(ch)
        elif ch in _REPLACEMENTS:
            out.append(_REPLACEMENTS[ch])
        elif ch in _INVISIBLE:
            continue
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(c in GSM7 for c in base) else "")
    cleaned = "".join(out)
    cleaned = re.sub(r"[ ]{2,}", " ", cleaned)  # where an emoji sat between two spaces
    cleaned = re.sub(r"[ ]+\n", "\n", cleaned)
    return cleaned.strip()


def for_sms(text: str) -> str:
    """The text to send by SMS: GSM-7 where nothing but punctuation, accents and symbols would change;
    as written (UCS-2) where GSM-7 would drop letters — a reply in Urdu must not arrive empty."""
    plain = to_gsm7(text)
    letters = lambda value: sum(1 for ch in value if unicodedata.category(ch).startswith("L"))  # noqa: E731
    if letters(plain) < letters(text):
        return text.strip()  # joiners matter in Arabic-script text: keep it exactly as written
    return plain


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int  # SMS segments the carrier will bill


def segments(text: str) -> Segments:
    """How many SMS segments `text` costs. GSM-7: 160 in one, else 153 per part (an escaped character
    is never split across parts). UCS-2: 70 in one, else 67 per part (a surrogate pair never split)."""
    if is_gsm7(text):
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, per_part, encoding = 160, 153, "GSM-7"
    else:
        sizes = [len(ch.encode("utf-16-le")) // 2 for ch in text]
        single, per_part, encoding = 70, 67, "UCS-2"
    units = sum(sizes)
    if units <= single:
        return Segments(encoding, units, 1 if text else 0)
    count, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            count, used = count + 1, 0
        used += size
    return Segments(encoding, units, count)


# --------------------------------------------------------------------------- menus

@dataclass(frozen=True)
class Option:
    number: int
    title: str
    payload: str

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "title": self.title, "payload": self.payload}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Option":
        return cls(int(data["number"]), str(data["title"]), str(data["payload"]))


_KEEP_CAPITAL = re.compile(r"^(I|I'm|I've|I'd|I'll|[A-Z]{2,}\b)")


def _phrase(title: str) -> str:
    """A button title as it reads after "for": "What is peer support?" → "what is peer support"."""
    phrase = " ".join(title.split()).rstrip("?.!:; ")
    if phrase and not _KEEP_CAPITAL.match(phrase):
        phrase = phrase[0].lower() + phrase[1:]
    return phrase


def menu_line(options: Sequence[Option]) -> str:
    """One compact line: "Reply 1 for a group, 2 for one-to-one, 3 for phone."."""
    if not options:
        return ""
    first, *rest = options
    return "Reply " + ", ".join([f"{first.number} for {_phrase(first.title)}"]
                                + [f"{o.number} for {_phrase(o.title)}" for o in rest]) + "."


_NUMBER_WORDS = {word: n for n, words in enumerate([
    (), ("one", "first", "1st"), ("two", "second", "2nd"), ("three", "third", "3rd"), ("four", "fourth", "4th"),
    ("five", "fifth", "5th"), ("six", "sixth", "6th"), ("seven", "seventh", "7th"), ("eight", "eighth", "8th"),
    ("nine", "ninth", "9th"), ("ten", "tenth", "10th")]) for word in words}
# Words that carry nothing when someone answers a menu ("number 2 please", "the first one").
_FILLER = frozenset({"please", "pls", "plz", "thanks", "thank", "you", "ta", "ok", "okay", "option", "number",
                     "num", "choice", "reply", "the", "a", "an", "its", "just", "one"})
_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub("[\u2018\u2019\u02bc'`]", "", text)  # "don't" and "dont" are the same word
    return _TOKEN.findall(text)


def match_reply(reply: str, options: Sequence[Option]) -> Option | None:
    """The option a reply picks, or None when it doesn't clearly pick one (then it goes to NLU as typed).

    "2", "2.", "#2", "option 2", "two", "the second one" pick by number; otherwise every word of the
    reply must come from one option's title and from no other ("group" → "A group", "no" → "No thanks").
    """
    if not options or not reply or len(reply) > 80:
        return None
    by_number = {o.number: o for o in options}
    tokens = _tokens(reply)
    if not tokens:
        return None
    meaningful = [t for t in tokens if t not in _FILLER]  # "one" is filler here: "the first one"
    if len(meaningful) == 1 and (meaningful[0].isdigit() or meaningful[0] in _NUMBER_WORDS):
        token = meaningful[0]
        return by_number.get(int(token) if token.isdigit() else _NUMBER_WORDS[token])
    if not meaningful and "one" in tokens:  # "one", "number one", "option one please"
        return by_number.get(1)
    reply_words = " ".join(tokens)
    exact = [o for o in options if " ".join(_tokens(o.title)) == reply_words]
    if len(exact) == 1:
        return exact[0]
    if not meaningful:
        return None
    candidates = [o for o in options if set(meaningful) <= set(_tokens(o.title))]
    return candidates[0] if len(candidates) == 1 else None


# --------------------------------------------------------------------------- a turn → texts

_PAYLOAD_LINE = re.compile(r"^\s*/[A-Za-z_][\w/]*(\{.*\})?\s*$")


@dataclass(frozen=True)
class Turn:
    texts: list[str]  # the bodies to send, in order
    options: list[Option]  # the numbered menu now pending for this conversation (empty: none)
    truncated: bool = False  # the turn didn't fit in MAX_TEXTS_PER_TURN texts; the end was dropped


def compose(messages: Iterable[dict[str, Any]], whatsapp: bool = False, limit: int = BODY_LIMIT,
            max_texts: int = MAX_TEXTS_PER_TURN) -> Turn:
    """A turn's bot messages (Rasa's dicts: text, buttons/quick_replies, image, custom…) → texts to send.

    Custom JSON (e.g. {"services": [...]}) is not sent: the text already says the same. Buttons of
    every message in the turn are numbered on from each other, so every number means one thing.
    """
    parts: list[str] = []
    options: list[Option] = []
    for message in messages:
        lines = [line for line in (message.get("text") or "").splitlines() if not _PAYLOAD_LINE.match(line)]
        text = "\n".join(lines).strip()
        buttons = [b for b in (message.get("buttons") or message.get("quick_replies") or [])
                   if b.get("title") and b.get("payload")]
        mine = [Option(len(options) + i, str(b["title"]), _payload(str(b["payload"])))
                for i, b in enumerate(buttons, 1)]
        services = _suggested_services(message)
        if services and not mine:  # suggestions: the compact form, numbered, "reply 1 for more"
            text, mine = compact_suggestions(message["custom"], services, first_number=len(options) + 1)
            options.extend(mine)
            parts.append(text if whatsapp else for_sms(text))
            continue
        options.extend(mine)
        for link in (message.get("image"), message.get("attachment")):
            if isinstance(link, str) and link.startswith(("http://", "https://")):
                text = f"{text}\n{link}".strip()
        if mine:
            text = f"{text}\n{menu_line(mine)}".strip()
        if not whatsapp:
            text = for_sms(text)
        if text:
            parts.append(text)
    texts, truncated = pack(parts, limit, max_texts)
    return Turn(texts, options, truncated)


def _suggested_services(message: dict[str, Any]) -> list[dict[str, Any]]:
    custom = message.get("custom")
    services = custom.get("services") if isinstance(custom, dict) else None
    return [s for s in services if isinstance(s, dict) and s.get("id") and s.get("name")] \
        if isinstance(services, list) else []


def compact_suggestions(custom: dict[str, Any], services: list[dict[str, Any]],
                        first_number: int = 1) -> tuple[str, list[Option]]:
    """Suggestions for a phone screen: per service its name, one way to get in touch and a few words on why
    (the card's `compact` part), then "reply 1, 2 or 3 for more". The web widget shows the full cards."""
    options = [Option(first_number + i, str(s["name"]), '/service_details{"service_id":"%s"}' % s["id"])
               for i, s in enumerate(services)]
    blocks = [str(custom.get("opening") or "").strip()]
    for option, service in zip(options, services):
        short = service.get("compact") if isinstance(service.get("compact"), dict) else {}
        blocks.append("\n".join(line for line in (f"{option.number}. {service['name']}",
                                                   str(short.get("contact") or "").strip(),
                                                   str(short.get("why") or "").strip()) if line))
    numbers = [str(o.number) for o in options]
    which = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " or " + numbers[-1]
    blocks.append(f"Reply {which} for more about {'it' if len(numbers) == 1 else 'one of them'}.")
    return "\n".join(b for b in blocks if b), options


def _payload(payload: str) -> str:
    """A button payload as Rasa parses it. The domain escapes its braces (`/find_support{{"role":"mum"}}`) so
    Rasa's response templating leaves them alone; Rasa unescapes them when it fills a response, and so
    do we, in case a response reaches us unfilled."""
    if "{{" in payload and "}}" in payload:
        return payload.replace("{{", "{").replace("}}", "}")
    return payload


_ABBREVIATIONS = frozenset({"e.g", "i.e", "etc", "st", "dr", "mr", "mrs", "ms", "no", "approx", "tel", "vs"})
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*(\s+)|(\n+)")


def split_sentences(text: str) -> list[tuple[str, str]]:
    """`text` as (sentence, the whitespace after it) pairs; joining them gives `text` back.

    A boundary is a newline, or ., ! or ? followed by space, but not after a list number ("1. Name")
    or a common abbreviation ("e.g. a group", "St. Andrews").
    """
    pieces: list[tuple[str, str]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start(1) if match.group(1) is not None else match.start(2)
        sentence = text[start:end]
        if match.group(1) is not None:
            words = sentence.split()
            last_word = words[-1].rstrip(".!?\"')]").lower() if words else ""
            if (len(words) == 1 and last_word.isdigit()) or last_word in _ABBREVIATIONS:
                continue
        if sentence:
            pieces.append((sentence, match.group(0)[end - match.start():]))
            start = match.end()
    if start < len(text):
        pieces.append((text[start:], ""))
    return pieces


def _hard_split(sentence: str, limit: int) -> list[str]:
    """A sentence longer than a whole text: cut at the last space that fits (or mid-word, if none)."""
    chunks = []
    while len(sentence) > limit:
        cut = sentence.rfind(" ", 0, limit + 1)
        cut = cut if cut > limit // 2 else limit
        chunks.append(sentence[:cut].rstrip())
        sentence = sentence[cut:].lstrip()
    return chunks + ([sentence] if sentence else [])


def _pack_whole(parts: list[str], limit: int) -> list[str] | None:
    texts: list[str] = []
    for part in parts:
        if len(part) > limit:
            return None
        if texts and len(texts[-1]) + len(PART_SEPARATOR) + len(part) <= limit:
            texts[-1] += PART_SEPARATOR + part
        else:
            texts.append(part)
    return texts


def _pack_sentences(parts: list[str], limit: int) -> list[str]:
    texts: list[str] = []
    current = ""
    for part in parts:
        gap = PART_SEPARATOR
        for sentence, after in split_sentences(part):
            for piece in _hard_split(sentence, limit):
                if current and len(current) + len(gap) + len(piece) <= limit:
                    current += gap + piece
                else:
                    if current:
                        texts.append(current)
                    current = piece
                gap = " "
            gap = after or " "
    if current:
        texts.append(current)
    return texts


def pack(parts: Sequence[str], limit: int = BODY_LIMIT, max_texts: int = MAX_TEXTS_PER_TURN) -> tuple[list[str], bool]:
    """Parts, in order, into as few texts of at most `limit` characters as they fit in.

    Whole parts are kept together when that costs no extra text; otherwise texts are filled sentence
    by sentence. Returns (texts, truncated): at most `max_texts`, and whatever didn't fit is dropped
    from the end (the first part of a turn is the most important: crisis replies come first).
    """
    parts = [p.strip() for p in parts if p and p.strip()]
    if not parts:
        return [], False
    fine = _pack_sentences(parts, limit)
    whole = _pack_whole(parts, limit)
    texts = whole if whole is not None and len(whole) <= len(fine) else fine
    if len(texts) <= max_texts:
        return texts, False
    return texts[:max_texts], True


# --------------------------------------------------------------------------- keywords

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


def keyword(text: str | None) -> str | None:
    """"opt_out", "opt_in" or "help" when the whole message is one of Twilio's keywords, else None.

    Like Twilio, only a message that is just the keyword counts ("stop", "STOP.", " Stop "), not a
    sentence containing it. "YES" is an opt-in word only for a number that has opted out: the channel
    decides that, since for everyone else "yes" is an answer.
    """
    word = re.sub(r"[\s.!]+", "", (text or "").upper()) if text and len(text) <= 20 else ""
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    if word in HELP_KEYWORDS:
        return "help"
    return None
