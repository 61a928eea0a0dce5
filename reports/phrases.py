"""Popular phrases: normalised n-grams of client messages, counted in bounded memory.

A message is NFKC-normalised and case-folded, split into words at every character
that is not a letter or a digit (so punctuation goes), and stripped of stop words
(reports.stopwords); its 1-, 2- and 3-word phrases are the runs of consecutive
remaining words. Phrases never cross messages."""

from __future__ import annotations

import heapq
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable

from reports.stopwords import STOP_WORDS

logger = logging.getLogger(__name__)

WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 3
TOP = 1000
# per phrase length; past it the rarest phrases are dropped (see PhraseCounter)
MAX_TRACKED = 200_000
# the words of one message read at most: a pasted document is not a phrase
MAX_MESSAGE_WORDS = 2000


def phrase_words(text: str) -> list[str]:
    """The words of a message that phrases are made of."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    return [word for word in WORD.findall(normal)[:MAX_MESSAGE_WORDS] if word not in STOP_WORDS]


def message_phrases(text: str, max_words: int = MAX_WORDS) -> list[tuple[int, str]]:
    """(n, phrase) for every run of n consecutive words, n = 1..max_words."""
    words = phrase_words(text)
    return [
        (size, " ".join(words[start : start + size]))
        for size in range(1, max_words + 1)
        for start in range(len(words) - size + 1)
    ]


class PhraseCounter:
    """Counts phrases (occurrences) and the dialogs containing each, fed message by
    message in dialog order.

    Exact while each phrase length has at most `max_tracked` distinct phrases (checked
    after each message, so one huge dialog is bounded too). Past that, only the most
    frequent half is kept; a phrase dropped then and seen again later starts from
    zero (its count and its dialogs), so it is under-counted by what it had when
    dropped, and `pruned` says this happened. A phrase of the final top 1,000 is
    affected only if, when the table filled, `max_tracked / 2` other phrases had been
    seen more often than it. A dialog is credited to a phrase when the phrase first
    appears in it."""

    def __init__(self, max_words: int = MAX_WORDS, max_tracked: int = MAX_TRACKED) -> None:
        self.max_words = max_words
        self.max_tracked = max_tracked
        self.counts = {size: Counter() for size in range(1, max_words + 1)}
        self.dialogs = {size: Counter() for size in range(1, max_words + 1)}
        self.pruned = False
        self._dialog_id: object = None
        self._in_dialog: set[tuple[int, str]] = set()

    def add(self, dialog_id: object, text: str) -> None:
        if dialog_id != self._dialog_id:
            self._close_dialog()
            self._dialog_id = dialog_id
        for size, phrase in message_phrases(text, self.max_words):
            self.counts[size][phrase] += 1
            if (size, phrase) not in self._in_dialog:
                self._in_dialog.add((size, phrase))
                self.dialogs[size][phrase] += 1
        for size, counts in self.counts.items():
            if len(counts) > self.max_tracked:
                self._prune(size)

    def add_all(
        self,
        messages: Iterable[tuple[object, str]],
        every_message: Callable[[], None] | None = None,
    ) -> PhraseCounter:
        for dialog_id, text in messages:
            self.add(dialog_id, text)
            if every_message is not None:
                every_message()
        self._close_dialog()
        return self

    def top(self, size: int, limit: int = TOP) -> list[tuple[str, int, int]]:
        """(phrase, count, dialogs), most frequent first; ties by dialogs, then phrase."""
        counts, dialogs = self.counts[size], self.dialogs[size]
        ranked = sorted(counts.items(), key=lambda item: (-item[1], -dialogs[item[0]], item[0]))
        return [(phrase, count, dialogs[phrase]) for phrase, count in ranked[:limit]]

    def _close_dialog(self) -> None:
        self._in_dialog = set()

    def _prune(self, size: int) -> None:
        """Keep the most frequent half of the table (by count, then dialogs)."""
        counts, dialogs = self.counts[size], self.dialogs[size]
        keep = heapq.nsmallest(
            self.max_tracked // 2,
            counts,
            key=lambda phrase: (-counts[phrase], -dialogs[phrase], phrase),
        )
        self.counts[size] = Counter({phrase: counts[phrase] for phrase in keep})
        self.dialogs[size] = Counter({phrase: dialogs[phrase] for phrase in keep})
        # a dropped phrase met again in this dialog starts again, with this dialog
        kept = set(keep)
        self._in_dialog = {
            (length, phrase)
            for length, phrase in self._in_dialog
            if length != size or phrase in kept
        }
        self.pruned = True
        logger.info("popular phrases: kept the %s most frequent %s-word phrases", len(keep), size)
