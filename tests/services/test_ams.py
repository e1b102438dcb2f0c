"""The AMS stand-in held to the documented API (formats.md §10, the AMS docs), and driven by argo-ams-library."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest

PROJECT = "/v1/projects/accounting"


def call(ams, method, path, body=None, token="secret", header=True, timeout=30, cert=None):
    """One request to the server: (status, decoded JSON answer)."""
    url = f"{ams.url}{path}"
    headers = {"Content-Type": "application/json"}
    if token is not None and header:
        headers["x-api-key"] = token
    elif token is not None:
        url += f"?key={token}"
    data = json.dumps(body).encode() if body is not None else None
    context = ssl.create_default_context(capath=ams.tls[2])
    if cert:
        context.load_cert_chain(*cert)
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def topic_and_sub(ams, deadline=10):
    assert call(ams, "PUT", f"{PROJECT}/topics/t")[0] == 200
    status, sub = call(ams, "PUT", f"{PROJECT}/subscriptions/s",
                       {"topic": "projects/accounting/topics/t", "ackDeadlineSeconds": deadline})
    assert status == 200, sub
    return sub


def publish(ams, *texts, attributes=None):
    messages = [{"attributes": attributes or {}, "data": base64.b64encode(t.encode()).decode()} for t in texts]
    return call(ams, "POST", f"{PROJECT}/topics/t:publish", {"messages": messages})


def pull(ams, n=10, immediately=True):
    status, answer = call(ams, "POST", f"{PROJECT}/subscriptions/s:pull",
                          {"maxMessages": str(n), "returnImmediately": str(immediately).lower()})
    assert status == 200, answer
    return answer["receivedMessages"]


def data(received):
    return [base64.b64decode(r["message"]["data"]).decode() for r in received]


def test_topics_and_subscriptions(ams):
    assert call(ams, "PUT", f"{PROJECT}/topics/t") == (200, {"name": "/projects/accounting/topics/t"})
    status, answer = call(ams, "PUT", f"{PROJECT}/topics/t")
    assert status == 409 and answer["error"]["code"] == 409 and answer["error"]["status"] == "ALREADY_EXISTS"
    assert call(ams, "GET", f"{PROJECT}/topics/t")[1] == {"name": "/projects/accounting/topics/t"}
    assert call(ams, "GET", f"{PROJECT}/topics")[1] == {"topics": [{"name": "/projects/accounting/topics/t"}]}
    status, sub = call(ams, "PUT", f"{PROJECT}/subscriptions/s",
                       {"topic": "projects/accounting/topics/t", "ackDeadlineSeconds": 30})
    assert status == 200
    assert sub["name"] == "/projects/accounting/subscriptions/s"
    assert sub["topic"] == "/projects/accounting/topics/t" and sub["ackDeadlineSeconds"] == 30
    assert call(ams, "GET", f"{PROJECT}/subscriptions/s")[1] == sub
    assert call(ams, "PUT", f"{PROJECT}/subscriptions/s", {"topic": "projects/accounting/topics/t"})[0] == 409
    status, answer = call(ams, "PUT", f"{PROJECT}/subscriptions/x", {"topic": "projects/accounting/topics/none"})
    assert status == 404 and answer["error"]["message"] == "Topic doesn't exist"
    assert call(ams, "DELETE", f"{PROJECT}/subscriptions/s")[0] == 200
    status, answer = call(ams, "GET", f"{PROJECT}/subscriptions/s")
    assert status == 404 and answer["error"]["status"] == "NOT_FOUND"
    assert call(ams, "DELETE", f"{PROJECT}/topics/t")[0] == 200
    assert call(ams, "GET", f"{PROJECT}/topics/t")[0] == 404
    assert call(ams, "GET", "/v1/projects/other/topics/t")[0] == 404


def test_a_message_published_without_attributes_is_delivered_without_the_field(ams):
    """Real AMS leaves an empty attribute map out (omitempty); the deployed receiver relies on it."""
    call(ams, "PUT", f"{PROJECT}/topics/t")
    call(ams, "PUT", f"{PROJECT}/subscriptions/s", {"topic": "projects/accounting/topics/t"})
    publish(ams, "bare")
    (received,) = pull(ams, 1)
    assert "attributes" not in received["message"] and data([received]) == ["bare"]


def test_publish_returns_ids_and_pull_delivers_after_subscribing(ams):
    assert call(ams, "PUT", f"{PROJECT}/topics/t")[0] == 200
    publish(ams, "before the subscription")
    topic_and_sub_exists = call(ams, "PUT", f"{PROJECT}/subscriptions/s", {"topic": "projects/accounting/topics/t"})
    assert topic_and_sub_exists[0] == 200
    status, answer = publish(ams, "one", "two", "three", attributes={"empaid": "x"})
    assert status == 200 and len(answer["messageIds"]) == 3 and len(set(answer["messageIds"])) == 3
    received = pull(ams, 2)
    assert data(received) == ["one", "two"]
    message = received[0]["message"]
    assert message["attributes"] == {"empaid": "x"} and message["messageId"] == answer["messageIds"][0]
    assert message["publishTime"].endswith("Z")
    assert received[0]["ackId"].startswith("projects/accounting/subscriptions/s:")
    # While those await acknowledgement the next pull goes on after them.
    assert data(pull(ams, 5)) == ["three"]
    assert pull(ams, 5) == []


def test_acknowledging_one_acknowledges_the_earlier_ones(ams):
    topic_and_sub(ams)
    publish(ams, "a", "b", "c", "d")
    received = pull(ams, 3)
    status, answer = call(ams, "POST", f"{PROJECT}/subscriptions/s:acknowledge", {"ackIds": [received[1]["ackId"]]})
    assert (status, answer) == (200, {})
    assert ams.state()["projects"]["accounting"]["subscriptions"]["s"]["offset"] == 2
    assert call(ams, "POST", f"{PROJECT}/subscriptions/s:acknowledge", {"ackIds": ["nonsense"]})[0] == 400
    assert call(ams, "POST", f"{PROJECT}/subscriptions/s:acknowledge",
                {"ackIds": ["projects/accounting/subscriptions/s:99"]})[0] == 400


def test_unacknowledged_messages_come_again_after_the_deadline_and_a_late_ack_is_408(ams):
    topic_and_sub(ams, deadline=1)
    publish(ams, "a", "b")
    first = pull(ams, 1)
    time.sleep(1.3)
    status, answer = call(ams, "POST", f"{PROJECT}/subscriptions/s:acknowledge", {"ackIds": [first[0]["ackId"]]})
    assert status == 408 and answer["error"]["status"] == "TIMEOUT"
    again = pull(ams, 5)
    assert data(again) == ["a", "b"]
    assert call(ams, "POST", f"{PROJECT}/subscriptions/s:acknowledge", {"ackIds": [again[-1]["ackId"]]})[0] == 200
    assert pull(ams, 5) == []


def test_pull_waits_for_a_message_unless_told_to_return_immediately(ams):
    topic_and_sub(ams)
    started = time.monotonic()
    assert pull(ams, 1, immediately=True) == []
    assert time.monotonic() - started < 1
    threading.Timer(0.5, publish, (ams, "late")).start()
    started = time.monotonic()
    assert data(pull(ams, 1, immediately=False)) == ["late"]
    assert 0.4 < time.monotonic() - started < 4


def test_tokens_in_header_or_query_and_401_403(ams):
    ams.reset(projects=["accounting", "other"], tokens={"secret": ["accounting"]})
    assert call(ams, "PUT", f"{PROJECT}/topics/t", header=False)[0] == 200  # ?key=
    status, answer = call(ams, "GET", f"{PROJECT}/topics/t", token="wrong")
    assert status == 401 and answer["error"]["status"] == "UNAUTHORIZED"
    assert call(ams, "GET", f"{PROJECT}/topics/t", token=None)[0] == 401
    assert call(ams, "GET", "/v1/projects/other/topics", token="secret")[0] == 403


def test_x509_certificate_exchanged_for_a_token(ams, tmp_path):
    from apeltools.demo.pki import make_host

    client = make_host(ams.ca, "client.example.org", dn="/C=XX/O=apeltools/CN=client.example.org")
    cert = client.write(tmp_path, "client")
    ams.set_tokens({"secret": ["accounting"]}, x509={"/C=XX/O=apeltools/CN=client.example.org": "secret"})
    path = "/v1/service-types/ams/hosts/localhost:authx509"
    assert call(ams, "GET", path, token=None, cert=tuple(map(str, cert))) == (200, {"token": "secret"})
    assert call(ams, "GET", path, token=None)[0] == 401
    other = make_host(ams.ca, "other.example.org").write(tmp_path, "other")
    assert call(ams, "GET", path, token=None, cert=tuple(map(str, other)))[0] == 401


def test_faults_status_slow_drop_and_their_end(ams):
    topic_and_sub(ams)
    ams.faults({"kind": "status", "code": 503, "routes": ["publish"], "count": 2})
    assert publish(ams, "x")[0] == 503
    assert publish(ams, "x")[0] == 503
    assert publish(ams, "x")[0] == 200
    ams.faults({"kind": "status", "code": 429, "retry_after": 1, "routes": ["pull"], "count": 1})
    status, answer = call(ams, "POST", f"{PROJECT}/subscriptions/s:pull", {"maxMessages": "1"})
    assert status == 429 and answer["error"]["status"] == "RESOURCE_EXHAUSTED"
    ams.faults({"kind": "slow", "delay": 0.6, "count": 1})
    started = time.monotonic()
    assert call(ams, "GET", f"{PROJECT}/topics/t")[0] == 200
    assert time.monotonic() - started >= 0.6
    ams.faults({"kind": "drop-after", "routes": ["publish"], "count": 1})
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        publish(ams, "served, answer lost")
    ams.faults({"kind": "drop", "routes": ["publish"], "seconds": 30})
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        publish(ams, "never served")
    ams.faults()
    assert ams.state()["projects"]["accounting"]["topics"]["t"] == 2
    assert ams.state()["faults_served"] >= 1


def test_driven_by_argo_ams_library(ams, tmp_path, monkeypatch):
    """The real client, as the existing messenger uses it: create, publish, pull, ack, errors."""
    ams_library = pytest.importorskip("argo_ams_library")
    from apeltools.demo.pki import make_host

    ams.set_tokens({"secret": ["accounting"]}, x509={"/C=XX/O=apeltools/CN=client.example.org": "secret"})
    # The library always speaks HTTPS; requests verifies with this bundle.
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ams.ca.cert_pem)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client_cert = make_host(ams.ca, "client.example.org", dn="/C=XX/O=apeltools/CN=client.example.org")
    cert, key = client_cert.write(tmp_path, "client")
    # The library asks the authentication service at the AMS host name on authn_port (AMS itself
    # being on 443): given the bare host, it finds our server there.
    authenticated = ams_library.ArgoMessagingService(endpoint=ams.host, project="accounting", cert=str(cert),
                                                     key=str(key), authn_port=ams.port)
    assert authenticated.token == "secret"
    service = ams_library.ArgoMessagingService(endpoint=ams.endpoint, project="accounting",
                                               token=authenticated.token)
    service.create_topic("t")
    assert service.has_topic("t") and not service.has_topic("none")
    service.create_sub("s", "t", ackdeadline=5)
    assert service.has_sub("s")
    messages = [ams_library.AmsMessage(data=f"body {n}", attributes={"empaid": f"id{n}"}) for n in range(3)]
    ids = service.publish("t", messages)["messageIds"]
    assert len(ids) == 3
    pulled = service.pull_sub("s", num=2, return_immediately=True)
    assert [m.get_data().decode() for _, m in pulled] == ["body 0", "body 1"]
    assert pulled[0][1].get_attr() == {"empaid": "id0"} and pulled[0][1].get_msgid() == ids[0]
    assert service.ack_sub("s", [pulled[-1][0]])
    rest = service.pullack_sub("s", num=5, return_immediately=True)
    assert [m.get_data().decode() for m in rest] == ["body 2"]
    with pytest.raises(ams_library.AmsServiceException) as error:
        service.get_sub("none")
    assert error.value.code == 404
    ams.faults({"kind": "status", "code": 503, "routes": ["publish"], "count": 1})
    with pytest.raises(ams_library.AmsBalancerException):
        service.publish("t", messages[:1])
    assert service.publish("t", messages[:1], retry=1, retrysleep=0)["messageIds"]
    bad = ams_library.ArgoMessagingService(endpoint=ams.endpoint, project="accounting", token="wrong")
    with pytest.raises(ams_library.AmsServiceException) as error:
        bad.publish("t", messages[:1])
    assert error.value.code == 401
    service.delete_sub("s")
    service.delete_topic("t")
    assert not service.has_topic("t")
