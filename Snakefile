from pathlib import Path

from snakemake.utils import min_version, validate

min_version("8.0")


# The defaults live beside this file; a --configfile (e.g. .test/config/config.yaml) is merged over them.
configfile: Path(workflow.basedir) / "config" / "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/mhn.smk"
include: "workflow/rules/cdam.smk"
include: "workflow/rules/savin.smk"
include: "workflow/rules/khm.smk"
include: "workflow/rules/capacity.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        ALL_DATA,
        result_files(),
        "results/replication_report.md",
