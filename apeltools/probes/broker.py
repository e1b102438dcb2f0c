"""check_apel_broker: connect to a STOMP broker, send a probe message to itself and time its return."""

from __future__ import annotations

import threading
import time
import uuid

import click
import nagiosplugin
from nagiosplugin.state import Critical

from apeltools.errors import ApelError, BrokerError
from apeltools.messaging.brokers import parse_brokers
from apeltools.messaging.connection import Link
from apeltools.messaging.settings import MessagingSettings
from apeltools.probes.runtime import execute, outcome, parse_range, probe

DEFAULT_DESTINATION = "/queue/apeltools.probe"


class BrokerResource(nagiosplugin.Resource):
    """Round trip in seconds of one message sent to a destination this probe subscribes to."""

    def __init__(self, link: Link, destination: str, wait: float):
        self.link, self.destination, self.wait = link, destination, wait
        self.broker = None
        self.problem = None

    @property
    def name(self):
        return "APEL-Broker"

    def probe(self):
        token = uuid.uuid4().hex
        arrived = threading.Event()

        def on_message(frame, events):
            body = frame.body.decode("utf-8", "replace") if isinstance(frame.body, bytes) else frame.body
            self.link.ack(frame, events)  # ours or a stray one from an earlier run: take it off the queue
            if token in body:
                arrived.set()

        self.link.on_message = on_message
        try:
            started = time.monotonic()
            self.broker = self._open()
            connected = time.monotonic() - started
            destination = f"{self.destination}.{token[:12]}"
            self.link.subscribe(destination, {"auto-delete": "true"} if self.link.is_rabbitmq else {})
            sent = time.monotonic()
            self.link.send(destination, f"check_apel_broker {token}\n".encode(),
                           {"content-type": "text/plain"})
            left = max(self.wait - (sent - started), 0.1)
            if not arrived.wait(left):
                self.problem = f"the probe message did not come back within {left:.3g} s"
                return [nagiosplugin.Metric("round_trip", False, context="lost")]
            return [
                nagiosplugin.Metric("connect", round(connected, 4), uom="s", min=0, context="connect"),
                nagiosplugin.Metric("round_trip", round(time.monotonic() - sent, 4), uom="s", min=0,
                                    context="round_trip"),
            ]
        except BrokerError as error:
            self.problem = str(error)
            return [nagiosplugin.Metric("connect", False, context="lost")]
        finally:
            self.link.close()


    def _open(self):
        """Connect within the wait, else BrokerError: a hung broker is an alarm, not a probe timeout.

        A broker that accepts the TCP connection and never answers the STOMP
        CONNECT holds stomp.py indefinitely, and the probe's own timeout would
        make it UNKNOWN. The connect runs in a thread of its own, which is
        left behind when the broker stays silent (the probe exits anyway).
        """
        opened = {}

        def connect():
            try:
                opened["broker"] = self.link.open()
            except BrokerError as error:
                opened["error"] = error

        thread = threading.Thread(target=connect, name="check_apel_broker-connect", daemon=True)
        thread.start()
        thread.join(self.wait)
        if thread.is_alive():
            self.broker = ", ".join(str(broker) for broker in self.link.brokers)
            raise BrokerError(f"did not answer the STOMP CONNECT within {self.wait:g} s")
        if "error" in opened:
            raise opened["error"]
        return opened["broker"]


class Lost(nagiosplugin.Context):
    def evaluate(self, metric, resource):
        return self.result_cls(Critical, resource.problem, metric)


class BrokerSummary(nagiosplugin.Summary):
    def __init__(self, resource):
        self.resource = resource

    def ok(self, results):
        return (f"[ {self.resource.broker}: message returned in "
                f"{results['round_trip'].metric.value * 1000:.0f} ms ]")

    def problem(self, results):
        r = self.resource
        if r.problem:
            return f"[ {r.broker or 'broker'}: {r.problem} ]"
        worst = results.most_significant[0]
        return f"[ {r.broker}: {worst.metric.name} took {worst.metric.value:.3f} s ({worst.hint}) ]"


def _range(ctx, param, value):
    parse_range(value, "/".join(param.opts))
    return value


@probe("check_apel_broker", epilog="""\b
Examples:
  check_apel_broker --broker mq.example.org:6163 --ssl --config /etc/apel/sender.cfg
  check_apel_broker --broker localhost:61613 -w 1 -c 5
  check_apel_broker --config /etc/apel/receiver.cfg            # the first broker of [broker]
""")
@click.option("--broker", "broker_text", metavar="HOST:PORT",
              help="Broker to check [default: the [broker] host/hosts of the configuration].")
@click.option("--ssl/--no-ssl", "use_ssl", default=None,
              help="Speak TLS, verifying the broker against [certificates] capath [default: [broker] use_ssl].")
@click.option("--destination", default=DEFAULT_DESTINATION, show_default=True, metavar="QUEUE",
              help="Destination prefix for the probe message (a unique suffix is added).")
@click.option("-w", "--warning", default="2", show_default=True, metavar="RANGE", callback=_range,
              help="Round trip in seconds that is still OK.")
@click.option("-c", "--critical", default="8", show_default=True, metavar="RANGE", callback=_range,
              help="Round trip in seconds above which the broker is CRITICAL.")
def main(settings, broker_text, use_ssl, destination, warning, critical):
    """Can the broker take and deliver a message, and how fast?

    Connects to the broker over STOMP (with TLS verified against the CA
    directory when --ssl), subscribes to a destination of its own, sends one
    message there and waits for it to come back. A broker that cannot be
    reached, does not answer the STOMP connect within the timeout (less a
    second) or loses the message is CRITICAL; the round trip is compared
    with -w and -c. User name and password come from [broker] username and
    password or password_file, never from the command line. Perfdata:
    connect and round_trip (seconds). Any usage error or timeout is UNKNOWN.
    """
    timeout = settings.timeout or 10.0

    def run():
        messaging = MessagingSettings.from_config(settings.config, "sender")
        ssl = messaging.use_ssl if use_ssl is None else use_ssl
        if broker_text:
            brokers = parse_brokers(broker_text, ssl)
        elif messaging.brokers:
            brokers = messaging.brokers[:1]
        else:
            raise ApelError("no broker: give --broker HOST:PORT or set [broker] host in --config")
        link = Link(brokers, username=messaging.username, password=messaging.password, capath=messaging.capath,
                    certificate=messaging.certificate, key=messaging.key, heartbeat=0, vhost=messaging.vhost)
        resource = BrokerResource(link, destination, wait=max(timeout - 1.0, 0.5))
        check = nagiosplugin.Check(
            resource,
            nagiosplugin.ScalarContext("round_trip", warning, critical),
            nagiosplugin.ScalarContext("connect"),
            Lost("lost"),
            BrokerSummary(resource),
        )
        return outcome(check)

    return execute(settings, run)
