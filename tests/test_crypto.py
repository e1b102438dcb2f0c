"""Signing, verification, encryption and decryption of S/MIME messages (formats.md §8).

Each test builds its messages with our functions or with the ``openssl`` command
line, so that both directions of interoperability are shown.  The PKI is a fresh
throw-away one per test session (tests/pki.py).
"""

import base64
import datetime as dt
import os
import random
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

import pki
from apeltools.errors import CryptoError
from apeltools.messaging.crypto.ber import to_der as ber_to_der
from apeltools.messaging.crypto import (
    check_cert_and_key,
    decrypt,
    encrypt,
    is_enveloped,
    sign,
    signer_dn,
    verify,
)
from apeltools.messaging.crypto.mime import base64_lines, content_type, split_headers, split_signed
from apeltools.messaging.crypto.signeddata import parse_signed_data, read_signed_data, templates
from apeltools.messaging.crypto.signer import signer_for

RECORDS = b"APEL-summary-job-message: v0.3\nSite: RAL-LCG2\nMonth: 3\n%%\n"


@pytest.fixture(scope="session")
def ca(tmp_path_factory):
    return pki.build(tmp_path_factory.mktemp("pki"))


def openssl(*args, input=None):
    """Run the openssl command line; return stdout (fails the test on error)."""
    done = subprocess.run(["openssl", *map(str, args)], input=input, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def openssl_sign(ca, identity, data, *extra):
    cert, key = ca.files(identity)
    return openssl("smime", "-sign", "-text", "-signer", cert, "-inkey", key, *extra, input=data)


# OpenSSL's default S/MIME purpose wants the emailProtection extended key usage; grid
# host certificates carry serverAuth/clientAuth instead, so receivers verify with any purpose.
def openssl_verify(ca, message, *extra):
    return openssl("smime", "-verify", "-text", "-purpose", "any", "-CApath", ca.capath, *extra,
                   input=message)


# -- the normal case -----------------------------------------------------------


def test_round_trip_gives_back_the_data_and_the_signer_dn(ca):
    message = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)

    payload, dn = verify(message, str(ca.capath))

    assert payload == RECORDS
    assert dn == "/C=UK/O=eScience/OU=CLRC/L=RAL/CN=host.example.org"


def test_signed_message_has_the_structure_openssl_smime_sign_text_makes(ca):
    ours = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)
    theirs = openssl_sign(ca, ca.site, RECORDS)

    def skeleton(message):
        """Every line but the base64 of the signature, with the random boundary named."""
        boundary = message.split(b'boundary="')[1].split(b'"')[0]
        lines = message.replace(boundary, b"BOUNDARY").split(b"\n")
        return [line for line in lines if not re.fullmatch(rb"[A-Za-z0-9+/=]+", line)]

    assert skeleton(ours) == skeleton(theirs)
    assert b"\nContent-Type: text/plain\r\n\r\nAPEL-summary-job-message: v0.3\r\nSite: RAL-LCG2\r\n" in ours
    assert b'micalg="sha-256"' in ours and b'protocol="application/x-pkcs7-signature"' in ours


def test_message_signed_by_openssl_is_accepted(ca):
    message = openssl_sign(ca, ca.site, RECORDS)

    assert verify(message, str(ca.capath)) == (RECORDS, signer_dn(ca.site.cert))


@pytest.mark.parametrize("kind", ["site", "ec_site"])
def test_message_signed_by_us_verifies_with_openssl(ca, kind):
    identity = getattr(ca, kind)
    for _ in range(2):  # the second signature comes from the cached structure
        message = sign(RECORDS, identity.cert_pem, identity.key_pem)
        # openssl prints the canonical CRLF form; we give back the LF text that was signed
        assert openssl_verify(ca, message, "-crl_check") == RECORDS.replace(b"\n", b"\r\n")


def test_opaque_signed_message_is_accepted(ca):
    message = openssl_sign(ca, ca.site, RECORDS, "-nodetach")
    assert b"smime-type=signed-data" in message

    assert verify(message, str(ca.capath)) == (RECORDS, signer_dn(ca.site.cert))


def test_payload_line_ends_come_back_as_lf(ca):
    """-text signing turns LF into CRLF; verify turns them back, as senders send LF text."""
    message = sign(b"a\r\nb\nc", ca.site.cert_pem, ca.site.key_pem)

    assert verify(message, str(ca.capath))[0] == b"a\nb\nc"


def test_message_whose_line_ends_were_changed_in_transit_still_verifies(ca):
    """The signed part is canonical CRLF; a transport may have made it LF or CRLF throughout."""
    message = openssl_sign(ca, ca.site, RECORDS)

    assert verify(message.replace(b"\r\n", b"\n"), str(ca.capath))[0] == RECORDS
    assert verify(message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), str(ca.capath))[0] == RECORDS


def test_non_ascii_payload_round_trips(ca):
    data = "Site: Universität Zürich – ĈĔŖŃ\nUser: /CN=Jürgen Ωmega\n".encode()

    ours = sign(data, ca.site.cert_pem, ca.site.key_pem)
    theirs = openssl_sign(ca, ca.site, data)

    assert verify(ours, str(ca.capath))[0] == data
    assert verify(theirs, str(ca.capath))[0] == data


def test_large_payload_round_trips(ca):
    data = b"".join(b"JobName: %08d\nWallDuration: 3600\n%%%%\n" % i for i in range(25_000))
    assert len(data) >= 1_000_000

    message = sign(data, ca.site.cert_pem, ca.site.key_pem)

    assert verify(message, str(ca.capath))[0] == data
    assert openssl_verify(ca, message) == data.replace(b"\n", b"\r\n")


def test_ec_keys_sign_and_verify_both_ways(ca):
    ours = sign(RECORDS, ca.ec_site.cert_pem, ca.ec_site.key_pem)
    theirs = openssl_sign(ca, ca.ec_site, RECORDS)

    assert verify(ours, str(ca.capath)) == (RECORDS, "/C=XX/O=apeltools/CN=ec.example.org")
    assert verify(theirs, str(ca.capath))[0] == RECORDS
    assert openssl_verify(ca, ours) == RECORDS.replace(b"\n", b"\r\n")


def test_chain_through_an_intermediate_ca_carried_in_the_message(ca):
    intermediate_pem = ca.root / "intermediate.pem"
    intermediate_pem.write_bytes(ca.intermediate.cert_pem)
    message = openssl_sign(ca, ca.sub_site, RECORDS, "-certfile", intermediate_pem)

    assert verify(message, str(ca.capath))[1] == "/C=XX/O=apeltools/CN=sub.example.org"


def test_signer_named_by_subject_key_identifier_is_accepted(ca):
    cert, key = ca.files(ca.site)
    message = openssl("cms", "-sign", "-text", "-keyid", "-signer", cert, "-inkey", key, input=RECORDS)

    assert verify(message, str(ca.capath))[1] == signer_dn(ca.site.cert)


def test_message_carrying_the_ca_certificate_too_is_accepted(ca):
    ca_cert = ca.root / "ca.pem"
    ca_cert.write_bytes(ca.ca.cert_pem)
    message = openssl_sign(ca, ca.site, RECORDS, "-certfile", ca_cert)

    assert verify(message, str(ca.capath))[1] == signer_dn(ca.site.cert)


def test_ca_path_may_be_a_single_pem_file(ca):
    bundle = ca.root / "bundle.pem"
    bundle.write_bytes(ca.rogue_ca.cert_pem + ca.ca.cert_pem)
    message = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)

    assert verify(message, str(bundle))[0] == RECORDS


# -- what must be rejected -----------------------------------------------------


def test_tampered_body_is_rejected(ca):
    message = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)
    tampered = message.replace(b"Month: 3", b"Month: 4")

    with pytest.raises(CryptoError, match="altered"):
        verify(tampered, str(ca.capath))


def test_tampered_signature_is_rejected(ca):
    message = openssl_sign(ca, ca.site, RECORDS)
    lines = message.split(b"\n")
    lines[-6] = lines[-6][:10] + (b"A" if lines[-6][10:11] != b"A" else b"B") + lines[-6][11:]

    with pytest.raises(CryptoError):
        verify(b"\n".join(lines), str(ca.capath))


def test_certificate_from_an_untrusted_ca_is_rejected(ca):
    message = sign(RECORDS, ca.rogue.cert_pem, ca.rogue.key_pem)

    with pytest.raises(CryptoError, match="not issued by a trusted CA"):
        verify(message, str(ca.capath))
    assert verify(message, str(ca.rogue_capath))[0] == RECORDS  # but its own CA accepts it


def test_expired_certificate_is_rejected(ca):
    message = sign(RECORDS, ca.expired.cert_pem, ca.expired.key_pem)

    with pytest.raises(CryptoError, match="expired"):
        verify(message, str(ca.capath))


def test_revoked_certificate_is_rejected_when_crls_are_given(ca):
    message = sign(RECORDS, ca.revoked.cert_pem, ca.revoked.key_pem)

    assert verify(message, str(ca.capath))[0] == RECORDS  # without CRLs nothing is known
    with pytest.raises(CryptoError, match="revoked"):
        verify(message, str(ca.capath), str(ca.crl_dir))
    crl_file = next(ca.capath.glob("*.r0"))
    with pytest.raises(CryptoError, match="revoked"):
        verify(message, str(ca.capath), str(crl_file))


def test_good_certificate_passes_the_crl_check(ca):
    message = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)

    assert verify(message, str(ca.capath), str(ca.crl_dir))[0] == RECORDS


def test_missing_or_expired_crl_is_an_error_when_crls_are_required(ca, tmp_path):
    message = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)
    with pytest.raises(CryptoError, match="no CRL"):
        verify(message, str(ca.capath), str(pki.write_ca_dir(tmp_path / "none", [], [])))

    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    stale = pki.make_crl(ca.ca, last_update=old, next_update=old + dt.timedelta(days=1))
    with pytest.raises(CryptoError, match="CRL .* expired"):
        verify(message, str(ca.capath), str(pki.write_ca_dir(tmp_path / "stale", [], [stale])))


def test_self_signed_key_carrying_a_site_certificate_is_not_attributed_to_the_site(ca):
    """The attack formats.md §8 warns of: the bag holds the site's real certificate,
    but the signature is made by a self-signed key with the same DN."""
    impostor = pki.make_host(None, "host.example.org", dn=pki.SITE_DN)
    cert, key = ca.files(impostor)
    site_cert = ca.root / "site.pem"
    site_cert.write_bytes(ca.site.cert_pem)
    message = openssl("smime", "-sign", "-text", "-signer", cert, "-inkey", key,
                      "-certfile", site_cert, input=RECORDS)

    with pytest.raises(CryptoError, match="not issued by a trusted CA"):
        verify(message, str(ca.capath))


def test_signer_info_naming_the_site_certificate_does_not_help_an_impostor(ca):
    """Sign with an impostor key but label the SignerInfo with the site's issuer and serial."""
    impostor = pki.make_host(None, "host.example.org", dn=pki.SITE_DN)
    content = b"Content-Type: text/plain\r\n\r\n" + RECORDS.replace(b"\n", b"\r\n")
    genuine = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)
    forged = (
        pkcs7.PKCS7SignatureBuilder().set_data(content)
        .add_signer(impostor.cert, impostor.key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature,
                                           pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCerts])
    )
    # graft the forged signature value into the genuine structure (same length for RSA-2048)
    head, sig_b64, tail = _split_signature(genuine)
    der = base64.b64decode(sig_b64)
    forged_value, genuine_value = forged[-256:], der[-256:]
    assert der.count(genuine_value) == 1
    grafted = der.replace(genuine_value, forged_value)
    message = head + base64.encodebytes(grafted) + tail

    with pytest.raises(CryptoError, match="signature does not verify"):
        verify(message, str(ca.capath))


def _split_signature(message):
    start = message.index(b"\n\n", message.index(b"application/x-pkcs7-signature;")) + 2
    end = message.index(b"\n--", start)
    return message[:start], message[start:end], message[end:]


def test_certificate_outside_the_signer_chain_is_rejected(ca):
    other_cert = ca.root / "other.pem"
    other_cert.write_bytes(ca.other_site.cert_pem)
    message = openssl_sign(ca, ca.site, RECORDS, "-certfile", other_cert)

    with pytest.raises(CryptoError, match="outside the signer's chain: /C=XX/O=apeltools/CN=other"):
        verify(message, str(ca.capath))


def test_several_signers_are_rejected(ca):
    content = b"Content-Type: text/plain\r\n\r\n" + RECORDS
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content)
    for identity in (ca.site, ca.other_site):
        builder = builder.add_signer(identity.cert, identity.key, hashes.SHA256())
    message = builder.sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature,
                                                          pkcs7.PKCS7Options.Binary])

    with pytest.raises(CryptoError, match="2 signers"):
        verify(message, str(ca.capath))


def test_content_signed_without_text_header_is_rejected(ca):
    cert, key = ca.files(ca.site)
    message = openssl("smime", "-sign", "-signer", cert, "-inkey", key, input=RECORDS)

    with pytest.raises(CryptoError, match="not a text/plain MIME entity"):
        verify(message, str(ca.capath))


@pytest.mark.parametrize("garbage", [
    b"",
    b"just some text\n",
    b"Content-Type: text/plain\n\nhello\n",
    b'Content-Type: multipart/signed; boundary="x"\n\n--x\nhello\n',
    b"Content-Type: application/x-pkcs7-mime; smime-type=signed-data\n\n!!!not base64!!!\n",
    b"Content-Type: application/x-pkcs7-mime; smime-type=signed-data\n\nMIIBAAAA\n",
    "Content-Type: text/plain\n\nnon-ASCII ünïcode\n".encode(),
])
def test_malformed_messages_raise_crypto_error(ca, garbage):
    with pytest.raises(CryptoError):
        verify(garbage, str(ca.capath))


def test_damaged_messages_raise_crypto_error_and_nothing_else(ca):
    """A receiver must reject garbage with a reason, never crash on it."""
    message = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)
    head, sig_b64, tail = _split_signature(message)
    der = base64.b64decode(sig_b64)
    rng = random.Random(8)
    for _ in range(400):
        damaged = bytearray(der)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            payload, dn = verify(head + base64.encodebytes(bytes(damaged)) + tail, str(ca.capath))
        except CryptoError:
            continue
        # some bytes are outside what is signed (e.g. the digestAlgorithms list) and harmless
        assert (payload, dn) == (RECORDS, signer_dn(ca.site.cert))


def test_ca_directory_changes_are_picked_up(ca, tmp_path):
    capath = tmp_path / "capath"
    pki.write_ca_dir(capath, [ca.rogue_ca])
    message = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)
    with pytest.raises(CryptoError, match="not issued by a trusted CA"):
        verify(message, str(capath))

    pki.write_ca_dir(capath, [ca.ca])

    assert verify(message, str(capath))[0] == RECORDS


# -- encryption ----------------------------------------------------------------


@pytest.mark.parametrize("cipher", ["aes128", "aes256"])
def test_our_encryption_decrypts_with_openssl(ca, cipher):
    cert, key = ca.files(ca.site)
    message = encrypt(RECORDS, ca.site.cert_pem, cipher)

    assert is_enveloped(message)
    assert b"Content-Type: application/x-pkcs7-mime; smime-type=enveloped-data" in message
    assert openssl("smime", "-decrypt", "-recip", cert, "-inkey", key, input=message) == RECORDS


@pytest.mark.parametrize("cipher", ["-aes128", "-aes256"])
def test_openssl_encryption_decrypts_with_ours(ca, cipher):
    cert, _ = ca.files(ca.site)
    message = openssl("smime", "-encrypt", cipher, cert, input=RECORDS)

    # openssl canonicalises to CRLF before encrypting
    assert decrypt(message, ca.site.cert_pem, ca.site.key_pem) == RECORDS.replace(b"\n", b"\r\n")


def test_sign_then_encrypt_then_decrypt_then_verify(ca):
    sent = encrypt(sign(RECORDS, ca.site.cert_pem, ca.site.key_pem), ca.other_site.cert_pem)

    received = decrypt(sent, ca.other_site.cert_pem, ca.other_site.key_pem)

    assert not is_enveloped(received)
    assert verify(received, str(ca.capath)) == (RECORDS, signer_dn(ca.site.cert))


def test_openssl_sign_then_encrypt_is_read_by_ours(ca):
    cert, _ = ca.files(ca.other_site)
    sent = openssl("smime", "-encrypt", "-aes128", cert, input=openssl_sign(ca, ca.site, RECORDS))

    received = decrypt(sent, ca.other_site.cert_pem, ca.other_site.key_pem)

    assert verify(received, str(ca.capath))[0] == RECORDS


def test_decrypting_with_the_wrong_key_fails_cleanly(ca):
    message = encrypt(RECORDS, ca.site.cert_pem)

    with pytest.raises(CryptoError, match="cannot decrypt"):
        decrypt(message, ca.other_site.cert_pem, ca.other_site.key_pem)


def test_encrypting_to_an_ec_certificate_is_refused_with_a_reason(ca):
    with pytest.raises(CryptoError, match="only RSA"):
        encrypt(RECORDS, ca.ec_site.cert_pem)


# -- certificates, keys and names ----------------------------------------------


@pytest.mark.parametrize("kind", ["site", "ec_site"])
def test_matching_certificate_and_key_pass_the_startup_check(ca, kind):
    identity = getattr(ca, kind)

    assert check_cert_and_key(identity.cert_pem, identity.key_pem) == identity.cert.not_valid_after_utc


@pytest.mark.parametrize("cert_of, key_of", [("site", "other_site"), ("ec_site", "site"),
                                             ("site", "ec_site")])
def test_key_not_matching_the_certificate_is_refused(ca, cert_of, key_of):
    cert, key = getattr(ca, cert_of).cert_pem, getattr(ca, key_of).key_pem

    with pytest.raises(CryptoError, match="does not match"):
        check_cert_and_key(cert, key)
    with pytest.raises(CryptoError, match="does not match"):
        sign(RECORDS, cert, key)


def test_certificate_expiring_within_a_day_or_not_yet_valid_is_refused(ca):
    now = dt.datetime.now(dt.timezone.utc)
    soon = pki.make_host(ca.ca, "soon.example.org", not_after=now + dt.timedelta(hours=3))
    later = pki.make_host(ca.ca, "later.example.org", not_before=now + dt.timedelta(hours=3))

    with pytest.raises(CryptoError, match="expires on"):
        check_cert_and_key(soon.cert_pem, soon.key_pem)
    check_cert_and_key(soon.cert_pem, soon.key_pem, min_valid_seconds=3600)
    with pytest.raises(CryptoError, match="expired on"):
        check_cert_and_key(ca.expired.cert_pem, ca.expired.key_pem)
    with pytest.raises(CryptoError, match="not valid before"):
        check_cert_and_key(later.cert_pem, later.key_pem)


def test_unreadable_certificate_or_key_is_a_crypto_error(ca):
    with pytest.raises(CryptoError, match="cannot read certificate"):
        check_cert_and_key(b"not a certificate", ca.site.key_pem)
    with pytest.raises(CryptoError, match="cannot read private key"):
        sign(RECORDS, ca.site.cert_pem, b"not a key")


def test_signer_dn_matches_openssl_slash_form_and_rfc4514(ca):
    cert, _ = ca.files(ca.site)
    printed = openssl("x509", "-noout", "-subject", "-nameopt", "compat", "-in", cert)

    assert printed.decode().strip() == "subject=" + signer_dn(ca.site.cert)
    assert signer_dn(ca.site.cert_pem) == "/C=UK/O=eScience/OU=CLRC/L=RAL/CN=host.example.org"
    assert signer_dn(ca.site.cert, rfc4514=True) == "CN=host.example.org,L=RAL,OU=CLRC,O=eScience,C=UK"


def test_grid_style_dn_attributes_use_openssl_short_names(ca):
    dn = "/DC=org/DC=example/O=Grid/emailAddress=ops@example.org/serialNumber=42/UID=ops/CN=x"
    identity = pki.make_host(ca.ca, "x", dn=dn)
    cert, _ = pki.Identity.write(identity, ca.root, "grid-style")

    assert signer_dn(identity.cert) == dn
    assert openssl("x509", "-noout", "-subject", "-nameopt", "compat", "-in", cert).decode().strip() \
        == "subject=" + dn


def test_our_subject_hash_is_the_one_openssl_computes(ca):
    for identity in (ca.ca, ca.site, ca.intermediate):
        cert, _ = ca.files(identity)
        assert openssl("x509", "-noout", "-hash", "-in", cert).decode().strip() \
            == pki.subject_hash(identity.cert.subject)
    spaced = pki.make_ca("/C=uk/O=  Mixed   CASE  Org /CN=Ünïcode CA")
    cert, _ = ca.files(spaced)
    assert openssl("x509", "-noout", "-hash", "-in", cert).decode().strip() == pki.subject_hash(spaced.cert.subject)


def test_is_enveloped_tells_encrypted_from_signed(ca):
    assert not is_enveloped(sign(RECORDS, ca.site.cert_pem, ca.site.key_pem))
    assert is_enveloped(encrypt(RECORDS, ca.site.cert_pem))
    assert not is_enveloped(b"garbage")
    assert not is_enveloped(os.urandom(100))


# -- SignedData read from a template of the same signer's earlier message -----------------------


def _signature_der(message):
    headers, body = split_headers(message)
    _, params = content_type(headers)
    return split_signed(message, body, params["boundary"])[1]


def test_signed_data_read_from_a_template_equals_a_full_parse(ca):
    templates.clear()
    ders = [_signature_der(sign(RECORDS + b"%d" % n, host.cert_pem, host.key_pem))
            for n in range(6) for host in (ca.site, ca.other_site, ca.ec_site)]
    for der in ders:
        assert read_signed_data(der) == parse_signed_data(der)
    assert len(templates) >= 2  # the RSA signers at least
    for der in ders:  # now from the templates
        assert read_signed_data(der) == parse_signed_data(der)


def test_a_byte_changed_outside_the_varying_fields_means_a_full_parse(ca):
    der = _signature_der(sign(RECORDS, ca.site.cert_pem, ca.site.key_pem))
    read_signed_data(der)  # the template
    rng = random.Random(3)
    for position in rng.sample(range(len(der)), 200):
        changed = bytearray(der)
        changed[position] ^= 0x01
        changed = bytes(changed)
        try:
            expected = parse_signed_data(changed)
        except (CryptoError, IndexError, ValueError):
            expected = CryptoError
        try:
            got = read_signed_data(changed)
        except CryptoError:
            got = CryptoError
        assert got == expected, position


def test_templates_do_not_let_a_rogue_or_a_tampered_message_through(ca):
    good = sign(RECORDS, ca.site.cert_pem, ca.site.key_pem)
    assert verify(good, str(ca.capath))[0] == RECORDS  # leaves a template behind
    with pytest.raises(CryptoError, match="trust|chain|issuer|CA"):
        verify(sign(RECORDS, ca.rogue.cert_pem, ca.rogue.key_pem), str(ca.capath))
    with pytest.raises(CryptoError, match="digest"):
        verify(sign(RECORDS, ca.site.cert_pem, ca.site.key_pem).replace(b"RAL-LCG2", b"RAL-LCG3"),
               str(ca.capath))


@pytest.mark.parametrize("host", ["site", "ec_site"])
def test_signature_lines_from_the_fixed_layout_equal_the_assembled_structure(ca, host, monkeypatch):
    """RSA signatures reuse the constant pieces and base64 lines of the first message's DER."""
    import hashlib
    import time

    monkeypatch.setattr(time, "time", lambda: 1_790_000_000.5)
    identity = getattr(ca, host)
    signer = signer_for(identity.cert_pem, identity.key_pem)
    assert signer.fixed_layout == (host == "site")  # EC signatures vary in length
    for n in range(3):
        digest = hashlib.sha256(b"%d" % n).digest()
        lines = signer.sign_base64(digest)
        if host == "site":  # PKCS#1 v1.5 is deterministic: the whole text must be equal
            assert lines == base64_lines(signer.sign(digest))
        der = base64.b64decode(lines)
        assert parse_signed_data(der).message_digest == digest
        assert all(len(line) == 64 for line in lines.split(b"\n")[:-2])


# -- what the existing receiver (openssl smime) also opens: other ciphers, streamed BER ----


@pytest.mark.parametrize("cipher", ["-aes128", "-aes192", "-aes256", "-des3"])
@pytest.mark.parametrize("stream", [(), ("-stream",)], ids=["der", "ber"])
def test_envelopes_openssl_makes_and_opens_are_decrypted(ca, cipher, stream):
    """Whatever ``openssl smime -decrypt`` (the existing receiver) opens: AES of any key
    size and triple DES, DER or streamed with indefinite lengths."""
    cert, key = ca.files(ca.other_site)
    sent = openssl("smime", "-encrypt", cipher, *stream, cert, input=openssl_sign(ca, ca.site, RECORDS))
    assert openssl("smime", "-decrypt", "-recip", cert, "-inkey", key, input=sent)  # the reference opens it

    received = decrypt(sent, ca.other_site.cert_pem, ca.other_site.key_pem)

    assert received == openssl("smime", "-decrypt", "-recip", cert, "-inkey", key, input=sent)
    assert verify(received, str(ca.capath)) == (RECORDS, signer_dn(ca.site.cert))


def test_we_still_encrypt_only_with_aes(ca):
    with pytest.raises(CryptoError, match="unsupported cipher"):
        encrypt(RECORDS, ca.site.cert_pem, "des3")


def test_an_envelope_for_another_host_or_with_an_unknown_cipher_is_refused_with_the_reason(ca):
    cert, _ = ca.files(ca.site)
    for_site = openssl("smime", "-encrypt", "-des3", cert, input=RECORDS)
    with pytest.raises(CryptoError, match="cannot decrypt: the message is not encrypted to /C=XX/O=apeltools/CN=other"):
        decrypt(for_site, ca.other_site.cert_pem, ca.other_site.key_pem)

    camellia = openssl("smime", "-encrypt", "-camellia128", cert, input=RECORDS)
    with pytest.raises(CryptoError, match="unsupported content encryption algorithm 1.2.392.200011.61.1.1.1.2"):
        decrypt(camellia, ca.site.cert_pem, ca.site.key_pem)


@pytest.mark.parametrize("cipher", ["-aes192", "-des3"])
def test_damaged_envelopes_raise_crypto_error_and_nothing_else(ca, cipher):
    cert, _ = ca.files(ca.site)
    message = openssl("smime", "-encrypt", "-stream", cipher, cert, input=RECORDS)
    head, body = message.split(b"\n\n", 1)
    ber = base64.b64decode(body)
    rng = random.Random(9)
    for n in range(300):
        damaged = bytearray(ber[:rng.randrange(len(ber))] if n % 3 == 0 else ber)
        for _ in range(rng.randint(0, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:  # enveloped data has no integrity check: a damaged ciphertext may decrypt to garbage
            assert isinstance(decrypt(head + b"\n\n" + base64.encodebytes(bytes(damaged)), ca.site.cert_pem,
                                      ca.site.key_pem), bytes)
        except CryptoError:
            pass


def test_opaque_message_streamed_by_openssl_is_accepted(ca):
    """``openssl smime -sign -stream -nodetach`` writes BER: indefinite lengths, content in chunks."""
    records = b"".join(RECORDS for _ in range(300))  # several 4 KB chunks
    message = openssl_sign(ca, ca.site, records, "-nodetach", "-stream")
    assert base64.b64decode(message.split(b"\n\n", 1)[1])[:2] == b"\x30\x80"  # indefinite length
    assert openssl_verify(ca, message) == records.replace(b"\n", b"\r\n")

    assert verify(message, str(ca.capath)) == (records, signer_dn(ca.site.cert))


def test_clear_signed_message_with_a_ber_signature_is_accepted(ca):
    """A detached signature streamed as BER (OpenSSL 3 streams only opaque signatures, so it is
    made from one by dropping the embedded content): ``openssl smime -verify`` accepts it in a
    clear-signed message, and so do we."""
    cert, key = ca.files(ca.site)
    opaque = openssl("cms", "-sign", "-stream", "-nodetach", "-text", "-outform", "DER", "-signer", cert,
                     "-inkey", key, input=RECORDS)
    start = opaque.index(b"\xa0\x80\x24\x80\x04")  # [0] { OCTET STRING { one chunk } }
    chunk_length = opaque[start + 5]
    assert chunk_length < 0x80
    end = start + 6 + chunk_length + 4  # the chunk, then two end-of-contents
    assert opaque[end - 4:end] == bytes(4)
    signature = opaque[:start] + opaque[end:]
    head, _, tail = _split_signature(openssl_sign(ca, ca.site, RECORDS))
    message = head + base64.encodebytes(signature) + tail
    assert openssl_verify(ca, message) == RECORDS.replace(b"\n", b"\r\n")

    for _ in range(2):  # BER never becomes a template
        assert verify(message, str(ca.capath)) == (RECORDS, signer_dn(ca.site.cert))


def test_ber_is_re_encoded_as_the_der_openssl_makes_of_it(ca, tmp_path):
    cert, key = ca.files(ca.site)
    streamed = openssl("cms", "-sign", "-stream", "-nodetach", "-text", "-outform", "DER", "-signer", cert,
                       "-inkey", key, input=RECORDS * 200)
    (tmp_path / "ber").write_bytes(streamed)
    reference = openssl("cms", "-cmsout", "-inform", "DER", "-in", tmp_path / "ber", "-outform", "DER")

    assert ber_to_der(streamed) == reference
    assert ber_to_der(reference) == reference  # DER stays as it is


def test_damaged_or_truncated_ber_raises_crypto_error_and_nothing_else(ca):
    message = openssl_sign(ca, ca.site, RECORDS * 20, "-nodetach", "-stream")
    head, body = message.split(b"\n\n", 1)
    ber = base64.b64decode(body)
    rng = random.Random(10)
    for n in range(400):
        damaged = bytearray(ber[:rng.randrange(len(ber))] if n % 2 else ber)
        for _ in range(rng.randint(0 if n % 2 else 1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            payload, dn = verify(head + b"\n\n" + base64.encodebytes(bytes(damaged)), str(ca.capath))
        except CryptoError:
            continue
        assert (payload, dn) == (RECORDS * 20, signer_dn(ca.site.cert))


@pytest.mark.parametrize("bomb, reason", [
    (b"\x30\x80" * 100_000, "nested too deeply"),
    (b"\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0\x80\x24\x80" + b"\x04\x00" * 300_000,
     "too many elements"),
    (b"\x30\x80\x04\x80\x00\x00\x00\x00", "indefinite length on a primitive"),
    (b"\x30\x80\x30\x03\x02\x01\x01", "no end-of-contents"),
    (b"\x30\x80\x24\x80\x02\x01\x01\x00\x00\x00\x00", "holds another type"),
], ids=["deep", "many", "primitive", "unended", "mixed string"])
def test_hostile_ber_is_refused_quickly_with_a_reason(ca, bomb, reason):
    message = (b"Content-Type: application/x-pkcs7-mime; smime-type=signed-data\n\n"
               + base64.encodebytes(bomb))
    with pytest.raises(CryptoError, match=reason):
        verify(message, str(ca.capath))
