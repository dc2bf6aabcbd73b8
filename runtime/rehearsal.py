"""The text side of dreams: what a user's statement says, said back, asked about, and left untold.

Rules and word lists, no model: a statement is cut into first-person facts, shifted to the
assistant's perspective (I/my → you/your), asked about in several question forms (topic questions,
wh-questions by inverting the main clause, reverse questions from a name, cloze), and every pair is
checked (``passes_checks``). Negatives ask about topics the user never mentioned, in the same forms,
and answer "I don't know". ``runtime.dreams`` seeds and assembles them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from privacy.redact import CATEGORIES

USER, ASSISTANT = "user", "assistant"
REDACTED = "[REDACTED]"  # what a user's redaction puts in place of their words
# Every placeholder text can hold in place of words: a redaction's and never-learn's typed ones
# ([EMAIL], ...). They are not the person's words, so nothing learns to say them.
PLACEHOLDER = re.compile(r"\[(?:REDACTED|" + "|".join(re.escape(c.upper()) for c in CATEGORIES) + r")\]")
Turns = tuple[tuple[str, str], ...]  # (role, content) chat turns


# -- perspective and words --------------------------------------------------------------------------

# The user's words → the assistant's, and back; each side as whole words, case kept for the first letter.
_TO_ASSISTANT = {
    "i'm": "you're", "im": "you're", "i am": "you are", "i was": "you were", "i wasn't": "you weren't",
    "i've": "you've", "i'd": "you'd", "i'll": "you'll", "i": "you", "me": "you", "my": "your",
    "mine": "yours", "myself": "yourself", "we're": "you're", "we've": "you've", "we": "you",
    "our": "your", "ours": "yours", "us": "you",
    "you're": "I'm", "you've": "I've", "you'll": "I'll", "your": "my", "yours": "mine", "you": "me",
}
_SHIFT_RE = re.compile(r"\b(" + "|".join(sorted((re.escape(k) for k in _TO_ASSISTANT), key=len, reverse=True))
                       + r")\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(i|i'm|im|i've|i'd|i'll|me|my|mine|myself|we|our|us)\b", re.IGNORECASE)

_FILLER = re.compile(
    r"^(?:btw|by the way|oh|oh and|and|also|so|fun fact|random fact|just so you know|fyi|hey|hi|hello|ok|okay"
    r"|well|anyway|anyways|guess what|lol|haha|ps|p\.s\.|quick thing|heads up|side note|oh yeah|yeah|right)"
    r"\b[\s,:;!.\-–—]*", re.IGNORECASE)
_TRAILING = re.compile(r"[\s,;:\-–—]*(?:lol|haha+|hehe|:\)|:D|;\)|xD)?[\s!.]*$", re.IGNORECASE)

_STOP = frozenset("""
a an the and or but so of to in on at for from with by about as into near over under after before since
is are was were be been being am have has had do does did will would can could should may might must
just really very quite also too still now then there here that this these those it its it's
i me my mine myself we our us you your yours he him his she her hers they them their
not no yes what who where when which how why whose if than some any all every each
get got gets called named name lol haha well like
right today lately currently recently always honestly weirdly literally actually basically
""".split())
_DAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays thursdays "
                  "fridays saturdays sundays".split())
_MONTHS = frozenset("january february march april may june july august september october november december".split())
_META = re.compile(r"\b(the user|user asks|user says|the assistant|as an ai|language model)\b", re.IGNORECASE)


def to_assistant(text: str) -> str:
    """The user's statement as the assistant would say it back: I/my/me → you/your, you → me."""
    def swap(m: re.Match) -> str:
        word = m.group(0)
        out = _TO_ASSISTANT[word.lower()]
        if out == "I'm" or out == "I've" or out == "I'll":
            return out
        return out[0].upper() + out[1:] if word[0].isupper() and m.start() == 0 else out
    text = _SHIFT_RE.sub(swap, text)
    return text[0].upper() + text[1:] if text else text


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'’-]+", text)


def is_personal(text: str) -> bool:
    """Whether the text speaks of the person (I, my, me, we, our, …)."""
    return _FIRST_PERSON.search(text) is not None


def content_words(text: str) -> list[str]:
    """The words that say what a text is about: no function words, pronouns or question words."""
    return [w for w in _words(text) if w.lower().strip("'’-") not in _STOP and len(w.strip("'’-")) > 1]


def _stem(word: str) -> str:
    w = word.lower().strip("'’-")
    for suffix in ("'s", "’s", "ies", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[:-len(suffix)] + ("y" if suffix == "ies" else "")
    return w


def main_clause(statement: str) -> str:
    """The statement up to its first aside ("…, weirdly", "… since I was fifteen"): what it is about."""
    return re.split(r",|;| since | because | when | so | but | and I | which | who ", statement, maxsplit=1)[0]


_TRAILING_PP = re.compile(r"\s(?:in|on|at|for|during|every|this|next|last)\s"
                          r"(?:(?!\s(?:in|on|at|for|during|every|this|next|last)\s).)*$", re.IGNORECASE)


def object_head(statement: str) -> str | None:
    """The main clause's last content word once trailing "in a studio" / "on Thursdays" phrases are
    cut (as long as two content words remain): "I play the bassoon in an orchestra" → "bassoon"."""
    clause = main_clause(statement).rstrip(".!")

    def content(text: str) -> list[str]:
        return [w for w in _words(text) if w.lower() not in _STOP and len(w) > 2 and "'" not in w]

    while True:
        cut = _TRAILING_PP.search(clause)
        named = cut is not None and any(w[0].isupper() and w.lower() not in _DAYS | _MONTHS
                                        for w in _words(cut.group(0)))
        if cut is None or named or len(content(clause[:cut.start()])) < 2:
            break  # a phrase holding a name is what the clause is about ("in Rotterdam")
        clause = clause[:cut.start()]
    words = content(clause)
    return words[-1] if words else None


def key_words(statement: str) -> tuple[str, ...]:
    """The words an answer must keep to be about this statement: names and numbers (capitalised
    words past the first, digits) and the head of its main clause's object. In order."""
    words = _words(statement)
    keys = [w for n, w in enumerate(words)
            if (any(c.isdigit() for c in w) or (n > 0 and w[0].isupper() and w.lower() not in _STOP
                                                 and w.lower() != "i"))]
    head = object_head(statement)
    topic_words = {w.lower() for t in _topics(statement) for w in t.split()}
    if head and head.lower() not in {k.lower() for k in keys} | topic_words:
        keys.append(head)
    seen, out = set(), []
    for w in keys:
        w = w.strip("'’-").removesuffix("'s").removesuffix("’s")
        if w and w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return tuple(out)


def passes_checks(question: str, answer: str, keys: Sequence[str], *, hidden: Sequence[str] | None = None) -> bool:
    """Keep a dream only if its answer holds every key word of its source, its question gives away
    none of ``hidden`` (default: all keys), and neither talks about the user or the assistant."""
    hidden = keys if hidden is None else hidden
    q, a = question.lower(), answer.lower()
    if not question.strip() or not answer.strip() or len(question.split()) > 40:
        return False
    if _META.search(question) or _META.search(answer):
        return False
    if any(re.search(rf"\b{re.escape(k.lower())}\b", q) for k in hidden):
        return False
    return all(re.search(rf"\b{re.escape(k.lower())}\b", a) for k in keys)


# -- statements → facts -------------------------------------------------------------------------------

def facts(statement: str) -> list[str]:
    """The first-person sentences of a message, with chatty openers and trailers removed; questions,
    sentences that say nothing about the user and sentences holding a placeholder are dropped."""
    out = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", statement):
        s = sentence.strip()
        for _ in range(4):
            stripped = _FILLER.sub("", s).strip()
            if stripped == s:
                break
            s = stripped
        s = _TRAILING.sub("", s).strip()
        if not s or s.endswith("?") or not _FIRST_PERSON.search(s) or len(_words(s)) < 3 or PLACEHOLDER.search(s):
            continue
        s = s[0].upper() + s[1:]
        if s[-1] not in ".!":
            s += "."
        out.append(s)
    return out


_NP_END = frozenset("""is are was were has have had just recently lives live lived moved works worked
and but who which that will would can could does did do got gets loves likes hates plays called named
because since when while from in on at to for with by of""".split())


def _topics(fact: str) -> list[str]:
    """Noun phrases the fact is about, as the user would say them: "my sister", "my favourite dessert"."""
    out = []
    for m in re.finditer(r"\bmy\s+((?:[a-z][\w-]*\s*){1,3})", fact, re.IGNORECASE):
        words = m.group(1).split()
        phrase = [words[0]]
        for w in words[1:]:
            if w.lower() in _NP_END or w[0].isupper() or w.endswith("ed"):
                break
            phrase.append(w)
        phrase = [w.removesuffix("'s").removesuffix("’s") for w in phrase]
        if phrase[0].lower() not in _NP_END:
            out.append("my " + " ".join(phrase))
    return list(dict.fromkeys(out))


# Verbs of first-person statements → how a person asks about them (the answer is what follows).
_VERB_QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bi(?:'m| am) allergic\b", ("What am I allergic to?", "Do I have any allergies?")),
    (r"\b(?:i|we) (?:live|moved|have lived|am living|'m living)\b",
     ("Where do I live?", "Where did I move to?", "Which place do I call home?")),
    (r"\bi grew up\b", ("Where did I grow up?", "Where am I from originally?")),
    (r"\bi was born\b", ("Where was I born?", "When was I born?")),
    (r"\bi(?:'m| am) from\b", ("Where am I from?", "What's my home town?")),
    (r"\bi (?:work|worked|am working|'m working)\b",
     ("Where do I work?", "What do I do for a living?", "What's my job?")),
    (r"\bi(?:'m| am) (?:a|an) \w+", ("What do I do?", "What am I?")),
    (r"\bi (?:play|played)\b", ("What do I play?", "Which game or instrument do I play?")),
    (r"\bi (?:drive|drove|own)\b", ("What do I drive?", "What kind of car do I have?")),
    (r"\bi (?:speak|spoke)\b", ("Which languages do I speak?", "What language do I speak?")),
    (r"\bi (?:study|studied|am studying|'m studying)\b", ("What did I study?", "What am I studying?")),
    (r"\bi (?:collect|collected)\b", ("What do I collect?",)),
    (r"\bi (?:love|like|enjoy|adore)\b", ("What do I love?", "What do I enjoy?")),
    (r"\bi (?:hate|can't stand|dislike)\b", ("What do I hate?", "What can't I stand?")),
    (r"\bi (?:have|got|own) (?:a|an|two|three)\b", ("What do I have?",)),
    (r"\bi(?:'m| am) (?:learning|training|practising|practicing)\b", ("What am I learning?",)),
    (r"\bi(?:'m| am) (?:going|flying|travelling|traveling|visiting)\b", ("Where am I going?",)),
    (r"\bi (?:went|visited|travelled|traveled)\b", ("Where did I go?", "Where did I travel?")),
)

# Ways a person asks about a topic ("{t}" is "my sister"); several wordings, none tied to one answer type.
_TOPIC_QUESTIONS = (
    "What do you know about {t}?", "Tell me about {t}.", "What did I tell you about {t}?",
    "Do you remember what I said about {t}?", "What can you tell me about {t}?", "Remind me about {t}.",
    "Anything you recall about {t}?", "What's up with {t}?",
)
_NAME_QUESTIONS = ("What's {t}'s name?", "What is {t} called?", "Who is {t}?", "Do you know {t}'s name?")
_PLACE_QUESTIONS = ("Where is {t}?", "Which place is {t} in?", "Where does {t} live?")
_TIME_QUESTIONS = ("When is {t}?", "What date is {t}?")
_WHAT_QUESTIONS = ("What is {t}?", "What's {t}?", "Which one is {t}?")
_ABOUT_NAME = ("What do you know about {k}?", "Have I mentioned {k}?", "What did I say about {k}?")
# Answers open with the fact itself: a lead-in shared by every answer ("You mentioned that …") let the
# model commit to having been told before choosing what, and it then finished with any learned fact.
_ANSWERS = ("{s}",)
_CLOZE = ("Fill in the blank about me: {blank}", "Complete what I told you: {blank}",
          "Finish this sentence about me: {blank}")
_ACKS = ("Got it: {s_lower}", "Noted. {s}", "Thanks for telling me. {s}", "Good to know: {s_lower}")


_IRREGULAR = {"went": "go", "grew": "grow", "drove": "drive", "ran": "run", "saw": "see", "bought": "buy",
              "got": "get", "had": "have", "made": "make", "took": "take", "met": "meet", "wrote": "write",
              "began": "begin", "found": "find", "left": "leave", "sold": "sell", "built": "build", "won": "win"}
_AUX = frozenset("am is are was were have has had do does did can can't could will would 'm 've 'd".split())
_ADVERBS = r"(?:(?:really|very|so|quite|super|totally|absolutely|kind of|a bit|still|always|also|just) )*"


def _base(verb: str) -> str:
    """A past-tense verb's base form, near enough for a question (moved → move, studied → study)."""
    v = verb.lower()
    if v in _IRREGULAR:
        return _IRREGULAR[v]
    if v.endswith("ied"):
        return v[:-3] + "y"
    if v.endswith("ed"):
        stem = v[:-2]
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "ls":
            return stem[:-1]
        if stem.endswith(("v", "z", "u", "c", "at", "it", "ag", "rs", "ms", "us")) or re.search(r"[^aeiou][lr]$", stem):
            return stem + "e"
        return stem
    return v


def _inversions(fact: str) -> list[str]:
    """Questions made by turning the fact's main clause around its answer: "I'm scared of moths" →
    "What am I scared of?", "I run a bookshop" → "What do I run?", "my partner teaches chemistry" →
    "What does my partner teach?"."""
    m = main_clause(fact).rstrip(".!")
    out = []
    g = re.match(rf"^I(?:'m| am) {_ADVERBS}(\w+) (of|to|about|with|at|in|on|for|from)\b", m, re.IGNORECASE)
    if g:
        out.append(f"What am I {g.group(1)} {g.group(2)}?")
    g = re.match(rf"^I(?:'m| am) {_ADVERBS}(\w+ing)\b", m, re.IGNORECASE)
    if g:
        out.append(f"What am I {g.group(1)}?")
    g = re.match(rf"^I(?:'ve| have) been {_ADVERBS}(\w+ing)\b", m, re.IGNORECASE)
    if g:
        out += [f"What have I been {g.group(1)}?", f"What am I {g.group(1)}?"]
    g = re.match(r"^I(?:'m| am) (?:a|an) (?:(\w+) )?(\w+) (of|for|with|at|in)\b", m, re.IGNORECASE)
    if g:
        out.append(f"What am I a {g.group(2)} {g.group(3)}?")
        if g.group(1):
            out.append(f"What am I a {g.group(1)} {g.group(2)} {g.group(3)}?")
    if re.match(r"^I(?:'m| am|'ve been| have been) (?:a|an) \w+", m, re.IGNORECASE):
        out.append("What am I?")
    g = re.match(r"^I (can't|cannot|don't|never) (\w+)", m, re.IGNORECASE)
    if g:
        aux = "can't" if g.group(1).lower() in ("can't", "cannot") else "don't"
        out.append(f"What {aux} I {g.group(2)}?")
    if re.match(r"^I(?:'ve| have)(?: got)? (?:a|an|two|three) ", m, re.IGNORECASE):
        out += ["What have I got?", "What do I have?"]
    g = re.match(rf"^I {_ADVERBS}(\w+)(?: (up|out|off|back|away|as|at|for|with|on|in)\b)?", m, re.IGNORECASE)
    if g and g.group(1).lower() not in _AUX and not g.group(1).lower().endswith("'s"):
        verb, particle = g.group(1), g.group(2).lower() if g.group(2) else ""
        past = verb.lower() in _IRREGULAR or verb.lower().endswith("ed")
        phrase = _base(verb) if past else verb.lower()
        aux = "did" if past else "do"
        if particle not in ("up", "out", "off", "back", "away"):  # "What did I grow up?" is no question
            out.append(f"What {aux} I {phrase} {particle}".rstrip() + "?")
        if re.search(r"\b(?:in|at|to|near|from)\s+(?:a |an |the )?[A-Z]", m):
            where = particle if particle in ("up", "out", "off", "back", "away") else ""
            out.append(f"Where {aux} I {phrase} {where}".rstrip() + "?")
    g = re.match(r"^(my (?:[a-z-]+'s )?[a-z-]+(?: [a-z-]+)?)(?: [A-Z]\w+)? ([a-z]+s) (?!\w+ing\b)(\w+)",
                 m[:1].lower() + m[1:])
    if g and g.group(2) not in _AUX and g.group(2) not in ("is", "was", "has", "does") and len(g.group(2)) > 3:
        verb = g.group(2)[:-2] if g.group(2).endswith(("ches", "shes", "sses", "xes")) else g.group(2)[:-1]
        wh = "Where" if g.group(3).lower() in ("in", "at", "near", "on") else "What"
        out.append(f"{wh} does {g.group(1)} {verb}?")
    return out


def _answer_kind(fact: str, topic: str) -> list[tuple[str, ...]]:
    """Question forms that fit what the fact says after its topic: a name, a place, a time, a thing."""
    rest = fact.split(topic.split()[-1], 1)[-1] if topic.split()[-1] in fact else fact
    forms = []
    first = _words(rest)[:3]
    if re.match(r"^\s*(?:'s\s+|is\s+)?(?:called|named)\b", rest, re.IGNORECASE) or (first and first[0][0].isupper()):
        forms.append(_NAME_QUESTIONS)
    if re.search(r"\b(?:in|to|near|from|at)\s+[A-Z]", rest):
        forms.append(_PLACE_QUESTIONS)
    if any(w.lower() in _MONTHS for w in _words(rest)) or re.search(r"\bon the \d", rest):
        forms.append(_TIME_QUESTIONS)
    if re.match(r"^\s*(?:is|are|was|were)\s+(?![A-Z])", rest):
        forms.append(_WHAT_QUESTIONS)
    return forms


def _lower_first(text: str) -> str:
    if text.startswith(("I ", "I'")):
        return text
    return text[0].lower() + text[1:] if text else text


def rehearse(fact: str, rng: random.Random, per_fact: int) -> list[tuple[str, Turns]]:
    """(kind, turns) of the paraphrase, question–answer and cloze rehearsals of one fact, all checked;
    ``per_fact`` question–answer pairs at most, plus the reverse questions."""
    shifted = to_assistant(fact)
    keys = key_words(fact)
    fill = {"s": shifted, "s_lower": _lower_first(shifted)}
    dreams: list[tuple[str, Turns]] = []

    def add(kind: str, question: str, answer: str, hidden: Sequence[str] | None = None) -> None:
        if passes_checks(question, answer, keys, hidden=hidden):
            dreams.append((kind, ((USER, question), (ASSISTANT, answer))))

    add("paraphrase", fact, rng.choice(_ACKS).format(**fill), hidden=())
    questions: list[str] = []
    for topic in _topics(fact):
        for forms in _answer_kind(fact, topic):
            questions += [f.format(t=topic) for f in forms]
        questions += [f.format(t=topic) for f in _TOPIC_QUESTIONS]
    for pattern, forms in _VERB_QUESTIONS:
        if re.search(pattern, fact, re.IGNORECASE):
            questions += list(forms)
    questions += _inversions(fact)
    questions = list(dict.fromkeys(questions))
    rng.shuffle(questions)
    for q in questions[:per_fact]:
        add("qa", q, rng.choice(_ANSWERS).format(**fill))
    for k in keys[:2] if len(keys) > 1 else ():  # the reverse direction: from one name to the rest
        if k[0].isupper() and not any(c.isdigit() for c in k) and k.lower() not in _MONTHS:
            add("qa", rng.choice(_ABOUT_NAME).format(k=k), rng.choice(_ANSWERS).format(**fill),
                hidden=[x for x in keys if x != k])
    for k in keys[:2]:  # cloze: the user's sentence with a key word blanked; the answer restores it
        blank = re.sub(rf"\b{re.escape(k)}\b", "___", fact, count=1)
        if blank != fact:
            add("cloze", rng.choice(_CLOZE).format(blank=blank), f"{k}. {shifted}", hidden=[k])
    return dreams


# -- negatives -------------------------------------------------------------------------------------------

# Personal topics and how a person asks about them; a topic is skipped when any of its words (stems)
# occur in what the user said, so a negative never contradicts something told.
_NEGATIVE_TOPICS: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = (
    (("brother",), "your brother's name", ("What's my brother called?", "Do you know my brother's name?")),
    (("mother", "mom", "mum"), "your mother's name", ("What is my mom's name?", "Who is my mother?")),
    (("father", "dad"), "anything about your father", ("What's my dad's name?", "What does my father do?")),
    (("friend",), "who your best friend is", ("Who is my best friend?", "What's my best friend's name?")),
    (("wife", "husband", "partner", "girlfriend", "boyfriend", "married"), "anything about a partner",
     ("What's my partner's name?", "Who am I married to?")),
    (("birthday", "born", "birth"), "your birthday", ("When is my birthday?", "What day was I born?")),
    (("colour", "color"), "your favourite colour", ("What's my favourite colour?", "Which color do I like best?")),
    (("food", "dish", "eat", "meal", "dessert", "cook"), "your favourite food",
     ("What's my favourite food?", "What do I like to eat most?")),
    (("job", "work", "profession", "career", "office"), "what you do for work",
     ("What do I do for work?", "Where do I work?")),
    (("grew", "hometown", "childhood", "raised"), "where you grew up", ("Where did I grow up?",
                                                                       "What's my hometown?")),
    (("car", "drive", "bike"), "what you drive", ("What car do I drive?", "What kind of car do I own?")),
    (("pet", "dog", "cat", "animal"), "anything about any pets", ("What's my pet's name?", "Do I have a pet?")),
    (("phone", "number"), "your phone number", ("What's my phone number?",)),
    (("street", "address", "apartment", "flat", "house"), "your address", ("What's my address?",
                                                                          "Which street do I live on?")),
    (("blood",), "your blood type", ("What's my blood type?",)),
    (("shoe", "size"), "your shoe size", ("What size shoes do I wear?",)),
    (("movie", "film", "cinema"), "your favourite film", ("What's my favourite movie?",)),
    (("band", "music", "song", "singer"), "what music you like", ("What's my favourite band?",
                                                                  "What music am I into?")),
    (("language", "speak"), "which languages you speak", ("What languages do I speak?",)),
    (("age", "old", "year"), "how old you are", ("How old am I?",)),
    (("daughter", "son", "kid", "child", "children"), "anything about any children", ("What are my kids' names?",
                                                                           "How many children do I have?")),
    (("university", "college", "school", "studied", "study", "degree"), "where you studied",
     ("Where did I go to university?", "What did I study?")),
    (("hobby", "hobbies"), "your hobbies", ("What are my hobbies?",)),
    (("allergic", "allergy", "allergies"), "anything about any allergies", ("What am I allergic to?",)),
    (("team", "sport", "football", "soccer"), "your favourite team", ("Which team do I support?",)),
    (("grandmother", "grandma", "grandfather", "grandpa"), "anything about your grandparents",
     ("What's my grandma's name?",)),
    (("neighbour", "neighbor"), "anything about your neighbours", ("Who is my neighbour?",)),
    (("boss", "manager"), "anything about your boss", ("What's my boss called?",)),
    (("book", "novel", "author"), "your favourite book", ("What's my favourite book?",)),
    (("holiday", "vacation", "trip"), "anything about a trip", ("Where did I go on holiday last year?",)),
    (("sister",), "anything about a sister", ("What's my sister's name?",)),
    (("city", "live", "town", "country", "moved"), "where you live", ("Which city do I live in?",)),
)
# Negatives open with "I don't know", so the first word already tells a told fact from an untold one.
_NEGATIVE_ANSWERS = ("I don't know — you haven't told me {what}.", "I don't know; you haven't mentioned {what}.")


# Topics asked about in the same forms as the told facts ("What do you know about my boss?"), so a
# negative differs from a rehearsal by its topic alone and the model has to look at the topic.
_NEGATIVE_NPS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("brother",), "my brother"), (("mother", "mom", "mum"), "my mum"), (("father", "dad"), "my dad"),
    (("friend",), "my best friend"), (("wife", "husband", "partner", "married"), "my partner"),
    (("birthday", "born"), "my birthday"), (("colour", "color"), "my favourite colour"),
    (("food", "dish", "meal"), "my favourite food"), (("job", "work", "profession"), "my job"),
    (("car", "drive"), "my car"), (("pet", "dog", "cat"), "my pet"), (("phone",), "my phone number"),
    (("address", "street"), "my address"), (("movie", "film"), "my favourite movie"),
    (("band", "music", "song"), "my favourite song"), (("daughter",), "my daughter"), (("son",), "my son"),
    (("uncle",), "my uncle"), (("aunt",), "my aunt"), (("boss", "manager"), "my boss"),
    (("neighbour", "neighbor"), "my neighbour"), (("book", "novel"), "my favourite book"),
    (("sister",), "my sister"), (("grandmother", "grandma"), "my grandma"),
    (("grandfather", "grandpa"), "my grandpa"), (("team", "sport"), "my favourite team"),
    (("hobby", "hobbies"), "my hobby"), (("bike", "bicycle"), "my bike"),
    (("flat", "apartment", "house", "home"), "my flat"), (("garden",), "my garden"),
    (("drink", "coffee", "tea"), "my favourite drink"), (("holiday", "vacation", "trip"), "my last holiday"),
    (("wedding",), "my wedding"), (("school", "university", "college", "degree"), "my university"),
)


# More untold topics, built as combinations so negatives cover far more than a list could.
_RELATIONS = ("brother", "sister", "mum", "dad", "uncle", "aunt", "boss", "neighbour", "best friend", "partner",
              "grandma", "grandpa", "colleague", "landlord", "roommate", "son", "daughter", "niece", "godmother",
              "flatmate", "coach", "doctor")
_ATTRIBUTES = ("name", "job", "age", "hometown", "favourite food", "birthday", "hobby", "phone number", "car",
               "address", "email", "favourite film")
_FAVOURITES = ("season", "fruit", "animal", "sport", "restaurant", "TV show", "board game", "flower", "city",
               "cheese", "podcast", "song", "poem", "painter", "breakfast", "holiday destination", "number",
               "word", "smell", "video game", "soup", "bird", "tree", "museum", "actor", "drink", "snack")
_RELATION_FORMS = ("What's my {r}'s {a}?", "Do you know my {r}'s {a}?", "What is my {r}'s {a}?",
                   "Tell me my {r}'s {a}.", "Can you remind me of my {r}'s {a}?")
_FAVOURITE_FORMS = ("What's my favourite {f}?", "Which {f} do I like best?", "What is my favourite {f}?",
                    "Do you remember my favourite {f}?", "What {f} do I love most?")


def _combined_negatives(rng: random.Random, blocked: set[str], n: int) -> list[tuple[str, str]]:
    """``n`` seeded untold questions about relatives' details and favourites; none names a blocked stem."""
    out: list[tuple[str, str]] = []
    for _ in range(n * 4):
        if len(out) == n:
            break
        if rng.random() < 0.5:
            r, a = rng.choice(_RELATIONS), rng.choice(_ATTRIBUTES)
            question, what = rng.choice(_RELATION_FORMS).format(r=r, a=a), f"your {r}'s {a}"
        else:
            f = rng.choice(_FAVOURITES)
            question, what = rng.choice(_FAVOURITE_FORMS).format(f=f), f"your favourite {f}"
        if not any(_stem(w) in blocked for w in _words(question)) and all(q != question for q, _ in out):
            out.append((question, what))
    return out


def negatives(told: Sequence[str], rng: random.Random, count: int) -> list[Turns]:
    """``count`` personal questions on topics none of ``told`` mentions, each answered "I don't know"."""
    said = {_stem(w) for text in told for w in _words(text)}
    told_facts = [f for text in told for f in facts(text)]
    pool: list[tuple[str, str]] = []  # (question, what the answer says was never told)
    for words, what, questions in _NEGATIVE_TOPICS:
        if not any(_stem(w) in said for w in words):
            pool.append((rng.choice(questions), what))
    for words, np in _NEGATIVE_NPS:
        if not any(_stem(w) in said for w in words):
            form = rng.choice(_TOPIC_QUESTIONS + _WHAT_QUESTIONS)
            pool.append((form.format(t=np), "anything about " + to_assistant(np)[0].lower() + to_assistant(np)[1:]))
    for pattern, forms in _VERB_QUESTIONS:
        if not any(re.search(pattern, f, re.IGNORECASE) for f in told_facts):
            pool.append((rng.choice(forms), "that"))
    # a topic told in one word is told in its others too ("birthday" → no "When was I born?")
    blocked = {_stem(w) for words, *_ in (*_NEGATIVE_TOPICS, *_NEGATIVE_NPS) if any(_stem(x) in said for x in words)
               for w in words} | {_stem(w) for f in told_facts for w in _words(f) if w.lower() not in _STOP}
    pool = [(q, what) for q, what in pool if not any(_stem(w) in blocked for w in _words(q))]
    rng.shuffle(pool)
    pool = pool[:(count + 1) // 2] + _combined_negatives(rng, blocked, count - min(len(pool), (count + 1) // 2))
    return [((USER, question), (ASSISTANT, rng.choice(_NEGATIVE_ANSWERS).format(what=what)))
            for question, what in pool[:count]]
