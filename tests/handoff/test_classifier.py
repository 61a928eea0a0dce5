"""The handoff classifiers: offline rules, the language-model backend against a fake
OpenAI-compatible server, its fallbacks, and the choice made from settings."""

from __future__ import annotations

import logging

import pytest

from handoff.classifier import (
    BuiltinClassifier,
    Conversation,
    LanguageModelClassifier,
    Verdict,
    classifier_from_settings,
    prompt_phrases,
)
from tests.fake_llm_server import FakeLanguageModel
from tests.servers import free_port


def conversation(
    *client_texts: str, prompt: str = "", fallback_count: int = 0, language: str = "en"
) -> Conversation:
    return Conversation(
        prompt=prompt,
        client_texts=list(client_texts),
        fallback_count=fallback_count,
        language=language,
    )


def builtin(*client_texts: str, **kwargs) -> Verdict:
    return BuiltinClassifier().classify(conversation(*client_texts, **kwargs))


# --- built-in: explicit asks ---


@pytest.mark.parametrize(
    ("text", "language", "phrase"),
    [
        ("Can I talk to a human please", "en", "talk to a human"),
        ("I want a real person", "en", "real person"),
        ("Let me speak to someone", "en", "speak to someone"),
        ("live chat", "en", "live chat"),
        ("Позовите оператора", "ru", "оператора"),
        ("Хочу поговорить с живым человеком", "ru", "живым человеком"),
        ("Соедините, пожалуйста", "ru", "соедините"),
        ("Vorrei parlare con qualcuno", "it", "parlare con qualcuno"),
        ("Mi serve un addetto", "it", "un addetto"),
        ("C'è una persona reale?", "it", "persona reale"),
    ],
)
def test_explicit_ask_for_a_human_offers_one(text, language, phrase):
    verdict = builtin(text, language=language)

    assert verdict == Verdict(True, f"explicit ask: '{phrase}'", "builtin")


def test_explicit_asks_in_every_language_apply_whatever_the_chat_language():
    verdict = builtin("оператор", language="it")

    assert verdict.offer_human


def test_explicit_ask_ignores_case_and_accents():
    verdict = builtin("Voglio parlare con un OPERATÒRE", language="it")

    assert verdict == Verdict(True, "explicit ask: 'operatore'", "builtin")


def test_explicit_ask_matches_short_i_written_as_in_the_list():
    # normalise_text turns "й" into "и"; the phrase list is normalised the same way
    verdict = builtin("Мне нужен живой человек", language="ru")

    assert verdict == Verdict(True, "explicit ask: 'живой человек'", "builtin")


@pytest.mark.parametrize(
    "text",
    ["What does your company do for humanity?", "Tell me about your management team"],
)
def test_a_word_that_merely_contains_a_cue_does_not_match(text):
    verdict = builtin(text)

    assert verdict == Verdict(False, "no cue", "builtin")


def test_explicit_ask_only_counts_in_the_newest_message():
    verdict = builtin("I want a human", "Oh, never mind, what are your opening hours")

    assert not verdict.offer_human


# --- built-in: frustration ---


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("This is useless", "useless"),
        ("That doesn't help at all", "doesn't help"),
        ("You don't understand me", "you don't understand"),
        ("Это бесполезно", "бесполезно"),
        ("Ты меня не понимаешь", "не понимаешь"),
        ("Sei inutile", "inutile"),
        ("Che perdita di tempo", "perdita di tempo"),
    ],
)
def test_frustration_words_offer_a_human(text, cue):
    verdict = builtin(text)

    assert verdict == Verdict(True, f"frustration: '{cue}'", "builtin")


def test_frustration_in_one_of_the_last_three_messages_offers_a_human():
    verdict = builtin("This is a waste of time", "ok", "what about prices")

    assert verdict == Verdict(True, "frustration: 'waste of time'", "builtin")


def test_frustration_older_than_the_last_three_messages_is_ignored():
    verdict = builtin("This is terrible", "ok", "fine", "what about prices")

    assert verdict == Verdict(False, "no cue", "builtin")


def test_shouting_offers_a_human():
    verdict = builtin("WHY IS THIS NOT WORKING")

    assert verdict == Verdict(True, "frustration: shouting", "builtin")


def test_a_short_uppercase_message_is_not_shouting():
    verdict = builtin("OK THX")

    assert not verdict.offer_human


def test_mostly_lowercase_message_with_an_acronym_is_not_shouting():
    verdict = builtin("Where do I find my PIN for the VISA card")

    assert not verdict.offer_human


def test_triple_exclamation_marks_offer_a_human():
    verdict = builtin("Answer me!!!")

    assert verdict == Verdict(True, "frustration: '!!!'", "builtin")


def test_triple_question_marks_offer_a_human():
    verdict = builtin("Where is my order???")

    assert verdict == Verdict(True, "frustration: '???'", "builtin")


# --- built-in: fallbacks ---


def test_two_fallbacks_offer_a_human():
    verdict = builtin("what about the thing", fallback_count=2)

    assert verdict == Verdict(True, "2 fallbacks", "builtin")


def test_one_fallback_does_not_offer_a_human():
    verdict = builtin("what about the thing", fallback_count=1)

    assert verdict == Verdict(False, "no cue", "builtin")


# --- built-in: phrases from the prompt ---


@pytest.mark.parametrize(
    "prompt",
    [
        'Reveal handoff when the visitor mentions "refund".',
        "Reveal handoff when the visitor mentions 'refund'.",
        "Reveal handoff when the visitor mentions «refund».",
        "Reveal handoff when the visitor mentions “refund”.",
        "Reveal handoff on:\n- refund\n- broken item",
        "Reveal handoff on:\n* refund\n* broken item",
    ],
)
def test_a_phrase_from_the_prompt_in_the_newest_message_offers_a_human(prompt):
    verdict = builtin("I would like a Refund, please", prompt=prompt)

    assert verdict == Verdict(True, "prompt phrase: 'refund'", "builtin")


def test_a_multi_word_prompt_phrase_matches_across_punctuation():
    verdict = builtin("My item is broken — item arrived broken!", prompt="- arrived broken")

    assert verdict == Verdict(True, "prompt phrase: 'arrived broken'", "builtin")


def test_a_prompt_list_item_longer_than_four_words_is_not_a_phrase():
    phrases = prompt_phrases("- when the visitor is angry\n- refund")

    assert phrases == ("refund",)


def test_an_apostrophe_inside_a_word_does_not_open_a_quoted_phrase():
    phrases = prompt_phrases("If the visitor's order didn't arrive, say 'delivery'.")

    assert phrases == ("delivery",)


def test_a_prompt_phrase_in_an_older_message_does_not_offer_a_human():
    verdict = builtin("I want a refund", "thanks, got it", prompt='"refund"')

    assert not verdict.offer_human


# --- built-in: nothing ---


def test_a_message_without_cues_does_not_offer_a_human():
    verdict = builtin("What are your opening hours?", prompt="Reveal when the visitor is upset")

    assert verdict == Verdict(False, "no cue", "builtin")


def test_a_conversation_without_client_messages_does_not_offer_a_human():
    verdict = builtin()

    assert verdict == Verdict(False, "no cue", "builtin")


# --- language model ---

PROMPT = "Reveal handoff when the visitor wants to cancel a contract."


def language_model(url: str, **kwargs) -> LanguageModelClassifier:
    return LanguageModelClassifier(url=url, model="test-model", **kwargs)


def test_language_model_yes_offers_a_human():
    with FakeLanguageModel(answer="Yes.") as server:
        verdict = language_model(server.url).classify(conversation("cancel it", prompt=PROMPT))

    assert verdict == Verdict(True, "language model: yes", "language_model")


def test_language_model_no_does_not_offer_a_human():
    # the built-in rules would offer here ("useless"); the model's answer wins
    with FakeLanguageModel(answer="no") as server:
        verdict = language_model(server.url).classify(conversation("useless", prompt=PROMPT))

    assert verdict == Verdict(False, "language model: no", "language_model")


def test_language_model_request_carries_model_key_prompt_and_messages():
    texts = [f"message {number}" for number in range(12)]
    with FakeLanguageModel(answer="yes") as server:
        language_model(server.url, api_key="secret-key").classify(
            conversation(*texts, prompt=PROMPT)
        )

    [request] = server.requests
    system, user = request.body["messages"]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer secret-key"
    assert request.headers["content-type"] == "application/json"
    assert request.body["model"] == "test-model"
    assert request.body["temperature"] == 0
    assert request.body["max_tokens"] == 5
    assert system["role"] == "system"
    assert PROMPT in system["content"]
    assert user == {"role": "user", "content": "\n".join(texts[-10:])}


def test_language_model_request_has_no_authorization_without_a_key():
    with FakeLanguageModel(answer="yes") as server:
        language_model(server.url).classify(conversation("hi"))

    assert "authorization" not in server.requests[0].headers


def test_language_model_puts_each_client_message_on_one_line():
    with FakeLanguageModel(answer="yes") as server:
        language_model(server.url).classify(conversation("first\nline", "second"))

    assert server.requests[0].body["messages"][1]["content"] == "first line\nsecond"


# --- language model failures fall back to the built-in rules ---

FRUSTRATED = "this is useless"
BUILTIN_VERDICT = Verdict(True, "frustration: 'useless'", "builtin")


def test_language_model_server_error_falls_back_to_builtin():
    with FakeLanguageModel(answer="no", status=500) as server:
        verdict = language_model(server.url).classify(conversation(FRUSTRATED))

    assert verdict == BUILTIN_VERDICT


def test_language_model_malformed_json_falls_back_to_builtin():
    with FakeLanguageModel(malformed=True) as server:
        verdict = language_model(server.url).classify(conversation(FRUSTRATED))

    assert verdict == BUILTIN_VERDICT


def test_language_model_unexpected_shape_falls_back_to_builtin():
    with FakeLanguageModel(response_json={"choices": []}) as server:
        verdict = language_model(server.url).classify(conversation(FRUSTRATED))

    assert verdict == BUILTIN_VERDICT


def test_language_model_timeout_falls_back_to_builtin():
    with FakeLanguageModel(answer="no", delay_seconds=1.0) as server:
        verdict = language_model(server.url, timeout_seconds=0.2).classify(conversation(FRUSTRATED))

    assert verdict == BUILTIN_VERDICT


def test_language_model_connection_refused_falls_back_to_builtin():
    closed_port_url = f"http://127.0.0.1:{free_port()}/v1/chat/completions"

    verdict = language_model(closed_port_url).classify(conversation(FRUSTRATED))

    assert verdict == BUILTIN_VERDICT


def test_language_model_answer_neither_yes_nor_no_falls_back_to_builtin():
    with FakeLanguageModel(answer="maybe") as server:
        verdict = language_model(server.url).classify(conversation(FRUSTRATED))

    assert verdict == BUILTIN_VERDICT


def test_language_model_url_that_is_not_http_falls_back_to_builtin():
    verdict = language_model("file:///etc/passwd").classify(conversation(FRUSTRATED))

    assert verdict == BUILTIN_VERDICT


def test_language_model_failure_is_logged_as_a_warning(caplog):
    with FakeLanguageModel(status=500) as server, caplog.at_level(logging.WARNING):
        language_model(server.url).classify(conversation(FRUSTRATED))

    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert "HTTP status 500" in caplog.text


def test_language_model_failure_uses_the_given_fallback():
    class AlwaysOffer:
        def classify(self, conversation: Conversation) -> Verdict:
            return Verdict(True, "always", "builtin")

    with FakeLanguageModel(status=500) as server:
        verdict = language_model(server.url, fallback=AlwaysOffer()).classify(conversation("hi"))

    assert verdict == Verdict(True, "always", "builtin")


# --- from settings ---


def test_classifier_from_settings_is_builtin_without_a_url(settings):
    settings.BATON_CLASSIFIER_URL = ""

    assert isinstance(classifier_from_settings(), BuiltinClassifier)


def test_classifier_from_settings_uses_the_language_model_when_a_url_is_set(settings):
    settings.BATON_CLASSIFIER_URL = "http://127.0.0.1:8001/v1/chat/completions"
    settings.BATON_CLASSIFIER_MODEL = "small-model"
    settings.BATON_CLASSIFIER_API_KEY = "key"
    settings.BATON_CLASSIFIER_TIMEOUT = 2.5

    classifier = classifier_from_settings()

    assert isinstance(classifier, LanguageModelClassifier)
    assert (classifier.url, classifier.model, classifier.api_key, classifier.timeout_seconds) == (
        "http://127.0.0.1:8001/v1/chat/completions",
        "small-model",
        "key",
        2.5,
    )
    assert isinstance(classifier.fallback, BuiltinClassifier)
