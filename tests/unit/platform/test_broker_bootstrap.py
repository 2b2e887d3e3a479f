"""A service reaches every broker of a comma-separated bootstrap list, not one host named by the whole string."""

from libs.platform.service import make_broker
from libs.platform.settings import Settings


def test_a_bootstrap_list_is_several_servers():
    broker = make_broker(Settings(service="quota", kafka_bootstrap="127.0.0.1:9092, 127.0.0.1:9093,127.0.0.1:9094"))
    assert broker._connection_kwargs["bootstrap_servers"] == ["127.0.0.1:9092", "127.0.0.1:9093", "127.0.0.1:9094"]


def test_one_server_is_a_list_of_one():
    broker = make_broker(Settings(service="quota", kafka_bootstrap="127.0.0.1:9092"))
    assert broker._connection_kwargs["bootstrap_servers"] == ["127.0.0.1:9092"]
