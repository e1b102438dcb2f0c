"""Where distinguished names are written as OpenSSL and the DN lists write them."""

from __future__ import annotations

import functools

from cryptography import x509
from cryptography.x509.oid import NameOID

from apeltools.errors import CryptoError
from apeltools.messaging.crypto.certs import load_cert

__all__ = ["signer_dn", "cached_signer_dn", "slash_dn"]


# The short names OpenSSL prints (obj_dat.h); anything else is shown as a dotted OID.
_OPENSSL_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.USER_ID: "UID",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.TITLE: "title",
    NameOID.INITIALS: "initials",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    x509.ObjectIdentifier("2.5.4.41"): "name",
    x509.ObjectIdentifier("2.5.4.13"): "description",
}


def signer_dn(cert: x509.Certificate | bytes, rfc4514: bool = False) -> str:
    """A certificate's subject as OpenSSL's slash form, ``/C=UK/O=eScience/CN=host``.

    ``cert`` is an x509.Certificate or PEM bytes.  Attributes keep the
    certificate's order and OpenSSL's short names (the form DN lists use);
    a multi-valued RDN is joined with ``+``.  Values are returned as text, not
    escaped.  With ``rfc4514=True`` the RFC 4514 string is returned instead
    (reversed order, ``CN=host,O=eScience,C=UK``).
    """
    if isinstance(cert, (bytes, bytearray)):
        cert = load_cert(bytes(cert))
    try:
        if rfc4514:
            return cert.subject.rfc4514_string(_OPENSSL_NAMES)
        return slash_dn(cert.subject)
    except ValueError as e:  # a malformed attribute value
        raise CryptoError(f"cannot read certificate subject: {e}") from None


@functools.lru_cache(maxsize=256)
def cached_signer_dn(cert: x509.Certificate) -> str:
    """:func:`signer_dn` of a certificate object, cached: a receiver sees the same few signers."""
    return signer_dn(cert)


def slash_dn(name: x509.Name) -> str:
    """An x509 Name in OpenSSL's slash form."""
    return "".join(
        "/" + "+".join(f"{_OPENSSL_NAMES.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in rdn)
        for rdn in name.rdns
    )
