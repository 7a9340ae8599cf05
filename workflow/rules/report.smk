# The table of verdicts, built last.


rule replication_report:
    input:
        result_metadata(),
    output:
        report(
            "results/replication_report.md",
            caption="../report/replication_report.rst",
            category="Replication report",
        ),
    log:
        "logs/replication_report.log",
    conda:
        "../envs/assocmem.yaml"
    script:
        "../scripts/replication_report.py"
