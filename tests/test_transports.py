"""One messaging logic over three transports: the same message lands as the same incoming element over each."""

from click.testing import CliRunner

from apeltools.cli.receive import main as receive_main
from apeltools.cli.send import main as send_main
from tests import pki as testpki
from tests.test_ams import AmsSetup
from tests.test_messaging_e2e import BODY, Setup, stop
from tests.test_receive import local_config

ELEMENT = {"body": BODY.format(i=0), "signer": testpki.SITE_DN}


def test_the_same_message_over_local_stomp_and_ams_lands_as_the_same_element(tmp_path, pki, rabbitmq_service, ams):
    landed = {}

    for transport in ("stomp", "ams", "local"):
        (tmp_path / transport).mkdir()
    stomp = Setup(tmp_path / "stomp", pki, rabbitmq_service)
    [name] = stomp.queue(1)
    stomp.send()
    receiver = stomp.start_receiver()
    try:
        stomp.wait_for(1, receiver=receiver)
    finally:
        assert stop(receiver) == 0
    landed["stomp"] = (name, stomp.elements())

    over_ams = AmsSetup(tmp_path / "ams", pki, ams)
    [name] = over_ams.queue(1)
    over_ams.send()
    over_ams.receive()
    landed["ams"] = (name, over_ams.elements())

    over_local = Setup(tmp_path / "local", pki, rabbitmq_service)  # for its queue and element helpers
    config = str(local_config(tmp_path / "local", pki, tmp_path / "local" / "dns"))
    [name] = over_local.queue(1)
    for main, args in ((send_main, ["--queue", str(tmp_path / "local" / "outgoing")]), (receive_main, ["--once"])):
        result = CliRunner().invoke(main, ["--config", config, *args])
        assert result.exit_code == 0, result.output
    landed["local"] = (name, over_local.elements())

    for transport, (name, elements) in landed.items():
        assert elements == [dict(ELEMENT, empaid=name)], transport
