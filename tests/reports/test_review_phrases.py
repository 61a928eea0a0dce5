"""Review of popular phrases: memory stays bounded inside one huge dialog too."""

from __future__ import annotations

from reports.phrases import PhraseCounter


def test_one_huge_dialog_does_not_grow_the_tables_past_their_bound():
    # a single dialog (a script pasting a dictionary, one word a message): the tables
    # were pruned only when a dialog ended, so they grew with the dialog (10,000 here,
    # a million in a bad night) before the review
    counter = PhraseCounter(max_tracked=100)
    peaks = {"table": 0, "dialogs": 0, "in_dialog": 0}

    def measure() -> None:
        peaks["table"] = max(peaks["table"], *(len(table) for table in counter.counts.values()))
        peaks["dialogs"] = max(
            peaks["dialogs"], *(len(table) for table in counter.dialogs.values())
        )
        peaks["in_dialog"] = max(peaks["in_dialog"], len(counter._in_dialog))

    messages = [(1, f"word{number} common") for number in range(10_000)]
    # when
    counter.add_all(messages, every_message=measure)
    # then
    assert peaks["table"] <= 100
    assert peaks["dialogs"] <= 100
    assert peaks["in_dialog"] <= 3 * 100
    assert counter.pruned
    # the phrase in every message kept its exact count, and its one dialog
    assert counter.top(1, 1) == [("common", 10_000, 1)]


def test_a_phrase_dropped_and_met_again_in_the_same_dialog_starts_again_with_it():
    counter = PhraseCounter(max_words=1, max_tracked=2)
    # when: "rare" is dropped when the table overflows, then met again
    counter.add_all(
        [(1, "rare often"), (1, "often other third"), (1, "often rare"), (2, "often rare")]
    )
    # then: rare starts from zero after it was dropped, with this dialog and the next
    assert dict((phrase, (count, dialogs)) for phrase, count, dialogs in counter.top(1)) == {
        "often": (4, 2),
        "rare": (2, 2),
    }
