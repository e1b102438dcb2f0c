"""A 3-node RabbitMQ cluster with the accounting queue as a quorum queue, competing receivers and
loaders on the Galera cluster (issue 18): apel-send and apel-receive get the node list as their
broker list, a node is SIGKILLed with 5,000 messages in flight, one of the two competing receivers
is SIGKILLed mid-stream and restarted, and every record ends up in the repository exactly once."""

import threading
import time
import uuid

import pytest
from dirq.QueueSimple import QueueSimple

from apeltools.messaging import queues
from apeltools.messaging.brokers import Broker
from apeltools.messaging.connection import Link
from apeltools.messaging.sender import Sender, StompChannel, signer_for
from apeltools.retry import Backoff
from tests.test_galera import cluster_db, node_url, summarise, super_summaries  # noqa: F401 (cluster_db is a fixture)
from tests.test_loader_faults import apel_load
from tests.test_messaging_e2e import Setup, site_jobs, stop

pytestmark = [pytest.mark.cluster, pytest.mark.mariadb]


def declare_quorum_queue(cluster, name):
    """Declare ``name`` as a durable quorum queue (STOMP: a SUBSCRIBE with x-queue-type, then gone)."""
    link = Link([Broker(cluster.host, cluster.port)], username=cluster.user, password=cluster.password,
                heartbeat=0)
    link.open()
    link.subscribe(f"/queue/{name}", {"x-queue-type": "quorum", "durable": "true", "auto-delete": "false"})
    time.sleep(0.5)
    link.close()


class ClusterSetup(Setup):
    """A Setup whose programs get every node as ``[broker] hosts`` and use the existing queue
    through ``/amq/queue/``: a ``/queue/`` destination would declare it again, without
    x-queue-type, which RabbitMQ refuses for a quorum queue (PRECONDITION_FAILED)."""

    def __init__(self, tmp_path, pki, cluster, queue_name):
        tmp_path.mkdir(parents=True, exist_ok=True)
        super().__init__(tmp_path, pki, cluster)
        old_destination, self.destination = self.destination, f"/amq/queue/{queue_name}"
        for path in self.config.values():
            with open(path) as handle:
                text = handle.read()
            text = text.replace(f"host: {cluster.host}\nport: {cluster.port}\n", f"hosts: {cluster.hosts}\n")
            with open(path, "w") as handle:
                handle.write(text.replace(old_destination, self.destination))


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_broker_node_and_one_receiver_killed_with_5000_messages_in_flight_lose_nothing(
        rabbitmq_cluster, galera_cluster, cluster_db, db_url, tmp_path, pki):  # noqa: F811
    """Both faults in one run, to keep the cluster suite short: broker node 1 is SIGKILLed at 200
    messages received (the sender fails over), one of the two receivers at 1,500 (the other carries
    on alone, then it is restarted). Every job is loaded exactly once, and the summaries equal those
    of the same jobs in a single database (the site's)."""
    name = f"apeltools.cluster.{uuid.uuid4().hex[:8]}"
    declare_quorum_queue(rabbitmq_cluster, name)
    first = ClusterSetup(tmp_path / "a", pki, rabbitmq_cluster, name)
    second = ClusterSetup(tmp_path / "b", pki, rabbitmq_cluster, name)
    messages = 5000
    site_jobs(db_url, messages)
    names = first.publish(db_url, 1, "--no-sync")
    assert len(names) == messages
    receivers = [first.start_receiver(), second.start_receiver()]
    link = Link([Broker(rabbitmq_cluster.host, rabbitmq_cluster.port_of(node)) for node in rabbitmq_cluster.nodes],
                username="guest", password="guest", heartbeat=2)
    sender = Sender(queues.outgoing_queue(first.tmp / "outgoing"), StompChannel(link, first.destination),
                    signer_for(pki.site.cert_pem, pki.site.key_pem), receipt_timeout=5,
                    backoff=Backoff(initial=0.5, maximum=2, give_up_after=180))
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(tally=sender.drain(show_progress=False)))
    try:
        thread.start()
        while first.count() + second.count() < 200:
            time.sleep(0.05)
        rabbitmq_cluster.kill_node(1)  # the sender's first broker: it fails over to node 2
        while first.count() + second.count() < 1500:
            time.sleep(0.05)
        # SIGKILL, mid-stream: what it received but had not acknowledged goes back to the queue,
        # to the other receiver or to its restarted self (at least once: a duplicate is loaded
        # onto the same rows).
        receivers[1].kill()
        receivers[1].wait(timeout=60)
        taken_over, deadline = first.count() + 300, time.monotonic() + 120
        while first.count() < taken_over and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.count() >= taken_over, "the surviving receiver carries on alone"
        receivers[1] = second.start_receiver()
        thread.join(timeout=300)
        assert (outcome["tally"].sent, outcome["tally"].dead_letters) == (messages, 0)
        deadline = time.monotonic() + 180
        while set(first.empaids()) | set(second.empaids()) != set(names) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        sender.close()
        rabbitmq_cluster.start_node(1)
        for receiver in receivers:
            stop(receiver)
    received = [element["empaid"] for setup in (first, second) for element in setup.elements()]
    assert set(received) == set(names), first.log()[-2000:] + second.log()[-2000:]
    assert first.count() and second.count(), "both receivers took a share"
    assert QueueSimple(str(first.tmp / "outgoing")).count() == 0
    # One loader per incoming queue, each on a Galera node of its own, at the same time.
    loaders = [apel_load(node_url(galera_cluster, node, cluster_db), setup.incoming, setup.tmp / "load-reject")
               for node, setup in ((1, first), (2, second))]
    for process in loaders:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    assert first.count() == second.count() == 0
    repository = node_url(galera_cluster, 3, cluster_db)
    first.assert_loaded_once(db_url, repository, names, len(received) - len(set(received)))
    # The reference: the same jobs summarised in the site's own single (SQLite) database.
    for process in (summarise(node_url(galera_cluster, 2, cluster_db)), summarise(db_url)):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    assert super_summaries(repository) == super_summaries(db_url)
