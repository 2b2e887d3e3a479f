"""A Kafka record is never lost to its headers or a null value: FastStream's parser decodes header values strictly,
and a value that was not UTF-8 made it raise before our handler, so the record (for batch services its whole poll
batch) was committed unhandled and without a dead letter (benchmarks.malformed_volume found it)."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka.message import KafkaAckableMessage
from faststream.kafka.parser import AioKafkaBatchParser, AioKafkaParser

from libs.platform.service import record_of, tolerant_parser


def record(offset: int, value: bytes | None, headers) -> ConsumerRecord:
    return ConsumerRecord(topic="t", partition=0, offset=offset, timestamp=0, timestamp_type=0, key=b"k",
                          value=value, checksum=None, serialized_key_size=1,
                          serialized_value_size=len(value or b""), headers=headers)


HOSTILE = [("event-type", b"\xff\xfe\xfd"), ("traceparent", b"00-\xc0\xaf-01"), ("ok", b"fine")]


async def test_a_batch_with_a_non_utf8_header_value_is_parsed_whole():
    parser = AioKafkaBatchParser(msg_class=KafkaAckableMessage, regex=None)
    batch = (record(0, b'{"good":1}', [("event-type", b"WorkloadSubmitted")]), record(1, b"{}", HOSTILE),
             record(2, b'{"good":2}', []))
    with pytest.raises(UnicodeDecodeError):  # what FastStream alone does with it
        await parser.parse_batch(batch)
    message = await tolerant_parser(batch, parser.parse_batch)
    assert [r.value for r in message.raw_message] == [b'{"good":1}', b"{}", b'{"good":2}']
    assert [r.offset for r in message.raw_message] == [0, 1, 2]
    assert dict(message.raw_message[1].headers)["event-type"] == "\ufffd\ufffd\ufffd".encode()


async def test_one_record_with_a_non_utf8_header_value_is_parsed():
    parser = AioKafkaParser(msg_class=KafkaAckableMessage, regex=None)
    message = await tolerant_parser(record(5, b"{}", HOSTILE), parser.parse_message)
    assert message.raw_message.value == b"{}" and message.headers["ok"] == "fine"


def test_the_runtime_sees_a_null_value_as_null_and_headers_leniently():
    seen = record_of(record(7, None, HOSTILE))
    assert seen.value is None  # dead-lettered 'empty' by every service alike, batch or not
    assert seen.headers["traceparent"] == "00-\ufffd\ufffd-01" and seen.offset == 7
