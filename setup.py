"""Packaging for apeltools: the library, every program as a console script, and the SQL schema."""

import glob
import os
import runpy

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = runpy.run_path(os.path.join(HERE, "apeltools", "cli", "programs.py"))["CONSOLE_SCRIPTS"]

setup(
    name="apeltools",
    version="0.1.0",
    description="Grid accounting programs, wire-compatible with the deployed APEL infrastructure",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["apeltools", "apeltools.*"]) + ["apeltools.sql"],
    # The schema files live at the top of the source tree (sql/) and install inside the package.
    package_dir={"apeltools.sql": "sql"},
    # The man pages (man/generate.py), under the prefix the programs go to, where man looks for them.
    data_files=[("share/man/man1", sorted(glob.glob("man/*.1", root_dir=HERE)))],
    package_data={"apeltools.sql": ["mysql/*.sql", "sqlite/*.sql"],
                  "apeltools": ["py.typed", "reports/templates/*.html"]},
    install_requires=[
        "click>=8.1",
        "stomp.py>=8.1",
        "dirq>=1.8",
        # 9.x: its C extension loads on Debian 12 (26.x needs OpenSSL 3.2 and silently
        # falls back to pure Python, several times slower).
        "mysql-connector-python>=8.0,<26",
        "ldap3>=2.9",
        "jinja2>=3.1",
        "cryptography>=42",
        "nagiosplugin>=1.3",
        "defusedxml>=0.7",
        # Progress bars that log lines print above, and tables for people (apel-query).
        "rich>=13",
        # The AMS transport's HTTP client (connection reuse, Retry-After; see messaging/ams.py).
        "urllib3>=1.26",
        # apel-report serve: the web view and its production WSGI server.
        "flask>=2.3",
        "gunicorn>=21",
    ],
    extras_require={"test": ["pytest>=7", "click-man>=0.4", "jsonschema>=4", "argo-ams-library>=1.0",
                             "pm4py>=2.7", "lxml>=4", "aiosmtpd>=1.4", "html5lib>=1.1", "Pillow>=9",
                             # tests/test_types.py type-checks the modules mypy.ini lists.
                             "mypy>=1.8"]},
    entry_points={
        "console_scripts": [f"{name} = {target}" for name, target in PROGRAMS.items()],
        # Log parsers; a site package adds its own batch system to this group.
        "apeltools.parsers": [
            "blah = apeltools.parsers.blah:BlahParser",
            "slurm = apeltools.parsers.slurm:SlurmParser",
            "pbs = apeltools.parsers.pbs:PBSParser",
            "sge = apeltools.parsers.sge:SGEParser",
            "lsf = apeltools.parsers.lsf:LSFParser",
            "htcondor = apeltools.parsers.htcondor:HTCondorParser",
        ],
    },
)
