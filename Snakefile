from pathlib import Path

from snakemake.utils import min_version

from assocmem import config as am_config

min_version("8.0")


# The defaults live beside this file; a --configfile (e.g. .test/config/config.yaml) is merged over them.
configfile: Path(workflow.basedir) / "config" / "config.yaml"


# ASSOCMEM_DEVICE / ASSOCMEM_DTYPE apply unless --config sets the same key (command line > environment > files).
config.update(
    am_config.apply_environment(config, workflow.config_settings.overwrite_config)
)
# The package's own validation lists every error, one line each (the schema ships inside the package).
am_config.validate(config)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        ALL_DATA,
        result_files(),
        "results/replication_report.md",
