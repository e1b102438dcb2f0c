"""``apel-join``: turn parsed batch and blah records, with each CE's benchmark, into job records."""

import click

from apeltools import joiner
from apeltools.cli.common import command
from apeltools.db.schema import require_schema
from apeltools.records.fields import format_time


@command(
    "apel-join",
    epilog="""\b
Examples:
  apel-join --db sqlite:///var/lib/apeltools/site.db --site UKI-EXAMPLE
  apel-join --local-jobs --local-submit-host batch.example.org
  apel-join --bdii ldap://site-bdii.example.org:2170 --unjoined > unjoined.tsv
""",
)
@click.option("--db", "db_url", metavar="URL", help="Site database URL [default: [db] of the configuration].")
@click.option("--site", "site_name", metavar="NAME",
              help="Site name of the job records [default: [site_info] site_name].")
@click.option("--local-jobs/--no-local-jobs", default=None,
              help="Make batch records that no blah record claims local job records "
                   "[default: [joiner] local_jobs, else no].")
@click.option("--local-submit-host", metavar="HOST",
              help="SubmitHost of local jobs, and the CE name of their benchmark "
                   "[default: [joiner] local_submit_host, else this host's name].")
@click.option("--ce-type", metavar="TYPE",
              help="CE type in InfrastructureDescription, e.g. CREAM or HTCONDORCE "
                   "[default: [joiner] ce_type, else guessed from each CE id].")
@click.option("--bdii", "bdii_url", metavar="URL",
              help="Site BDII to read benchmarks from [default: [spec_updater] ldap_host/ldap_port].")
@click.option("--no-bdii", is_flag=True, help="Do not ask a BDII; use configured and known benchmarks.")
@click.option("--chunk", type=click.IntRange(min=1), metavar="N",
              help="Batch records joined, and their jobs written, per transaction; lower it to stay "
                   "under a Galera cluster's wsrep_max_ws_rows/size [default: [joiner] chunk, else 20000].")
@click.option("--unjoined", "list_unjoined", is_flag=True,
              help="Then print every batch record that is not joined, with the reason, as TSV on stdout.")
def main(ctx, db_url, site_name, local_jobs, local_submit_host, ce_type, bdii_url, no_bdii, chunk, list_unjoined):
    """Join batch records with blah records and benchmarks into job records.

    Reads the keys of the existing client.cfg: [spec_updater] site_name,
    enabled, ldap_host, ldap_port, manual_specN, and for local jobs
    lrms_server, spec_type and spec_value; [joiner] local_jobs.

    A batch record joins the blah record with the same batch job id whose
    window (from one day before to 28 days after the blah timestamp) holds the
    job's end, and takes the benchmark its CE had at that moment (from
    [spec_updater] manual_spec entries or the site BDII, kept as a history).
    The job records go to the database's JobRecords, for apel-summarise and
    apel-publish.

    Only batch records not joined before are read. Those that cannot be
    joined are reported with the reason (no blah record, blah record outside
    its window, no benchmark for the CE, an end more than 2 days ahead) and
    kept: they join on a later run once their blah record, benchmark or
    time is there. A record that can never be a job (it ends before it
    starts) is reported once and set aside; it is still listed by
    --unjoined. One apel-join runs at a time per database; a second one
    exits with an error.
    """
    settings = joiner.JoinSettings.from_config(ctx.config, site_name, local_jobs, local_submit_host, ce_type,
                                               bdii_url, no_bdii, chunk)
    with ctx.database(db_url) as db:
        require_schema(db)
        joiner.run(db, settings)
        if list_unjoined:
            for system, job_id, lrms_id, end, reason in joiner.unjoined(db):
                click.echo(f"{system}\t{job_id}\t{lrms_id}\t{format_time(end)}\t{reason}")


if __name__ == "__main__":
    main()
