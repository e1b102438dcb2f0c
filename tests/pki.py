"""A complete throw-away PKI on disk for tests: CAs, host certificates, CRLs, CA dirs.

The certificate machinery lives in ``apeltools.demo.pki`` (the demo uses it
too); this module only lays out the cast the tests need.
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from apeltools.demo.pki import Identity, make_ca, make_crl, make_host, subject_hash, write_ca_dir

__all__ = ["TestPKI", "build", "Identity", "make_ca", "make_crl", "make_host", "subject_hash", "write_ca_dir"]

SITE_DN = "/C=UK/O=eScience/OU=CLRC/L=RAL/CN=host.example.org"


@dataclass
class TestPKI:
    __test__ = False  # not a pytest test class

    root: Path
    ca: Identity  # the CA the receiver trusts
    intermediate: Identity  # a sub-CA of ``ca``
    site: Identity  # RSA host certificate of a legitimate site, issued by ``ca``
    ec_site: Identity  # EC (P-256) host certificate issued by ``ca``
    sub_site: Identity  # host certificate issued by ``intermediate``
    other_site: Identity  # another legitimate site
    expired: Identity  # issued by ``ca``, expired yesterday
    revoked: Identity  # issued by ``ca``, listed on its CRL
    rogue_ca: Identity  # a CA nobody trusts
    rogue: Identity  # host certificate from the rogue CA, with the site's DN
    capath: Path  # hashed directory with ``ca`` and its CRL
    crl_dir: Path  # hashed directory with the CRLs of ``ca`` and ``intermediate``
    rogue_capath: Path  # hashed directory trusting only ``rogue_ca``

    def files(self, identity: Identity) -> tuple[str, str]:
        """Certificate and key file paths of an identity (written on first use)."""
        stem = subject_hash(identity.cert.subject) + f"-{identity.cert.serial_number:x}"[:12]
        cert, key = self.root / f"{stem}.crt", self.root / f"{stem}.key"
        if not cert.exists():
            identity.write(self.root, stem)
        return str(cert), str(key)


def build(root) -> TestPKI:
    root = Path(root)
    now = dt.datetime.now(dt.timezone.utc)
    ca = make_ca("/C=UK/O=eScience/OU=Authority/CN=UK e-Science Test CA")
    intermediate = make_ca("/C=UK/O=eScience/OU=Authority/CN=UK e-Science Sub CA", issuer=ca)
    revoked = make_host(ca, "revoked.example.org")
    rogue_ca = make_ca("/C=XX/O=Rogue/CN=Rogue CA")
    ca_crl = make_crl(ca, [revoked])
    sub_crl = make_crl(intermediate)
    pki = TestPKI(
        root=root,
        ca=ca,
        intermediate=intermediate,
        site=make_host(ca, "host.example.org", dn=SITE_DN),
        ec_site=make_host(ca, "ec.example.org", kind="ec"),
        sub_site=make_host(intermediate, "sub.example.org"),
        other_site=make_host(ca, "other.example.org"),
        expired=make_host(ca, "expired.example.org", not_before=now - dt.timedelta(days=400),
                          not_after=now - dt.timedelta(days=1)),
        revoked=revoked,
        rogue_ca=rogue_ca,
        rogue=make_host(rogue_ca, "host.example.org", dn=SITE_DN),
        capath=write_ca_dir(root / "capath", [ca], [ca_crl]),
        crl_dir=write_ca_dir(root / "crls", [], [ca_crl, sub_crl]),
        rogue_capath=write_ca_dir(root / "rogue-capath", [rogue_ca]),
    )
    return pki
