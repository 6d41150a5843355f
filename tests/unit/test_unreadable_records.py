"""What KafkaSource.poll makes of records it cannot read: UnreadableRecords, one line, saying what to do."""

from __future__ import annotations

import kafka.errors as kerr
import pytest

from consumers.source import StreamError, UnreadableRecords, _reading, _translated

CASES = [
    (kerr.UnsupportedCodecError("Libraries for zstd compression codec\nnot found"), ("zstd", "install", "restart")),
    (kerr.CorruptRecordError("Record for partition news-0 at offset 41 failed crc check"),
     ("offset 41", "--reset-offsets")),
    # kafka-python decodes header keys as UTF-8 while parsing a fetched batch
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), ("UnicodeDecodeError", "--reset-offsets")),
    (ValueError(), ("ValueError", "could not parse")),
]


@pytest.mark.parametrize(("error", "needles"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_unreadable_records_are_one_line_with_advice(error: Exception, needles: tuple[str, ...]) -> None:
    with pytest.raises(UnreadableRecords) as caught, _translated("poll"), _reading("news"):
        raise error
    message = str(caught.value)
    assert "\n" not in message and message.startswith("cannot read news")
    for needle in needles:
        assert needle in message, (needle, message)


def test_broker_errors_keep_their_kind() -> None:
    with pytest.raises(StreamError) as caught, _translated("poll"), _reading("news"):
        raise kerr.TopicAuthorizationFailedError("denied")
    assert not isinstance(caught.value, UnreadableRecords)
