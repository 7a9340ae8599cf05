# Hu, Wu & Liu 2024 (NeurIPS): kernelized Hopfield models, U-Hop+ and spherical codes.

RESULT_TARGETS.append(("khm", "fig_spherical_code_bounds"))


rule fig_spherical_code_bounds:
    output:
        png=report(
            "results/khm/fig_spherical_code_bounds.png",
            caption="../report/fig_spherical_code_bounds.rst",
            category="Hu, Wu & Liu 2024 (KHM, U-Hop+)",
        ),
        pdf="results/khm/fig_spherical_code_bounds.pdf",
        csv="results/khm/fig_spherical_code_bounds.csv",
        json="results/khm/fig_spherical_code_bounds.json",
    log:
        "logs/khm/fig_spherical_code_bounds.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("khm_spherical_codes"),
    script:
        "../scripts/khm_spherical_codes.py"


RESULT_TARGETS.append(("khm", "fig_capacity_vs_feature_dim"))


rule fig_capacity_vs_feature_dim:
    input:
        data="resources/data/mnist.pt",
    output:
        png=report(
            "results/khm/fig_capacity_vs_feature_dim.png",
            caption="../report/fig_capacity_vs_feature_dim.rst",
            category="Hu, Wu & Liu 2024 (KHM, U-Hop+)",
        ),
        pdf="results/khm/fig_capacity_vs_feature_dim.pdf",
        csv="results/khm/fig_capacity_vs_feature_dim.csv",
        json="results/khm/fig_capacity_vs_feature_dim.json",
    log:
        "logs/khm/fig_capacity_vs_feature_dim.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("khm_capacity"),
    script:
        "../scripts/khm_capacity.py"


RESULT_TARGETS.append(("khm", "tab_metastable_states"))


rule tab_metastable_states:
    input:
        data="resources/data/mnist.pt",
    output:
        png=report(
            "results/khm/tab_metastable_states.png",
            caption="../report/tab_metastable_states.rst",
            category="Hu, Wu & Liu 2024 (KHM, U-Hop+)",
        ),
        pdf="results/khm/tab_metastable_states.pdf",
        csv="results/khm/tab_metastable_states.csv",
        json="results/khm/tab_metastable_states.json",
    log:
        "logs/khm/tab_metastable_states.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("khm_metastable"),
    script:
        "../scripts/khm_metastable.py"


RESULT_TARGETS.append(("khm", "fig_energy_landscapes"))


rule fig_energy_landscapes:
    output:
        png=report(
            "results/khm/fig_energy_landscapes.png",
            caption="../report/fig_energy_landscapes.rst",
            category="Hu, Wu & Liu 2024 (KHM, U-Hop+)",
        ),
        pdf="results/khm/fig_energy_landscapes.pdf",
        csv="results/khm/fig_energy_landscapes.csv",
        json="results/khm/fig_energy_landscapes.json",
    log:
        "logs/khm/fig_energy_landscapes.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("khm_energy_landscapes"),
    script:
        "../scripts/khm_energy_landscapes.py"


RESULT_TARGETS.append(("khm", "fig_basins"))


rule fig_basins:
    output:
        png=report(
            "results/khm/fig_basins.png",
            caption="../report/fig_basins.rst",
            category="Hu, Wu & Liu 2024 (KHM, U-Hop+)",
        ),
        pdf="results/khm/fig_basins.pdf",
        csv="results/khm/fig_basins.csv",
        json="results/khm/fig_basins.json",
    log:
        "logs/khm/fig_basins.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("khm_basins"),
    script:
        "../scripts/khm_basins.py"
