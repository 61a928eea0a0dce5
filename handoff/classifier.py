"""Decides from a conversation whether to reveal the "talk to a human" button.

An admin writes a trigger prompt for a chat; a classifier reads the visitor's messages
and says whether a human should be offered now. The built-in classifier works offline
from word lists, the fallback count and phrases quoted in the prompt; the language-model
classifier asks an OpenAI-compatible chat-completions endpoint and falls back to the
built-in rules whenever that endpoint cannot give a clear answer.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.conf import settings

from chats.normalise import normalise_text

logger = logging.getLogger(__name__)

BUILTIN = "builtin"
LANGUAGE_MODEL = "language_model"


@dataclass(frozen=True)
class Conversation:
    prompt: str  # the admin's trigger prompt; may be empty
    client_texts: list[str]  # the visitor's messages in this dialog, oldest first
    fallback_count: int  # times the bot answered with its fallback in this dialog
    language: str  # chat language: "en", "ru" or "it"


@dataclass(frozen=True)
class Verdict:
    offer_human: bool
    reason: str  # short, for logs and the admin, e.g. "frustration: 'useless'"
    backend: str  # BUILTIN or LANGUAGE_MODEL


class HandoffClassifier(Protocol):
    def classify(self, conversation: Conversation) -> Verdict: ...


def _normalised_phrases(*phrases: str) -> dict[str, str]:
    """Normal form -> phrase as written (for reasons). Normalised exactly like the
    messages, so "й"/"ё", case, accents and apostrophes compare equal."""
    return {normalise_text(phrase): phrase for phrase in phrases if normalise_text(phrase)}


# Every language's list applies in every chat: visitors often write in another language.
EXPLICIT_ASKS = _normalised_phrases(
    # en
    "human",
    "humans",
    "real person",
    "talk to a person",
    "talk to a human",
    "speak to a human",
    "operator",
    "agent",
    "representative",
    "live chat",
    "speak to someone",
    "talk to someone",
    "manager",
    # ru: the usual case forms too, since matching is by whole word
    "оператор",
    "оператора",
    "оператору",
    "оператором",
    "человек",
    "человека",
    "человеку",
    "человеком",
    "живой человек",
    "живого человека",
    "живым человеком",
    "менеджер",
    "менеджера",
    "менеджеру",
    "менеджером",
    "позовите",
    "позови",
    "соедините",
    "соедини",
    "консультант",
    "консультанта",
    "консультанту",
    "консультантом",
    # it
    "operatore",
    "operatori",
    "persona reale",
    "umano",
    "parlare con qualcuno",
    "assistenza",
    "un addetto",
)

FRUSTRATION_CUES = _normalised_phrases(
    # en
    "useless",
    "not helpful",
    "doesn't help",
    "stupid bot",
    "this is ridiculous",
    "waste of time",
    "you don't understand",
    "not what i asked",
    "angry",
    "terrible",
    # ru
    "бесполезно",
    "не помогает",
    "тупой бот",
    "не понимаешь",
    "ужасно",
    "бесит",
    # it
    "inutile",
    "non aiuta",
    "non capisci",
    "pessimo",
    "assurdo",
    "perdita di tempo",
)

FRUSTRATION_WINDOW = 3  # newest client messages searched for frustration
FALLBACKS_BEFORE_OFFER = 2
SHOUTING_MIN_LETTERS = 8
SHOUTING_UPPERCASE_SHARE = 0.7
PROMPT_LIST_ITEM_MAX_WORDS = 4

# an apostrophe inside a word ("visitor's", "don't") does not open or close a quote
_QUOTED = re.compile(r"\"([^\"\n]+)\"|(?<!\w)'([^'\n]+)'(?!\w)|«([^»\n]+)»|“([^”\n]+)”")
_LIST_ITEM = re.compile(r"^\s*[-*]\s*(.+?)\s*$")


def _find_phrase(text: str, phrases: dict[str, str]) -> str | None:
    """The longest phrase found in `text` (normalised) as whole words, as written, or None."""
    padded = f" {text} "
    found = [normalised for normalised in phrases if f" {normalised} " in padded]
    return phrases[max(found, key=len)] if found else None


def _is_shouting(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    if len(letters) < SHOUTING_MIN_LETTERS:
        return False
    uppercase = sum(1 for char in letters if char.isupper())
    return uppercase / len(letters) >= SHOUTING_UPPERCASE_SHARE


def prompt_phrases(prompt: str) -> tuple[str, ...]:
    """Phrases an admin marked in the prompt: quoted text and short "-"/"*" list items.

    Returned as written (stripped), in order of appearance, without duplicates.
    """
    phrases: list[str] = []
    for match in _QUOTED.finditer(prompt):
        phrases.append(next(group for group in match.groups() if group is not None).strip())
    for line in prompt.splitlines():
        item = _LIST_ITEM.match(line)
        if item and len(item.group(1).split()) <= PROMPT_LIST_ITEM_MAX_WORDS:
            phrases.append(item.group(1))
    return tuple(dict.fromkeys(phrase for phrase in phrases if normalise_text(phrase)))


class BuiltinClassifier:
    """Offline rules: explicit asks, frustration, repeated fallbacks, phrases from the prompt."""

    def classify(self, conversation: Conversation) -> Verdict:
        texts = conversation.client_texts
        newest = texts[-1] if texts else ""
        newest_normalised = normalise_text(newest)

        if ask := _find_phrase(newest_normalised, EXPLICIT_ASKS):
            return Verdict(True, f"explicit ask: '{ask}'", BUILTIN)

        for text in reversed(texts[-FRUSTRATION_WINDOW:]):
            if cue := _find_phrase(normalise_text(text), FRUSTRATION_CUES):
                return Verdict(True, f"frustration: '{cue}'", BUILTIN)
            if _is_shouting(text):
                return Verdict(True, "frustration: shouting", BUILTIN)
            for marks in ("!!!", "???"):
                if marks in text:
                    return Verdict(True, f"frustration: '{marks}'", BUILTIN)

        if conversation.fallback_count >= FALLBACKS_BEFORE_OFFER:
            return Verdict(True, f"{conversation.fallback_count} fallbacks", BUILTIN)

        padded_newest = f" {newest_normalised} "
        for phrase in prompt_phrases(conversation.prompt):
            if f" {normalise_text(phrase)} " in padded_newest:
                return Verdict(True, f"prompt phrase: '{phrase}'", BUILTIN)

        return Verdict(False, "no cue", BUILTIN)


class LanguageModelError(Exception):
    """The endpoint gave no usable yes/no answer."""


INSTRUCTIONS = (
    "You decide whether a website chat should offer the visitor a human operator now. "
    "The visitor is talking to a chatbot. Follow the administrator's rule below. "
    'Answer with only one word: "yes" to offer a human operator now, "no" otherwise.'
)
MESSAGES_SENT = 10
MAX_RESPONSE_BYTES = 1_000_000


class LanguageModelClassifier:
    """Asks an OpenAI-compatible chat-completions endpoint; never raises.

    Any failure (unreachable, timeout, non-2xx, bad JSON, unexpected shape, an answer
    that is neither yes nor no) is logged as a warning and the fallback decides.
    """

    def __init__(
        self,
        *,
        url: str,
        model: str,
        api_key: str = "",
        timeout_seconds: float = 5.0,
        fallback: HandoffClassifier | None = None,
    ) -> None:
        self.url = url
        self.model = model
        self.api_key = api_key
        self.timeout_seconds = timeout_seconds
        self.fallback: HandoffClassifier = fallback if fallback is not None else BuiltinClassifier()

    def classify(self, conversation: Conversation) -> Verdict:
        try:
            offer = self._ask(conversation)
        except (LanguageModelError, OSError, http.client.HTTPException, ValueError) as error:
            # OSError covers URLError, HTTPError, refused connections and socket timeouts;
            # ValueError covers bad JSON, bad UTF-8 and malformed URLs.
            logger.warning(
                "Handoff classifier at %s failed (%s: %s); using the fallback rules",
                self.url,
                type(error).__name__,
                error,
            )
            return self.fallback.classify(conversation)
        return Verdict(offer, f"language model: {'yes' if offer else 'no'}", LANGUAGE_MODEL)

    def request_body(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": self._system_message(conversation)},
                {"role": "user", "content": self._user_message(conversation)},
            ],
            "temperature": 0,
            "max_tokens": 5,
        }

    def _system_message(self, conversation: Conversation) -> str:
        rule = conversation.prompt.strip() or (
            "(none given: offer a human when the visitor asks for one or is frustrated)"
        )
        return (
            f"{INSTRUCTIONS}\n\n"
            f"Administrator's rule:\n{rule}\n\n"
            f"Chat language: {conversation.language}. "
            f"The bot could not answer {conversation.fallback_count} time(s) in this dialog. "
            "The user message holds the visitor's latest messages, one per line, oldest first."
        )

    @staticmethod
    def _user_message(conversation: Conversation) -> str:
        # one message per line, so line breaks inside a message become spaces
        recent = conversation.client_texts[-MESSAGES_SENT:]
        return "\n".join(" ".join(text.split()) for text in recent)

    def _ask(self, conversation: Conversation) -> bool:
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise LanguageModelError(f"URL scheme must be http or https: {self.url!r}")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(  # noqa: S310 (scheme checked above: http(s) only)
            self.url,
            data=json.dumps(self.request_body(conversation)).encode(),
            headers=headers,
            method="POST",
        )
        try:
            # the timeout applies to each socket operation: connect, send, every read
            response = urllib.request.urlopen(request, timeout=self.timeout_seconds)  # noqa: S310 (scheme checked above)
        except urllib.error.HTTPError as error:  # any status outside 2xx
            error.close()
            raise LanguageModelError(f"HTTP status {error.code}") from error
        with response:
            payload = json.loads(response.read(MAX_RESPONSE_BYTES).decode("utf-8"))
        return _parse_answer(payload)


def _parse_answer(payload: Any) -> bool:
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as error:
        raise LanguageModelError(f"unexpected response shape: {error!r}") from error
    if not isinstance(content, str):
        raise LanguageModelError(f"answer is not text: {content!r}")
    words = normalise_text(content).split()
    first = words[0] if words else ""
    if first == "yes":
        return True
    if first == "no":
        return False
    raise LanguageModelError(f"answer is neither yes nor no: {content[:40]!r}")


def classifier_from_settings() -> HandoffClassifier:
    """The language-model classifier when BATON_CLASSIFIER_URL is set, else the built-in one."""
    url = getattr(settings, "BATON_CLASSIFIER_URL", "")
    if not url:
        return BuiltinClassifier()
    return LanguageModelClassifier(
        url=url,
        model=getattr(settings, "BATON_CLASSIFIER_MODEL", "gpt-4o-mini"),
        api_key=getattr(settings, "BATON_CLASSIFIER_API_KEY", ""),
        timeout_seconds=float(getattr(settings, "BATON_CLASSIFIER_TIMEOUT", 5.0)),
        fallback=BuiltinClassifier(),
    )
