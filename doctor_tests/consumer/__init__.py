"""Sample consumer: receives Aodh REST alarm actions and records them."""

from doctor_tests.consumer.alarm import Alarm, InvalidAlarm, parse_alarm
from doctor_tests.consumer.consumer import Consumer, Rejected
from doctor_tests.consumer.server import ConsumerServer

__all__ = ["Alarm", "Consumer", "ConsumerServer", "InvalidAlarm", "Rejected", "parse_alarm"]
